"""The Glue catalog API through boto3."""

import pytest
from botocore.exceptions import ClientError

from conftest import unique


def table_input(name, columns=(("id", "int"),), partition_keys=()):
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "csv", "custom": "kept"},
        "PartitionKeys": [{"Name": n, "Type": t} for n, t in partition_keys],
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in columns],
            "Location": f"s3://somewhere/{name}/",
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                          "Parameters": {"field.delim": ","}},
        },
    }


@pytest.fixture
def db(glue):
    name = unique("gluedb").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": name, "Description": "first", "Parameters": {"k": "v"}})
    return name


def test_databases(glue, db):
    got = glue.get_database(Name=db)["Database"]
    assert (got["Name"], got["Description"], got["Parameters"]) == (db, "first", {"k": "v"})
    assert "CreateTime" in got
    assert db in [d["Name"] for d in glue.get_databases()["DatabaseList"]]
    glue.update_database(Name=db, DatabaseInput={"Name": db, "Description": "second"})
    assert glue.get_database(Name=db)["Database"]["Description"] == "second"
    glue.create_table(DatabaseName=db, TableInput=table_input("inside"))
    glue.delete_database(Name=db)
    with pytest.raises(ClientError) as e:
        glue.get_database(Name=db)
    assert e.value.response["Error"]["Code"] == "EntityNotFoundException"
    # Its tables went with it.
    glue.create_database(DatabaseInput={"Name": db})
    assert glue.get_tables(DatabaseName=db)["TableList"] == []


def test_tables_and_expressions(glue, db):
    for name in ("orders", "order_items", "customers"):
        glue.create_table(DatabaseName=db, TableInput=table_input(name))
    t = glue.get_table(DatabaseName=db, Name="ORDERS")["Table"]
    assert t["Name"] == "orders" and t["DatabaseName"] == db
    assert t["Parameters"]["custom"] == "kept"
    assert t["StorageDescriptor"]["SerdeInfo"]["Parameters"] == {"field.delim": ","}
    names = lambda expr: sorted(x["Name"] for x in glue.get_tables(DatabaseName=db, Expression=expr)["TableList"])
    assert names("*order*") == ["order_items", "orders"]
    assert names("cust*") == ["customers"]
    assert names("orders|customers") == ["customers", "orders"]
    pages = glue.get_paginator("get_tables").paginate(DatabaseName=db, PaginationConfig={"PageSize": 2})
    assert sorted(x["Name"] for p in pages for x in p["TableList"]) == ["customers", "order_items", "orders"]
    updated = table_input("orders", columns=(("id", "int"), ("total", "double")))
    glue.update_table(DatabaseName=db, TableInput=updated)
    cols = glue.get_table(DatabaseName=db, Name="orders")["Table"]["StorageDescriptor"]["Columns"]
    assert [c["Name"] for c in cols] == ["id", "total"]
    result = glue.batch_delete_table(DatabaseName=db, TablesToDelete=["order_items", "ghost"])
    assert [e["TableName"] for e in result["Errors"]] == ["ghost"]
    assert result["Errors"][0]["ErrorDetail"]["ErrorCode"] == "EntityNotFoundException"
    glue.delete_table(DatabaseName=db, Name="customers")
    assert names("*") == ["orders"]
    with pytest.raises(ClientError) as e:
        glue.delete_table(DatabaseName=db, Name="customers")
    assert e.value.response["Error"]["Code"] == "EntityNotFoundException"


def test_partitions(glue, db):
    glue.create_table(DatabaseName=db, TableInput=table_input("events", partition_keys=(("dt", "string"),)))
    def part(v):
        return {"Values": [v], "StorageDescriptor": {"Location": f"s3://somewhere/events/dt={v}/"}}
    result = glue.batch_create_partition(DatabaseName=db, TableName="events",
                                         PartitionInputList=[part("2024-01-01"), part("2024-01-02")])
    assert result["Errors"] == []
    again = glue.batch_create_partition(DatabaseName=db, TableName="events", PartitionInputList=[part("2024-01-01"), part("2024-01-03")])
    assert [e["PartitionValues"] for e in again["Errors"]] == [["2024-01-01"]]
    assert again["Errors"][0]["ErrorDetail"]["ErrorCode"] == "AlreadyExistsException"
    got = glue.get_partitions(DatabaseName=db, TableName="events")["Partitions"]
    assert [p["Values"] for p in got] == [["2024-01-01"], ["2024-01-02"], ["2024-01-03"]]
    assert got[0]["StorageDescriptor"]["Location"] == "s3://somewhere/events/dt=2024-01-01/"
    deleted = glue.batch_delete_partition(DatabaseName=db, TableName="events",
                                          PartitionsToDelete=[{"Values": ["2024-01-02"]}, {"Values": ["1999-01-01"]}])
    assert [e["PartitionValues"] for e in deleted["Errors"]] == [["1999-01-01"]]
    assert len(glue.get_partitions(DatabaseName=db, TableName="events")["Partitions"]) == 2
    with pytest.raises(ClientError) as e:
        glue.get_partitions(DatabaseName=db, TableName="nope")
    assert e.value.response["Error"]["Code"] == "EntityNotFoundException"

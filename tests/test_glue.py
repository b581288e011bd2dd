"""The Glue catalog API through boto3."""

import json

import botocore.auth
import pytest
import urllib3
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, SECRET_KEY, unique

pytestmark = pytest.mark.core


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


def test_a_new_catalog_has_the_default_database_until_it_is_deleted(own_server):
    """As an AWS account's catalog has one: awswrangler's CTAS puts its temporary table there."""
    import awswrangler as wr
    import boto3
    glue = own_server.client("glue")
    default = glue.get_database(Name="default")["Database"]
    assert (default["Name"], default["Description"]) == ("default", "Default Hive database")
    session = boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION)
    services = ("s3", "athena", "glue", "sts")
    before = {s: getattr(wr.config, f"{s}_endpoint_url") for s in services}
    for service in services:
        setattr(wr.config, f"{service}_endpoint_url", own_server.url)
    try:
        own_server.client("s3").create_bucket(Bucket="wr-results")
        df = wr.athena.read_sql_query("SELECT 1 AS one, 'x' AS s", database="default", ctas_approach=True,
                                      s3_output="s3://wr-results/ctas/", boto3_session=session)
        assert df.to_dict("records") == [{"one": 1, "s": "x"}]
    finally:
        for service, url in before.items():
            setattr(wr.config, f"{service}_endpoint_url", url)
    # Deleted, it stays deleted, across restarts too.
    glue.delete_database(Name="default")
    own_server.stop()
    own_server.start()
    with pytest.raises(ClientError) as e:
        own_server.client("glue").get_database(Name="default")
    assert e.value.response["Error"]["Code"] == "EntityNotFoundException"


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


def test_table_versions_and_search(glue, db):
    glue.create_table(DatabaseName=db, TableInput=table_input("history", columns=(("a", "int"),)))
    assert glue.get_table(DatabaseName=db, Name="history")["Table"]["VersionId"] == "0"
    glue.update_table(DatabaseName=db, TableInput=table_input("history", columns=(("a", "int"), ("b", "string"))))
    glue.update_table(DatabaseName=db, TableInput=table_input("history", columns=(("a", "bigint"), ("b", "string"))))
    glue.update_table(DatabaseName=db, TableInput=table_input("history", columns=(("a", "bigint"),)), SkipArchive=True)
    versions = glue.get_table_versions(DatabaseName=db, TableName="history")["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["3", "1", "0"]
    assert [c["Type"] for c in versions[-1]["Table"]["StorageDescriptor"]["Columns"]] == ["int"]
    one = glue.get_table_version(DatabaseName=db, TableName="history", VersionId="1")["TableVersion"]
    assert [c["Name"] for c in one["Table"]["StorageDescriptor"]["Columns"]] == ["a", "b"]
    # An update against a stale version is refused.
    with pytest.raises(ClientError) as e:
        glue.update_table(DatabaseName=db, TableInput=table_input("history"), VersionId="1")
    assert e.value.response["Error"]["Code"] == "ConcurrentModificationException"
    result = glue.batch_delete_table_version(DatabaseName=db, TableName="history", VersionIds=["0", "3", "42"])
    assert sorted(e["VersionId"] for e in result["Errors"]) == ["3", "42"]
    assert [v["VersionId"] for v in glue.get_table_versions(DatabaseName=db, TableName="history")["TableVersions"]] == ["3", "1"]

    glue.create_table(DatabaseName=db, TableInput={**table_input("clicks"), "Description": "web clickstream", "Parameters": {"team": "growth"}})
    found = glue.search_tables(SearchText="clickstream")["TableList"]
    assert [(t["DatabaseName"], t["Name"]) for t in found] == [(db, "clicks")]
    found = glue.search_tables(Filters=[{"Key": "DatabaseName", "Value": db}, {"Key": "team", "Value": "growth"}])["TableList"]
    assert [t["Name"] for t in found] == ["clicks"]
    found = glue.search_tables(Filters=[{"Key": "DatabaseName", "Value": db}], SortCriteria=[{"FieldName": "Name", "Sort": "DESC"}])
    assert [t["Name"] for t in found["TableList"]] == ["history", "clicks"]


def test_partition_filters_segments_and_updates(glue, db):
    glue.create_table(DatabaseName=db, TableInput=table_input("sales", partition_keys=(("year", "string"), ("month", "int"))))
    values = [(str(y), str(m)) for y in (2023, 2024) for m in range(1, 13)]
    for i in range(0, len(values), 10):
        batch = [{"Values": list(v), "StorageDescriptor": {"Location": f"s3://somewhere/sales/year={v[0]}/month={v[1]}/"}} for v in values[i:i + 10]]
        assert glue.batch_create_partition(DatabaseName=db, TableName="sales", PartitionInputList=batch)["Errors"] == []

    def parts(expression=None, **kw):
        args = {"DatabaseName": db, "TableName": "sales", **kw}
        if expression:
            args["Expression"] = expression
        pages = glue.get_paginator("get_partitions").paginate(**args, PaginationConfig={"PageSize": 5})
        return [tuple(p["Values"]) for page in pages for p in page["Partitions"]]

    assert len(parts()) == 24
    assert parts("year = '2024' AND month > 9") == [("2024", "10"), ("2024", "11"), ("2024", "12")]
    assert len(parts("month BETWEEN 3 AND 5")) == 6
    assert parts("year IN ('2023') AND month IN (1, 2)") == [("2023", "1"), ("2023", "2")]
    assert len(parts("year LIKE '202%' AND NOT month >= 2")) == 2
    with pytest.raises(ClientError) as e:
        parts("colour = 'red'")
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    # Segments split the partitions into disjoint parts that cover them all.
    segments = [parts(Segment={"SegmentNumber": i, "TotalSegments": 3}) for i in range(3)]
    assert sorted(v for s in segments for v in s) == sorted(parts()) and all(segments)
    no_columns = glue.get_partitions(DatabaseName=db, TableName="sales", ExcludeColumnSchema=True, MaxResults=1)["Partitions"][0]
    assert "Columns" not in no_columns["StorageDescriptor"]

    got = glue.batch_get_partition(DatabaseName=db, TableName="sales",
                                   PartitionsToGet=[{"Values": ["2024", "1"]}, {"Values": ["1999", "1"]}])
    assert [p["Values"] for p in got["Partitions"]] == [["2024", "1"]]
    glue.update_partition(DatabaseName=db, TableName="sales", PartitionValueList=["2024", "1"],
                          PartitionInput={"Values": ["2024", "1"], "Parameters": {"checked": "yes"},
                                          "StorageDescriptor": {"Location": "s3://elsewhere/2024/1/"}})
    p = glue.get_partition(DatabaseName=db, TableName="sales", PartitionValues=["2024", "1"])["Partition"]
    assert p["Parameters"] == {"checked": "yes"} and p["StorageDescriptor"]["Location"] == "s3://elsewhere/2024/1/"
    result = glue.batch_update_partition(DatabaseName=db, TableName="sales", Entries=[
        {"PartitionValueList": ["2024", "2"], "PartitionInput": {"Values": ["2024", "13"]}},
        {"PartitionValueList": ["1999", "1"], "PartitionInput": {"Values": ["1999", "1"]}},
    ])
    assert [e["PartitionValueList"] for e in result["Errors"]] == [["1999", "1"]]
    assert ("2024", "13") in parts() and ("2024", "2") not in parts()


def test_invalid_input_changes_nothing(server, db):
    # Without botocore's own checks, so that the server is the one that refuses.
    glue = server.client("glue", parameter_validation=False)
    bad_tables = [
        {"Name": ""},
        {"Name": "x" * 256},
        {"Name": "multi\nline"},
        {**table_input("dup_cols", columns=(("a", "int"), ("A", "string")))},
        {**table_input("long_desc"), "Description": "d" * 2049},
        {**table_input("huge_param"), "Parameters": {"k": "v" * 512_001}},
    ]
    for t in bad_tables:
        with pytest.raises(ClientError) as e:
            glue.create_table(DatabaseName=db, TableInput=t)
        assert e.value.response["Error"]["Code"] == "InvalidInputException", t.get("Name")
    with pytest.raises(ClientError) as e:
        glue.create_table(DatabaseName=db, TableInput={"StorageDescriptor": {}})
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        glue.create_database(DatabaseInput={"Description": "no name"})
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    assert glue.get_tables(DatabaseName=db)["TableList"] == []
    glue.create_table(DatabaseName=db, TableInput=table_input("p", partition_keys=(("dt", "string"),)))
    result = glue.batch_create_partition(DatabaseName=db, TableName="p", PartitionInputList=[
        {"Values": ["ok"]}, {"Values": ["too", "many"]}, {"Values": ["v" * 1025]}])
    assert len(result["Errors"]) == 2
    assert [p["Values"] for p in glue.get_partitions(DatabaseName=db, TableName="p")["Partitions"]] == [["ok"]]

    # Invalid updates leave the records as they were.
    table_before = glue.get_table(DatabaseName=db, Name="p")["Table"]
    partition_before = glue.get_partition(DatabaseName=db, TableName="p", PartitionValues=["ok"])["Partition"]
    database_before = glue.get_database(Name=db)["Database"]
    for call in (
        lambda: glue.update_table(DatabaseName=db, TableInput={**table_input("p"), "Description": "d" * 2049}),
        lambda: glue.update_table(DatabaseName=db, TableInput={**table_input("p", columns=(("a", "int"), ("A", "string")))}),
        lambda: glue.update_partition(DatabaseName=db, TableName="p", PartitionValueList=["ok"], PartitionInput={"Values": ["a", "b"]}),
        lambda: glue.update_database(Name=db, DatabaseInput={"Name": db, "Description": "d" * 2049}),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "InvalidInputException"
    result = glue.batch_update_partition(DatabaseName=db, TableName="p", Entries=[
        {"PartitionValueList": ["ok"], "PartitionInput": {"Values": ["ok"], "Parameters": {"k": "v" * 512_001}}}])
    assert len(result["Errors"]) == 1
    assert glue.get_table(DatabaseName=db, Name="p")["Table"] == table_before
    assert glue.get_partition(DatabaseName=db, TableName="p", PartitionValues=["ok"])["Partition"] == partition_before
    assert glue.get_database(Name=db)["Database"] == database_before


def test_single_partition_create_and_delete(glue, db):
    glue.create_table(DatabaseName=db, TableInput=table_input("single", partition_keys=(("dt", "string"),)))
    one = {"Values": ["2024-01-01"], "Parameters": {"source": "manual"},
           "StorageDescriptor": {"Location": "s3://somewhere/single/dt=2024-01-01/"}}
    glue.create_partition(DatabaseName=db, TableName="single", PartitionInput=one)
    p = glue.get_partition(DatabaseName=db, TableName="single", PartitionValues=["2024-01-01"])["Partition"]
    assert (p["Values"], p["DatabaseName"], p["TableName"]) == (["2024-01-01"], db, "single")
    assert p["Parameters"] == {"source": "manual"} and p["StorageDescriptor"]["Location"] == one["StorageDescriptor"]["Location"]
    assert "CreationTime" in p
    with pytest.raises(ClientError) as e:
        glue.create_partition(DatabaseName=db, TableName="single", PartitionInput={**one, "Parameters": {"source": "again"}})
    assert e.value.response["Error"]["Code"] == "AlreadyExistsException"
    assert glue.get_partition(DatabaseName=db, TableName="single", PartitionValues=["2024-01-01"])["Partition"]["Parameters"] == {"source": "manual"}
    with pytest.raises(ClientError) as e:
        glue.create_partition(DatabaseName=db, TableName="ghost", PartitionInput=one)
    assert e.value.response["Error"]["Code"] == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.create_partition(DatabaseName=db, TableName="single", PartitionInput={"Values": ["2024", "01"]})
    assert e.value.response["Error"]["Code"] == "InvalidInputException"

    glue.delete_partition(DatabaseName=db, TableName="single", PartitionValues=["2024-01-01"])
    with pytest.raises(ClientError) as e:
        glue.get_partition(DatabaseName=db, TableName="single", PartitionValues=["2024-01-01"])
    assert e.value.response["Error"]["Code"] == "EntityNotFoundException"
    for table in ("single", "ghost"):
        with pytest.raises(ClientError) as e:
            glue.delete_partition(DatabaseName=db, TableName=table, PartitionValues=["2024-01-01"])
        assert e.value.response["Error"]["Code"] == "EntityNotFoundException", table
    assert glue.get_partitions(DatabaseName=db, TableName="single")["Partitions"] == []


def pages_of(call, member, **kw):
    """Walks a Glue list call page by page, following NextToken; the items of each page."""
    pages, token = [], None
    while True:
        reply = call(**kw, **({"NextToken": token} if token else {}))
        pages.append(reply[member])
        token = reply.get("NextToken")
        if not token:
            return pages
        assert len(pages) < 1000, "NextToken never ends"


def assert_pages(pages, size, keys, mine):
    """Pages of at most `size` items, disjoint, and together holding every item of `mine`."""
    assert all(len(p) <= size for p in pages) and all(pages[:-1])
    names = [key for p in pages for key in keys(p)]
    assert len(names) == len(set(names)), "a NextToken page repeats an item"
    assert set(mine) <= set(names), "a NextToken page lost an item"
    return names


def test_next_token_paging(server, glue, db):
    # GetDatabases: every database exactly once, pages of MaxResults.
    made = [f"{db}_p{i}" for i in range(5)]
    for name in made:
        glue.create_database(DatabaseInput={"Name": name})
    pages = pages_of(glue.get_databases, "DatabaseList", MaxResults=2)
    names = assert_pages(pages, 2, lambda p: [d["Name"] for d in p], made + [db])
    everything = [d["Name"] for page in glue.get_paginator("get_databases").paginate() for d in page["DatabaseList"]]
    assert sorted(names) == sorted(everything) and len(pages) >= 3

    # SearchTables within one database.
    tables = [f"t{i}" for i in range(7)]
    for t in tables:
        glue.create_table(DatabaseName=db, TableInput=table_input(t))
    pages = pages_of(glue.search_tables, "TableList", MaxResults=3, Filters=[{"Key": "DatabaseName", "Value": db}])
    assert sorted(assert_pages(pages, 3, lambda p: [t["Name"] for t in p], tables)) == tables
    assert len(pages) == 3

    # GetTables and GetPartitions.
    pages = pages_of(glue.get_tables, "TableList", DatabaseName=db, MaxResults=3)
    assert sorted(assert_pages(pages, 3, lambda p: [t["Name"] for t in p], tables)) == tables
    assert len(pages) == 3
    glue.create_table(DatabaseName=db, TableInput=table_input("paged", partition_keys=(("dt", "string"),)))
    values = [f"2024-01-{d:02}" for d in range(1, 8)]
    glue.batch_create_partition(DatabaseName=db, TableName="paged", PartitionInputList=[{"Values": [v]} for v in values])
    pages = pages_of(glue.get_partitions, "Partitions", DatabaseName=db, TableName="paged", MaxResults=2)
    assert sorted(assert_pages(pages, 2, lambda p: [x["Values"][0] for x in p], values)) == values
    assert len(pages) == 4

    # GetTableVersions: newest first across pages.
    for i in range(4):
        glue.update_table(DatabaseName=db, TableInput=table_input("t0", columns=(("id", "int"), (f"c{i}", "string"))))
    pages = pages_of(glue.get_table_versions, "TableVersions", DatabaseName=db, TableName="t0", MaxResults=2)
    ids = assert_pages(pages, 2, lambda p: [v["VersionId"] for v in p], ["0", "1", "2", "3", "4"])
    assert ids == ["4", "3", "2", "1", "0"] and len(pages) == 3

    # Crawlers: GetCrawlers, ListCrawlers, GetCrawlerMetrics.
    crawlers = [f"{db}-crawler-{i}" for i in range(5)]
    for name in crawlers:
        glue.create_crawler(Name=name, Role="arn:aws:iam::000000000000:role/glue", DatabaseName=db,
                            Targets={"S3Targets": [{"Path": "s3://somewhere/data/"}]})
    every_crawler = [c["Name"] for page in glue.get_paginator("get_crawlers").paginate() for c in page["Crawlers"]]
    pages = pages_of(glue.get_crawlers, "Crawlers", MaxResults=2)
    assert sorted(assert_pages(pages, 2, lambda p: [c["Name"] for c in p], crawlers)) == sorted(every_crawler)
    pages = pages_of(glue.list_crawlers, "CrawlerNames", MaxResults=2)
    assert sorted(assert_pages(pages, 2, lambda p: p, crawlers)) == sorted(every_crawler)
    pages = pages_of(glue.get_crawler_metrics, "CrawlerMetricsList", CrawlerNameList=crawlers, MaxResults=2)
    assert assert_pages(pages, 2, lambda p: [m["CrawlerName"] for m in p], crawlers) == crawlers and len(pages) == 3
    for name in crawlers:
        glue.delete_crawler(Name=name)
    for name in made:
        glue.delete_database(Name=name)


def test_bodies_that_are_not_an_operations_input_are_serialization_errors(server):
    """What a client other than an SDK might send: JSON that does not parse, or that is not a
    structure, is a SerializationException (400); an unknown operation is UnknownOperationException."""
    http = urllib3.PoolManager(retries=False, timeout=30)

    def call(service, target, body):
        request = AWSRequest(method="POST", url=server.url + "/", data=body,
                             headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
        botocore.auth.SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION).add_auth(request)
        reply = http.request("POST", request.url, body=body, headers=dict(request.headers))
        return reply.status, json.loads(reply.data)

    for service, target in [("glue", "AWSGlue.GetDatabases"), ("athena", "AmazonAthena.ListWorkGroups")]:
        for body in [b"{not json", b"[1, 2]", b"\"text\"", b"42"]:
            status, error = call(service, target, body)
            assert status == 400 and error["__type"] == "SerializationException", (service, body, error)
        # An empty body and a JSON null are an empty input.
        for body in [b"", b"null", b"{}"]:
            assert call(service, target, body)[0] == 200, (service, body)
    status, error = call("glue", "AWSGlue.NoSuchOperation", b"{}")
    assert status == 400 and error["__type"] == "UnknownOperationException"

"""Iceberg tables through the clients that make them: awswrangler's `to_iceberg` (which creates
the table with Athena's DDL, stages the frame as a Hive table and inserts from it, or merges it
by its merge columns) and `read_sql_query`."""

import pandas as pd

from conftest import unique
from test_athena_sql import session


def test_awswrangler_to_iceberg_and_back(server):
    import awswrangler as wr

    s3, glue = server.client("s3"), server.client("glue")
    bucket = unique("wr-iceberg")
    s3.create_bucket(Bucket=bucket)
    db = unique("wr_ice").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": db})
    boto = session(server)
    first = pd.DataFrame({"id": [1, 2, 3], "kind": ["a", "b", "a"], "price": [1.5, 2.5, None]})
    wr.athena.to_iceberg(first, database=db, table="items", table_location=f"s3://{bucket}/items/", temp_path=f"s3://{bucket}/tmp/",
                         partition_cols=["kind"], boto3_session=boto, s3_output=f"s3://{bucket}/results/")
    table = glue.get_table(DatabaseName=db, Name="items")["Table"]
    assert table["Parameters"]["table_type"].upper() == "ICEBERG"
    wr.athena.to_iceberg(pd.DataFrame({"id": [4], "kind": ["c"], "price": [9.0]}), database=db, table="items", temp_path=f"s3://{bucket}/tmp2/",
                         boto3_session=boto, s3_output=f"s3://{bucket}/results/")
    got = wr.athena.read_sql_query("SELECT id, kind, price FROM items ORDER BY id", database=db, ctas_approach=False, boto3_session=boto,
                                   s3_output=f"s3://{bucket}/results/")
    assert got["id"].tolist() == [1, 2, 3, 4] and got["kind"].tolist() == ["a", "b", "a", "c"]
    assert got["price"].tolist()[:2] == [1.5, 2.5] and pd.isna(got["price"][2])
    # Merged by id: id 2 updated, id 5 inserted.
    wr.athena.to_iceberg(pd.DataFrame({"id": [2, 5], "kind": ["b", "e"], "price": [20.0, 5.0]}), database=db, table="items",
                         temp_path=f"s3://{bucket}/tmp3/", merge_cols=["id"], boto3_session=boto, s3_output=f"s3://{bucket}/results/")
    got = wr.athena.read_sql_query("SELECT id, price FROM items ORDER BY id", database=db, ctas_approach=False, boto3_session=boto,
                                   s3_output=f"s3://{bucket}/results/")
    assert got["id"].tolist() == [1, 2, 3, 4, 5] and got["price"].tolist()[3:] == [9.0, 5.0] and got["price"][1] == 20.0
    # The staging tables awswrangler made are gone again; the Iceberg table has three snapshots.
    assert [t["Name"] for t in glue.get_tables(DatabaseName=db)["TableList"]] == ["items"]
    history = wr.athena.read_sql_query('SELECT count(*) AS n FROM "items$history"', database=db, ctas_approach=False, boto3_session=boto,
                                       s3_output=f"s3://{bucket}/results/")
    assert history["n"].tolist() == [3]

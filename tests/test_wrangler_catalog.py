"""awswrangler's catalog and dataset functions against Minerva, and Athena reads of what they
wrote, with partition pruning: the functions data teams use to build tables from pandas."""

import awswrangler as wr
import boto3
import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, SECRET_KEY, code, unique


@pytest.fixture(scope="module")
def session(server):
    for service in ("s3", "athena", "glue", "sts"):
        setattr(wr.config, f"{service}_endpoint_url", server.url)
    return boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION)


@pytest.fixture
def lake(server, session):
    bucket = unique("wrangler")
    server.client("s3").create_bucket(Bucket=bucket)
    database = unique("wr_db").replace("-", "_")
    wr.catalog.create_database(database, boto3_session=session)
    yield bucket, database
    wr.catalog.delete_database(database, boto3_session=session)


def sales(n=600, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(n, dtype="int64") + seed * 100_000,
        "amount": rng.random(n).round(2),
        "category": rng.choice(["dresses", "knits", "tops"], n),
        "year": rng.choice([2023, 2024], n).astype("int64"),
    })


def query(sql, database, session, ctas=False):
    return wr.athena.read_sql_query(sql, database=database, ctas_approach=ctas, boto3_session=session)


def test_parquet_dataset_modes_and_partition_pruning(server, lake, session):
    bucket, db = lake
    path = f"s3://{bucket}/sales/"
    first = sales(seed=1)
    wr.s3.to_parquet(first, path, dataset=True, database=db, table="sales", partition_cols=["year", "category"],
                     mode="overwrite", boto3_session=session)
    types = wr.catalog.get_table_types(database=db, table="sales", boto3_session=session)
    assert types == {"id": "bigint", "amount": "double", "year": "bigint", "category": "string"}
    assert wr.catalog.get_table_location(database=db, table="sales", boto3_session=session).rstrip("/") == path.rstrip("/")
    partitions = wr.catalog.get_partitions(database=db, table="sales", boto3_session=session)
    assert sorted(tuple(v) for v in partitions.values()) == sorted((str(y), c) for y in (2023, 2024) for c in ("dresses", "knits", "tops"))

    # Append adds rows (and no duplicate partitions); Athena sees all of them.
    second = sales(seed=2)
    wr.s3.to_parquet(second, path, dataset=True, database=db, table="sales", partition_cols=["year", "category"],
                     mode="append", boto3_session=session)
    both = pd.concat([first, second])
    got = query("SELECT category, year, COUNT(*) AS n, SUM(amount) AS total FROM sales GROUP BY 1, 2 ORDER BY 1, 2", db, session)
    want = both.groupby(["category", "year"]).agg(n=("id", "size"), total=("amount", "sum")).reset_index()
    assert got["n"].tolist() == want["n"].tolist()
    assert got["total"].tolist() == pytest.approx(want["total"].tolist())

    # A broken file in a partition the query does not need is never opened: pruning works.
    server.client("s3").put_object(Bucket=bucket, Key="sales/year=2023/category=knits/zz-broken.parquet", Body=b"not parquet")
    got = query("SELECT COUNT(*) AS n FROM sales WHERE year = 2024 AND category = 'dresses'", db, session)
    assert got["n"][0] == ((both.year == 2024) & (both.category == "dresses")).sum()
    with pytest.raises(Exception):
        query("SELECT COUNT(*) AS n FROM sales WHERE category = 'knits'", db, session)
    server.client("s3").delete_object(Bucket=bucket, Key="sales/year=2023/category=knits/zz-broken.parquet")

    # overwrite_partitions replaces only the partitions the new frame has.
    patch = sales(n=10, seed=3)
    patch["year"] = 2024
    patch["category"] = "tops"
    wr.s3.to_parquet(patch, path, dataset=True, database=db, table="sales", partition_cols=["year", "category"],
                     mode="overwrite_partitions", boto3_session=session)
    got = query("SELECT year, category, COUNT(*) AS n FROM sales GROUP BY 1, 2 ORDER BY 1, 2", db, session)
    counts = {(int(r.year), r.category): int(r.n) for r in got.itertuples()}
    assert counts[(2024, "tops")] == 10
    assert counts[(2023, "tops")] == ((both.year == 2023) & (both.category == "tops")).sum()

    # Overwrite replaces everything, partitions included.
    wr.s3.to_parquet(patch, path, dataset=True, database=db, table="sales", partition_cols=["year", "category"],
                     mode="overwrite", boto3_session=session)
    assert query("SELECT COUNT(*) AS n FROM sales", db, session)["n"][0] == 10
    assert len(wr.catalog.get_partitions(database=db, table="sales", boto3_session=session)) == 1
    assert "sales" in wr.catalog.tables(database=db, boto3_session=session)["Table"].tolist()
    assert db in wr.catalog.databases(boto3_session=session)["Database"].tolist()
    assert wr.catalog.delete_table_if_exists(database=db, table="sales", boto3_session=session) is True
    assert wr.catalog.delete_table_if_exists(database=db, table="sales", boto3_session=session) is False


def test_csv_dataset_and_explicit_tables(server, lake, session):
    bucket, db = lake
    df = sales(n=200)
    wr.s3.to_csv(df, f"s3://{bucket}/csv_sales/", dataset=True, database=db, table="csv_sales", partition_cols=["year"],
                 index=False, boto3_session=session)
    got = query("SELECT year, COUNT(*) AS n, SUM(amount) AS total FROM csv_sales GROUP BY year ORDER BY year", db, session)
    want = df.groupby("year").agg(n=("id", "size"), total=("amount", "sum")).reset_index()
    assert got["n"].tolist() == want["n"].tolist()
    assert got["total"].tolist() == pytest.approx(want["total"].tolist())

    # Tables declared first, data and partitions added after.
    s3 = server.client("s3")
    wr.catalog.create_parquet_table(database=db, table="declared", path=f"s3://{bucket}/declared/",
                                    columns_types={"id": "bigint", "amount": "double"}, partitions_types={"dt": "string"},
                                    boto3_session=session)
    for dt in ("2024-01-01", "2024-01-02"):
        wr.s3.to_parquet(df[["id", "amount"]], f"s3://{bucket}/declared/dt={dt}/part.parquet", boto3_session=session)
    wr.catalog.add_parquet_partitions(database=db, table="declared", boto3_session=session, partitions_values={
        f"s3://{bucket}/declared/dt={dt}/": [dt] for dt in ("2024-01-01", "2024-01-02")})
    got = query("SELECT dt, COUNT(*) AS n FROM declared GROUP BY dt ORDER BY dt", db, session)
    assert got["n"].tolist() == [200, 200]

    wr.catalog.create_csv_table(database=db, table="declared_csv", path=f"s3://{bucket}/declared_csv/",
                                columns_types={"id": "bigint", "note": "string"}, partitions_types={"part": "string"},
                                skip_header_line_count=1, sep="|", boto3_session=session)
    s3.put_object(Bucket=bucket, Key="declared_csv/a/rows.csv", Body=b"id|note\n1|first\n2|second\n")
    wr.catalog.add_csv_partitions(database=db, table="declared_csv", sep="|", boto3_session=session,
                                  partitions_values={f"s3://{bucket}/declared_csv/a/": ["alpha"]})
    got = query("SELECT part, id, note FROM declared_csv ORDER BY id", db, session)
    assert got.values.tolist() == [["alpha", 1, "first"], ["alpha", 2, "second"]]

    wr.catalog.create_json_table(database=db, table="declared_json", path=f"s3://{bucket}/declared_json/",
                                 columns_types={"id": "bigint", "tags": "array<string>", "meta": "struct<source:string,score:double>"},
                                 boto3_session=session)
    s3.put_object(Bucket=bucket, Key="declared_json/rows.json",
                  Body=b'{"id": 1, "tags": ["a", "b"], "meta": {"source": "web", "score": 0.5}}\n{"id": 2, "tags": [], "meta": {"source": "app", "score": 1.5}}\n')
    got = query("SELECT id, cardinality(tags) AS n, meta.source AS source FROM declared_json ORDER BY id", db, session)
    assert got.values.tolist() == [[1, 2, "web"], [2, 0, "app"]]


def test_delete_database(server, session):
    bucket = unique("wr-drop")
    server.client("s3").create_bucket(Bucket=bucket)
    db = unique("wr_drop").replace("-", "_")
    wr.catalog.create_database(db, description="to be dropped", boto3_session=session)
    wr.catalog.create_parquet_table(database=db, table="kept", path=f"s3://{bucket}/kept/", columns_types={"id": "bigint"},
                                    boto3_session=session)
    assert db in wr.catalog.databases(limit=1000, boto3_session=session)["Database"].tolist()
    assert wr.catalog.does_table_exist(database=db, table="kept", boto3_session=session)

    wr.catalog.delete_database(db, boto3_session=session)
    assert db not in wr.catalog.databases(limit=1000, boto3_session=session)["Database"].tolist()
    with pytest.raises(ClientError) as e:
        server.client("glue").get_database(Name=db)
    assert code(e) == "EntityNotFoundException"
    assert not wr.catalog.does_table_exist(database=db, table="kept", boto3_session=session)
    with pytest.raises(ClientError) as e:
        wr.catalog.delete_database(db, boto3_session=session)
    assert code(e) == "EntityNotFoundException"
    # Its tables went with it: a database made again under the name is empty.
    wr.catalog.create_database(db, boto3_session=session)
    assert wr.catalog.tables(database=db, boto3_session=session).empty
    wr.catalog.delete_database(db, boto3_session=session)

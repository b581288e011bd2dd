"""Accounts hold across Glue and Athena as they do on AWS: each account its own Glue Data Catalog
(CatalogId = its account id) and its own Athena query history; another account's catalog is
refused with Glue's AccessDeniedException and another account's query is not found. A data
directory written before (layout 1, one catalog for everyone) is upgraded: its catalog and its
queries become the primary account's."""

import json
import signal
import tarfile
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import RESULTS_BUCKET, Server, code, unique, wait_query

PRIMARY = "000000000000"
ALICE = "111111111111"
FIXTURES = Path(__file__).parent / "fixtures"

CONFIG = f"""
[[users]]
access_key = "alice"
secret_key = "alice-secret-key"
account_id = "{ALICE}"
"""


@pytest.fixture(scope="module")
def accounts(workdir):
    config = workdir / "accounts.toml"
    config.write_text(CONFIG)
    s = Server(workdir / "accounts-data", workdir / "accounts.log", extra_args=("--config", str(config))).start()
    yield s
    s.stop(signal.SIGKILL)


def alice(server, service):
    return server.client(service, access_key="alice", secret="alice-secret-key")


def private_table(server, db: str):
    """A database of the primary account with a table over the primary account's own bucket."""
    s3, glue = server.client("s3"), server.client("glue")
    bucket = unique("primary-private")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="t/rows.csv", Body=b"1,secret\n2,more secret\n")
    glue.create_database(DatabaseInput={"Name": db, "Description": "the primary account's"})
    glue.create_table(DatabaseName=db, TableInput={"Name": "t", "StorageDescriptor": {
        "Columns": [{"Name": "id", "Type": "int"}, {"Name": "s", "Type": "string"}], "Location": f"s3://{bucket}/t/",
        "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", "Parameters": {"field.delim": ","}}}})
    return bucket


def test_each_account_has_its_own_glue_catalog(accounts):
    db = unique("private").replace("-", "_")
    private_table(accounts, db)
    glue, theirs = accounts.client("glue"), alice(accounts, "glue")
    before = glue.get_table(DatabaseName=db, Name="t")["Table"]
    assert before["CatalogId"] == PRIMARY

    # Alice's catalog is her own: the primary account's databases are not in it.
    assert [d["Name"] for d in theirs.get_databases()["DatabaseList"]] == ["default"]
    for call in (lambda: theirs.get_database(Name=db), lambda: theirs.get_table(DatabaseName=db, Name="t"),
                 lambda: theirs.delete_table(DatabaseName=db, Name="t")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "EntityNotFoundException"
    # The same name in her catalog is another database.
    theirs.create_database(DatabaseInput={"Name": db, "Description": "alice's"})
    got = theirs.get_database(Name=db)["Database"]
    assert (got["Description"], got["CatalogId"]) == ("alice's", ALICE)
    assert glue.get_database(Name=db)["Database"]["Description"] == "the primary account's"

    # Naming the primary account's catalog is refused, and changes nothing.
    for call in (
        lambda: theirs.get_databases(CatalogId=PRIMARY),
        lambda: theirs.get_table(CatalogId=PRIMARY, DatabaseName=db, Name="t"),
        lambda: theirs.delete_table(CatalogId=PRIMARY, DatabaseName=db, Name="t"),
        lambda: theirs.create_table(CatalogId=PRIMARY, DatabaseName=db, TableInput={"Name": "evil"}),
        lambda: theirs.update_database(CatalogId=PRIMARY, Name=db, DatabaseInput={"Name": db, "Description": "mine now"}),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDeniedException"
        assert f"arn:aws:iam::{ALICE}:user/alice is not authorized to perform: glue:" in e.value.response["Error"]["Message"]
        assert f"arn:aws:glue:us-east-1:{PRIMARY}:catalog" in e.value.response["Error"]["Message"]
    assert glue.get_table(DatabaseName=db, Name="t")["Table"] == before
    assert [t["Name"] for t in glue.get_tables(DatabaseName=db)["TableList"]] == ["t"]
    assert glue.get_database(Name=db)["Database"]["Description"] == "the primary account's"
    # Her own id, given explicitly, is her own catalog; a malformed one is a validation error.
    assert theirs.get_database(CatalogId=ALICE, Name=db)["Database"]["Description"] == "alice's"
    with pytest.raises(ClientError) as e:
        theirs.get_databases(CatalogId="not-an-account")
    assert code(e) == "InvalidInputException"


def test_each_account_has_its_own_athena_history(accounts):
    db = unique("private").replace("-", "_")
    private_table(accounts, db)
    athena, theirs = accounts.client("athena"), alice(accounts, "athena")
    qid = athena.start_query_execution(QueryString=f"SELECT count(*) FROM {db}.t")["QueryExecutionId"]
    assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"

    # The primary account's query is not found for Alice, whatever she asks of it.
    for call in (theirs.get_query_execution, theirs.get_query_results, theirs.stop_query_execution):
        with pytest.raises(ClientError) as e:
            call(QueryExecutionId=qid)
        assert code(e) == "InvalidRequestException"
        assert e.value.response["Error"]["Message"] == f"QueryExecution {qid} was not found"
    assert qid not in theirs.list_query_executions()["QueryExecutionIds"]
    assert theirs.batch_get_query_execution(QueryExecutionIds=[qid])["UnprocessedQueryExecutionIds"][0]["QueryExecutionId"] == qid
    assert athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"] == "SUCCEEDED"

    # Her queries run over her own catalog, where the primary account's database is not.
    mine = theirs.start_query_execution(QueryString=f"SELECT * FROM {db}.t")["QueryExecutionId"]
    failed = wait_query(theirs, mine)
    assert failed["Status"]["State"] == "FAILED"
    assert db in failed["Status"]["StateChangeReason"]
    assert mine in theirs.list_query_executions()["QueryExecutionIds"]
    assert mine not in athena.list_query_executions()["QueryExecutionIds"]
    # Her AwsDataCatalog is her Glue catalog.
    assert theirs.get_data_catalog(Name="AwsDataCatalog")["DataCatalog"]["Parameters"]["catalog-id"] == ALICE
    assert db not in [d["Name"] for d in theirs.list_databases(CatalogName="AwsDataCatalog")["DatabaseList"]]
    with pytest.raises(ClientError) as e:
        theirs.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName=db, TableName="t")
    assert code(e) == "MetadataException"


def test_a_layout_1_data_directory_becomes_the_primary_accounts(workdir):
    """`fixtures/layout-1.tar.gz` was written by the release before accounts had catalogs of their
    own (made by `fixtures/make_layout_1.py`)."""
    with tarfile.open(FIXTURES / "layout-1.tar.gz") as tar:
        tar.extractall(workdir / "upgrade", filter="data")
    data = workdir / "upgrade" / "data"
    assert (data / "FORMAT").read_text().strip() == "minerva-data 1"
    qid = json.loads((data / "query.json").read_text())["QueryExecutionId"]
    config = workdir / "upgrade.toml"
    config.write_text(CONFIG)
    for start in range(2):  # upgraded once; the second start finds nothing left to move
        server = Server(data, workdir / f"upgrade-{start}.log", extra_args=("--config", str(config))).start()
        try:
            assert (data / "FORMAT").read_text().strip() == "minerva-data 2"
            glue, athena = server.client("glue"), server.client("athena")
            legacy = glue.get_database(Name="legacy")["Database"]
            assert (legacy["Description"], legacy["CatalogId"]) == ("made by layout 1", PRIMARY)
            assert sorted(t["Name"] for t in glue.get_tables(DatabaseName="legacy")["TableList"]) == ["events", "sales"]
            assert [p["Values"] for p in glue.get_partitions(DatabaseName="legacy", TableName="events")["Partitions"]] == [["2024-01-01"]]
            assert glue.get_crawler(Name="legacy-crawler")["Crawler"]["State"] == "READY"
            # `default` had been made before the upgrade: it is not made again for the primary account.
            assert sorted(d["Name"] for d in glue.get_databases()["DatabaseList"]) == ["default", "legacy"]
            # The old query is the primary account's, results and all.
            assert athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"] == "SUCCEEDED"
            assert athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"][1]["Data"][0]["VarCharValue"] == "35.75"
            again = athena.start_query_execution(QueryString="SELECT count(*) FROM legacy.events")["QueryExecutionId"]
            assert wait_query(athena, again)["Status"]["State"] == "SUCCEEDED"
            assert athena.get_query_results(QueryExecutionId=again)["ResultSet"]["Rows"][1]["Data"][0]["VarCharValue"] == "2"
            # Alice's catalog and history hold none of it.
            theirs = alice(server, "glue")
            assert [d["Name"] for d in theirs.get_databases()["DatabaseList"]] == ["default"]
            with pytest.raises(ClientError) as e:
                alice(server, "athena").get_query_execution(QueryExecutionId=qid)
            assert code(e) == "InvalidRequestException"
        finally:
            assert server.stop() == 0


def run(athena, sql, **kwargs):
    qid = athena.start_query_execution(QueryString=sql, **kwargs)["QueryExecutionId"]
    return qid, wait_query(athena, qid)


def keys(server, bucket, prefix=""):
    return [o["Key"] for o in server.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def test_queries_touch_s3_as_their_caller(accounts):
    """Alice's catalog may point anywhere, as on AWS; her queries reach only what S3 lets her."""
    db = unique("private").replace("-", "_")
    bucket = private_table(accounts, db)
    s3, theirs_s3 = accounts.client("s3"), alice(accounts, "s3")
    with pytest.raises(ClientError) as e:
        theirs_s3.get_object(Bucket=bucket, Key="t/rows.csv")
    assert code(e) == "AccessDenied"
    glue, athena = alice(accounts, "glue"), alice(accounts, "athena")
    mine = unique("mine").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": mine})
    serde = {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", "Parameters": {"field.delim": ","}}
    glue.create_table(DatabaseName=mine, TableInput={"Name": "t", "StorageDescriptor": {
        "Columns": [{"Name": "id", "Type": "int"}, {"Name": "s", "Type": "string"}], "Location": f"s3://{bucket}/t/", "SerdeInfo": serde}})
    glue.create_table(DatabaseName=mine, TableInput={"Name": "parts", "PartitionKeys": [{"Name": "dt", "Type": "string"}], "StorageDescriptor": {
        "Columns": [{"Name": "id", "Type": "int"}], "Location": f"s3://{bucket}/parts/", "SerdeInfo": serde}})
    s3.put_object(Bucket=bucket, Key="parts/dt=1/p.csv", Body=b"7\n")
    glue.create_partition(DatabaseName=mine, TableName="parts", PartitionInput={"Values": ["1"], "StorageDescriptor": {
        "Columns": [{"Name": "id", "Type": "int"}], "Location": f"s3://{bucket}/parts/dt=1/", "SerdeInfo": serde}})
    assert run(athena, f"CREATE VIEW {mine}.v AS SELECT s FROM {mine}.t")[1]["Status"]["State"] == "SUCCEEDED"
    before = keys(accounts, bucket)

    # Reads: the table, a partitioned table, a view over the table: refused as S3 refuses her.
    for sql in (f"SELECT * FROM {mine}.t", f"SELECT sum(id) FROM {mine}.parts", f"SELECT * FROM {mine}.v"):
        _, q = run(athena, sql)
        assert q["Status"]["State"] == "FAILED", sql
        assert q["Status"]["StateChangeReason"].startswith(f"Permission denied on S3 path: s3://{bucket}/"), q["Status"]
    # Writes: a CTAS, an UNLOAD and an INSERT into her bucket-less table, and results, all into the
    # primary account's bucket: refused, and nothing is left behind, in the bucket or her catalog.
    writes = [
        (f"CREATE TABLE {mine}.evil WITH (external_location='s3://{bucket}/evil/', format='PARQUET') AS SELECT 1 AS x", {}),
        (f"UNLOAD (SELECT 1 AS x) TO 's3://{bucket}/unload/' WITH (format = 'PARQUET')", {}),
        (f"INSERT INTO {mine}.t VALUES (3, 'mine')", {}),
        ("SELECT 1", {"ResultConfiguration": {"OutputLocation": f"s3://{bucket}/results/"}}),
        (f"MSCK REPAIR TABLE {mine}.parts", {}),
    ]
    for sql, kwargs in writes:
        _, q = run(athena, sql, **kwargs)
        assert q["Status"]["State"] == "FAILED", sql
        assert q["Status"]["StateChangeReason"].startswith(f"Permission denied on S3 path: s3://{bucket}/"), (sql, q["Status"])
    assert keys(accounts, bucket) == before
    assert sorted(t["Name"] for t in glue.get_tables(DatabaseName=mine)["TableList"]) == ["parts", "t", "v"]

    # A crawler of hers cannot read the bucket either: the crawl fails and makes no table.
    glue.create_crawler(Name=unique("c"), Role="r", DatabaseName=mine, Targets={"S3Targets": [{"Path": f"s3://{bucket}/t/"}]})
    crawler = glue.get_crawlers()["Crawlers"][0]["Name"]
    glue.start_crawler(Name=crawler)
    while (c := glue.get_crawler(Name=crawler)["Crawler"])["State"] != "READY" or "LastCrawl" not in c:
        time.sleep(0.05)  # polling the crawler's state, as Glue's clients do
    assert c["LastCrawl"]["Status"] == "FAILED", c["LastCrawl"]
    assert c["LastCrawl"]["ErrorMessage"].startswith("Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)"), c["LastCrawl"]
    assert sorted(t["Name"] for t in glue.get_tables(DatabaseName=mine)["TableList"]) == ["parts", "t", "v"]

    # Granted by the bucket's owner, reads succeed; writes stay refused.
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": ["s3:GetObject", "s3:ListBucket"],
                             "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    qid, q = run(athena, f"SELECT id, s FROM {mine}.t ORDER BY id")
    assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"][1:]
    assert [[d["VarCharValue"] for d in r["Data"]] for r in rows] == [["1", "secret"], ["2", "more secret"]]
    assert run(athena, f"SELECT sum(id) FROM {mine}.parts")[1]["Status"]["State"] == "SUCCEEDED"
    _, q = run(athena, f"CREATE TABLE {mine}.evil WITH (external_location='s3://{bucket}/evil/', format='PARQUET') AS SELECT 1 AS x")
    assert q["Status"]["StateChangeReason"].startswith(f"Permission denied on S3 path: s3://{bucket}/evil/"), q["Status"]
    assert keys(accounts, bucket) == before
    glue.start_crawler(Name=crawler)
    while (c := glue.get_crawler(Name=crawler)["Crawler"])["State"] != "READY":
        time.sleep(0.05)  # polling the crawler's state
    assert c["LastCrawl"]["Status"] == "SUCCEEDED", c["LastCrawl"]


def test_a_catalog_resource_policy_grants_what_it_names(accounts):
    db = unique("shared").replace("-", "_")
    private_table(accounts, db)
    glue, theirs = accounts.client("glue"), alice(accounts, "glue")
    glue.create_table(DatabaseName=db, TableInput={"Name": "t2", "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "int"}]}})
    with pytest.raises(ClientError) as e:
        theirs.get_table(CatalogId=PRIMARY, DatabaseName=db, Name="t")
    assert code(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        glue.get_resource_policy()
    assert code(e) == "EntityNotFoundException"

    arn = f"arn:aws:glue:us-east-1:{PRIMARY}"
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ALICE}:root"}, "Action": ["glue:GetTable", "glue:GetDatabase"],
        "Resource": [f"{arn}:catalog", f"{arn}:database/{db}", f"{arn}:table/{db}/t"]}]}
    put = glue.put_resource_policy(PolicyInJson=json.dumps(policy), PolicyExistsCondition="NOT_EXIST")
    stored = glue.get_resource_policy()
    assert stored["PolicyHash"] == put["PolicyHash"] and json.loads(stored["PolicyInJson"]) == policy

    # Granted: GetTable and GetDatabase on what the policy names, in the primary account's catalog.
    table = theirs.get_table(CatalogId=PRIMARY, DatabaseName=db, Name="t")["Table"]
    assert (table["Name"], table["CatalogId"]) == ("t", PRIMARY)
    assert theirs.get_database(CatalogId=PRIMARY, Name=db)["Database"]["CatalogId"] == PRIMARY
    # Not granted: another table, another action, changing anything, or the policy itself.
    for call in (
        lambda: theirs.get_table(CatalogId=PRIMARY, DatabaseName=db, Name="t2"),
        lambda: theirs.get_tables(CatalogId=PRIMARY, DatabaseName=db),
        lambda: theirs.delete_table(CatalogId=PRIMARY, DatabaseName=db, Name="t"),
        lambda: theirs.update_table(CatalogId=PRIMARY, DatabaseName=db, TableInput={"Name": "t"}),
        lambda: theirs.get_resource_policy(ResourceArn=f"{arn}:catalog"),
        lambda: theirs.delete_resource_policy(ResourceArn=f"{arn}:catalog"),
        lambda: theirs.put_resource_policy(ResourceArn=f"{arn}:catalog", PolicyInJson=json.dumps(policy)),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDeniedException"
    assert glue.get_table(DatabaseName=db, Name="t")["Table"]["StorageDescriptor"]["Columns"][0]["Name"] == "id"
    assert glue.get_resource_policy()["PolicyHash"] == put["PolicyHash"]

    # The policy changes only as its conditions say; a policy that does not parse changes nothing.
    for kwargs in ({"PolicyExistsCondition": "NOT_EXIST"}, {"PolicyHashCondition": "0000000000000000"}):
        with pytest.raises(ClientError) as e:
            glue.put_resource_policy(PolicyInJson=json.dumps(policy), **kwargs)
        assert code(e) == "ConditionCheckFailureException"
    with pytest.raises(ClientError) as e:
        glue.put_resource_policy(PolicyInJson="{not json")
    assert code(e) == "InvalidInputException"
    assert glue.get_resource_policy()["PolicyHash"] == put["PolicyHash"]

    # Deleted, it grants nothing again.
    glue.delete_resource_policy(PolicyHashCondition=put["PolicyHash"])
    with pytest.raises(ClientError) as e:
        theirs.get_table(CatalogId=PRIMARY, DatabaseName=db, Name="t")
    assert code(e) == "AccessDeniedException"

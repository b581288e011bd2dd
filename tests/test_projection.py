"""Partition projection: tables whose properties say `projection.enabled` are read from the
partitions their properties describe (enum, integer, date and injected keys, a
`storage.location.template` or Hive's layout), none of them in the catalog, pruned by the
query's filters so that a query reads only the partitions it names."""

import pytest

from conftest import unique, wait_query

pytestmark = pytest.mark.core


def run(athena, sql: str, db: str) -> dict:
    qid = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": db})["QueryExecutionId"]
    return wait_query(athena, qid)


def rows(athena, sql: str, db: str) -> tuple[list, int]:
    q = run(athena, sql, db)
    assert q["Status"]["State"] == "SUCCEEDED", (sql, q["Status"])
    result = athena.get_query_results(QueryExecutionId=q["QueryExecutionId"])["ResultSet"]["Rows"]
    return [[d.get("VarCharValue") for d in r["Data"]] for r in result[1:]], q["Statistics"]["DataScannedInBytes"]


@pytest.fixture(scope="module")
def lake(server):
    s3, athena = server.client("s3"), server.client("athena")
    bucket = unique("projected")
    s3.create_bucket(Bucket=bucket)
    files = {}
    for region in ("eu", "us"):
        for day in ("2024/01/01", "2024/01/02", "2024/01/03"):
            body = "".join(f"{region}-{day}-{i},{i}\n" for i in range(3 if region == "eu" else 2)).encode()
            key = f"logs/{region}/{day}/part-0.csv"
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            files[(region, day)] = len(body)
    for hour in (5, 17):
        s3.put_object(Bucket=bucket, Key=f"hours/hour={hour:02d}/data.csv", Body=f"at {hour},{hour}\n".encode())
    for device in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=f"devices/{device}/readings.csv", Body=f"{device},1\n{device},2\n".encode())
    db = unique("proj").replace("-", "_")
    ddl = [
        f"CREATE DATABASE {db}",
        f"""CREATE EXTERNAL TABLE {db}.logs (id string, n int)
            PARTITIONED BY (region string, day string)
            ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
            LOCATION 's3://{bucket}/logs/'
            TBLPROPERTIES (
              'projection.enabled' = 'true',
              'projection.region.type' = 'enum', 'projection.region.values' = 'eu,us,ap',
              'projection.day.type' = 'date', 'projection.day.range' = '2023/12/30,NOW',
              'projection.day.format' = 'yyyy/MM/dd',
              'storage.location.template' = 's3://{bucket}/logs/${{region}}/${{day}}/')""",
        f"""CREATE EXTERNAL TABLE {db}.hours (label string, h int)
            PARTITIONED BY (hour int)
            ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
            LOCATION 's3://{bucket}/hours/'
            TBLPROPERTIES ('projection.enabled' = 'true', 'projection.hour.type' = 'integer',
              'projection.hour.range' = '0,23', 'projection.hour.digits' = '2')""",
        f"""CREATE EXTERNAL TABLE {db}.devices (device string, reading int)
            PARTITIONED BY (device_id string)
            ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
            LOCATION 's3://{bucket}/devices/'
            TBLPROPERTIES ('projection.enabled' = 'true', 'projection.device_id.type' = 'injected',
              'storage.location.template' = 's3://{bucket}/devices/${{device_id}}')""",
    ]
    for sql in ddl:
        q = run(athena, sql, "default")
        assert q["Status"]["State"] == "SUCCEEDED", (sql, q["Status"])
    return db, files


def test_enum_and_date_keys_with_a_template(server, athena, lake):
    db, files = lake
    everything, scanned = rows(athena, "SELECT count(*), sum(n) FROM logs", db)
    assert everything == [["15", str(3 * (0 + 1 + 2) + 3 * (0 + 1))]]
    assert scanned == sum(files.values())
    # The partition keys read as values; no partition is in the catalog.
    assert server.client("glue").get_partitions(DatabaseName=db, TableName="logs")["Partitions"] == []
    one, scanned = rows(athena, "SELECT id, region, day FROM logs WHERE region = 'eu' AND day = '2024/01/02' ORDER BY id", db)
    assert one == [[f"eu-2024/01/02-{i}", "eu", "2024/01/02"] for i in range(3)]
    assert scanned == files[("eu", "2024/01/02")]
    two_days, scanned = rows(athena, "SELECT region, count(*) FROM logs WHERE day BETWEEN '2024/01/02' AND '2024/01/03' GROUP BY region ORDER BY region", db)
    assert two_days == [["eu", "6"], ["us", "4"]]
    assert scanned == sum(size for (_, day), size in files.items() if day != "2024/01/01")
    assert rows(athena, "SELECT count(*) FROM logs WHERE region = 'ap'", db)[0] == [["0"]]
    assert rows(athena, "SELECT count(*) FROM logs WHERE day > '2030/01/01'", db)[0] == [["0"]]


def test_integer_key_in_hive_layout(athena, lake):
    db, _ = lake
    assert rows(athena, "SELECT hour, label FROM hours ORDER BY hour", db)[0] == [["5", "at 5"], ["17", "at 17"]]
    assert rows(athena, "SELECT label FROM hours WHERE hour = 17", db)[0] == [["at 17"]]
    assert rows(athena, "SELECT count(*) FROM hours WHERE hour < 10", db)[0] == [["1"]]


def test_injected_key_needs_an_equality_filter(athena, lake):
    db, _ = lake
    assert rows(athena, "SELECT device, reading FROM devices WHERE device_id = 'b' ORDER BY reading", db)[0] == [["b", "1"], ["b", "2"]]
    assert rows(athena, "SELECT device_id, count(*) FROM devices WHERE device_id IN ('a', 'c') GROUP BY 1 ORDER BY 1", db)[0] == [["a", "2"], ["c", "2"]]
    assert rows(athena, "SELECT count(*) FROM devices WHERE device_id = 'nobody'", db)[0] == [["0"]]
    for sql in ("SELECT count(*) FROM devices", "SELECT count(*) FROM devices WHERE device_id > 'a'"):
        q = run(athena, sql, db)
        assert q["Status"]["State"] == "FAILED", sql
        assert q["Status"]["StateChangeReason"] == (
            "CONSTRAINT_VIOLATION: For the injected projected partition column device_id, the WHERE clause must contain only "
            "static equality conditions, and at least one such condition must be present.")
        assert q["Status"]["AthenaError"]["ErrorCategory"] == 2


def test_bad_projection_properties_fail_the_query(server, athena, lake):
    db, _ = lake
    bucket = server.client("glue").get_table(DatabaseName=db, Name="logs")["Table"]["StorageDescriptor"]["Location"].split("/")[2]
    q = run(athena, f"CREATE EXTERNAL TABLE broken (a int) PARTITIONED BY (k string) LOCATION 's3://{bucket}/x/' "
                    "TBLPROPERTIES ('projection.enabled' = 'true', 'projection.k.type' = 'sometimes')", db)
    assert q["Status"]["State"] == "SUCCEEDED"
    q = run(athena, "SELECT * FROM broken", db)
    assert q["Status"]["State"] == "FAILED", q["Status"]
    assert "HIVE_INVALID_METADATA: the partition projection of table" in q["Status"]["StateChangeReason"], q["Status"]
    assert "sometimes is not a projection type" in q["Status"]["StateChangeReason"]
    # Properties no partition list could honour fail the query, or answer, but never hang it.
    for name, properties, reason in [
        ("padded", "'projection.k.type' = 'integer', 'projection.k.range' = '1,2', 'projection.k.digits' = '1000000000'",
         "digits must be at most 20"),
        ("endless", "'projection.k.type' = 'integer', 'projection.k.range' = '-9223372036854775808,9223372036854775807'",
         "HIVE_EXCEEDED_PARTITION_LIMIT"),
        ("leaping", "'projection.k.type' = 'date', 'projection.k.format' = 'yyyy-MM-dd', 'projection.k.range' = 'NOW-99999999999999DAYS,NOW', "
                    "'projection.k.interval' = '100000000000000', 'projection.k.interval.unit' = 'DAYS'", None),
    ]:
        q = run(athena, f"CREATE EXTERNAL TABLE {name} (a int) PARTITIONED BY (k string) LOCATION 's3://{bucket}/x/' "
                        f"TBLPROPERTIES ('projection.enabled' = 'true', {properties})", db)
        assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
        q = run(athena, f"SELECT count(*) FROM {name}", db)
        if reason:
            assert q["Status"]["State"] == "FAILED" and reason in q["Status"]["StateChangeReason"], q["Status"]
        else:
            assert q["Status"]["State"] in ("SUCCEEDED", "FAILED"), q["Status"]

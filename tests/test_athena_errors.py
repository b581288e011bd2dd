"""Athena's error vocabulary through the real clients: a failed query's StateChangeReason and
Status.AthenaError (ErrorCategory, ErrorType, Retryable, ErrorMessage) as Athena's error
catalog gives them, and the same words whichever way the query came (directly, or wrapped in
awswrangler's CTAS). The wording of every mapping is checked in query/tests/slt/errors.slt."""

import awswrangler as wr
import boto3
import pytest

from conftest import ACCESS_KEY, REGION, SECRET_KEY, unique, wait_query

pytestmark = pytest.mark.core

INTERNALS = ("DataFusion", "Arrow", "Error during planning", "Int64", "Utf8", "ParserError", "SQL error")


@pytest.fixture(scope="module")
def shop(server):
    athena = server.client("athena")
    db = unique("errs").replace("-", "_")
    for sql in (f"CREATE DATABASE {db}",
                f"CREATE TABLE {db}.items AS SELECT * FROM (VALUES (1, 'abc', 10), (2, '7', 0)) AS t(id, code, qty)"):
        qid = athena.start_query_execution(QueryString=sql)["QueryExecutionId"]
        assert wait_query(athena, qid)["Status"]["State"] == "SUCCEEDED"
    return db


def failed(athena, sql: str, db: str) -> dict:
    qid = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": db})["QueryExecutionId"]
    status = wait_query(athena, qid)["Status"]
    assert status["State"] == "FAILED", sql
    return status


@pytest.mark.parametrize("sql,reason,category,error_type", [
    ("SELEC 1", "SYNTAX_ERROR: line 1:1: mismatched input 'SELEC'.", 2, 1006),
    ("SELECT * FROM nodb.raw", "SCHEMA_NOT_FOUND: line 1:15: Schema 'nodb' does not exist", 2, 1006),
    ("SELECT * FROM nope", "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.{db}.nope' does not exist", 2, 1006),
    ("SELECT nothing FROM items", "COLUMN_NOT_FOUND: line 1:8: Column 'nothing' cannot be resolved", 2, 1006),
    ("SELECT no_such_function(id) FROM items", "FUNCTION_NOT_FOUND: line 1:8: Function 'no_such_function' not registered", 2, 1006),
    ("SELECT id + code FROM items", "TYPE_MISMATCH: ", 2, 1006),
    ("SELECT id / qty FROM items", "DIVISION_BY_ZERO: Division by zero", 2, 1001),
    ("SELECT CAST(code AS INTEGER) FROM items", "INVALID_CAST_ARGUMENT: Cannot cast 'abc' to INT", 2, 1001),
    ("SELECT CAST(id + 3000000000 AS INTEGER) FROM items", "NUMERIC_VALUE_OUT_OF_RANGE: Out of range for integer: 3000000001", 2, 1001),
    ("UPDATE items SET qty = 1", "NOT_SUPPORTED: Modifying Hive table rows is only supported for transactional tables", 2, 1006),
    ("DELETE FROM items WHERE id = 1", "NOT_SUPPORTED: Modifying Hive table rows is only supported for transactional tables", 2, 1006),
    ("MERGE INTO items t USING items s ON t.id = s.id WHEN MATCHED THEN DELETE",
     "NOT_SUPPORTED: Modifying Hive table rows is only supported for transactional tables", 2, 1006),
    ("DELETE FROM nope", "TABLE_NOT_FOUND: Table 'awsdatacatalog.{db}.nope' does not exist", 2, 1006),
    ("CREATE TABLE ice (n int) STORED AS PARQUET LOCATION 's3://b/ice/' TBLPROPERTIES ('table_type'='ICEBERG')",
     "Iceberg create table statement does not allow STORED AS/BY", 2, 1200),
    ("CREATE TABLE ice (n int) PARTITIONED BY (p int) LOCATION 's3://b/ice/' TBLPROPERTIES ('table_type'='ICEBERG')",
     "Invalid PARTITIONED BY clause in Iceberg create table statement", 2, 1006),
    ("CREATE TABLE ice (n int) LOCATION 's3://b/ice/' TBLPROPERTIES ('table_type'='ICEBERG', 'write.merge.mode'='merge-on-read')",
     "Unsupported table property key: write.merge.mode", 2, 1200),
])
def test_each_failure_in_athenas_words_and_numbers(server, shop, sql, reason, category, error_type):
    status = failed(server.client("athena"), sql, shop)
    text = status["StateChangeReason"]
    assert text.startswith(reason.format(db=shop)), text
    assert not any(word in text for word in INTERNALS), text
    error = status["AthenaError"]
    assert (error["ErrorCategory"], error["ErrorType"], error["Retryable"]) == (category, error_type, False)
    assert error["ErrorMessage"] == text


def test_a_syntax_error_reads_the_same_through_awswranglers_ctas(server, shop):
    for service in ("s3", "glue", "athena", "sts"):
        setattr(wr.config, f"{service}_endpoint_url", server.url)
    session = boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION)
    direct = failed(server.client("athena"), "SELECT id FROM items WHERE", shop)["StateChangeReason"]
    assert direct.startswith("SYNTAX_ERROR: line 1:27: mismatched input '<EOF>'."), direct
    for ctas in (True, False):
        with pytest.raises(Exception) as raised:
            wr.athena.read_sql_query("SELEC id FROM items", database=shop, ctas_approach=ctas, boto3_session=session)
        message = str(raised.value)
        assert "SYNTAX_ERROR: line 1:1: mismatched input 'SELEC'. Expecting: " in message, message
        assert not any(word in message for word in INTERNALS), message


@pytest.mark.parametrize("sql,message", [
    ("CREATE EXTERNAL TABLE t (n int) LOCATION 's3://b/t/' TBLPROPERTIES ('table_type'='ICEBERG')",
     "External keyword not supported for table type ICEBERG"),
    ("CREATE TABLE t (n int) STORED AS PARQUET LOCATION 's3://b/t/'", "External keyword required for table type HIVE"),
])
def test_athena_turns_the_wrong_table_kind_away_at_start(server, shop, sql, message):
    """Hive DDL naming the wrong kind of table is no execution at all: StartQueryExecution answers
    InvalidRequestException with AthenaErrorCode MALFORMED_QUERY, as Athena does."""
    athena = server.client("athena")
    group = unique("malformed")
    athena.create_work_group(Name=group, Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/malformed/"}})
    with pytest.raises(athena.exceptions.InvalidRequestException) as raised:
        athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": shop}, WorkGroup=group)
    assert raised.value.response["Error"]["Message"] == message
    assert raised.value.response["AthenaErrorCode"] == "MALFORMED_QUERY"
    assert athena.list_query_executions(WorkGroup=group)["QueryExecutionIds"] == []

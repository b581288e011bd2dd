"""pyathena's DB-API cursor: Athena's types come back as Python values."""

import datetime
from decimal import Decimal

import pytest
from pyathena import connect

from conftest import ACCESS_KEY, REGION, RESULTS_BUCKET, SECRET_KEY

pytestmark = pytest.mark.core


def test_cursor_types(server):
    conn = connect(
        s3_staging_dir=f"s3://{RESULTS_BUCKET}/pyathena/",
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        endpoint_url=server.url,
    )
    cursor = conn.cursor()
    cursor.execute(
        "SELECT NULL AS nothing, DATE '2024-02-29' AS d, TIMESTAMP '2024-02-29 13:14:15.678' AS ts, "
        "CAST('12.30' AS DECIMAL(10, 2)) AS price, 'héllo, \"world\"' AS greeting"
    )
    assert [c[0] for c in cursor.description] == ["nothing", "d", "ts", "price", "greeting"]
    assert [c[1] for c in cursor.description][1:] == ["date", "timestamp", "decimal", "varchar"]
    row = cursor.fetchone()
    assert row == (None, datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 13, 14, 15, 678000), Decimal("12.30"), 'héllo, "world"')
    assert cursor.fetchone() is None


def test_cursor_pages_through_many_rows(server):
    conn = connect(s3_staging_dir=f"s3://{RESULTS_BUCKET}/pyathena/", region_name=REGION, endpoint_url=server.url,
                   aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    cursor = conn.cursor()
    cursor.execute("SELECT value FROM generate_series(1, 2500) ORDER BY value")
    values = [r[0] for r in cursor.fetchall()]
    assert values == list(range(1, 2501))

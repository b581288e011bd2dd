"""dbt-athena against Minerva, as a data team's CI runs it: seed, run (twice: a re-run replaces
its tables and runs incremental models incrementally, insert_overwrite and append on
partitioned tables, merge on an Iceberg table), docs generate, and test a project over the
users' product reviews. The tables dbt builds are read
back through Athena and checked against the seed; one data test fails on purpose, and dbt must
say so."""

import csv
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from conftest import DATA, RESULTS_BUCKET, unique, wait_query

PROJECT = Path(__file__).parent / "project"
README = Path(__file__).resolve().parent.parent.parent / "README.md"
SEED_ROWS = 400


def seed(path: Path) -> list[dict]:
    """The first reviews that have a class and an age, as the seed `reviews`. Line breaks inside a
    review become spaces: Athena's OpenCSVSerde, which dbt-athena's seeds use, reads a line a row."""
    rows = []
    with open(DATA, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["Class Name"] and r["Age"]:
                text = " ".join(r["Review Text"].split())
                rows.append({"review_id": int(r[""]), "age": int(r["Age"]), "rating": int(r["Rating"]),
                             "class_name": r["Class Name"], "review_text": text})
            if len(rows) == SEED_ROWS:
                break
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


@pytest.fixture(scope="module")
def project(server, tmp_path_factory):
    directory = tmp_path_factory.mktemp("dbt") / "project"
    shutil.copytree(PROJECT, directory)
    (directory / "seeds").mkdir()
    rows = seed(directory / "seeds" / "reviews.csv")
    schema = unique("dbt").replace("-", "_")
    data_bucket = unique("dbt-data")
    server.client("s3").create_bucket(Bucket=data_bucket)
    # The README's profile, as users copy it: only where the server is, who signs, and where the
    # tables go differ; threads and polling are this suite's.
    readme = [b for b in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S) if b.startswith("minerva:")]
    assert len(readme) == 1
    profile = yaml.safe_load(readme[0])
    local = profile["minerva"]["outputs"]["local"]
    assert local["s3_staging_dir"] == f"s3://{RESULTS_BUCKET}/dbt/"
    local.update(endpoint_url=server.url, aws_access_key_id="test-access", aws_secret_access_key="test-secret-key",
                 s3_data_dir=f"s3://{data_bucket}/tables/", schema=schema, threads=2, poll_interval=0.05)
    (directory / "profiles.yml").write_text(json.dumps(profile))
    return directory, schema, rows


def dbt(server, directory: Path, *args: str) -> subprocess.CompletedProcess:
    """The dbt CLI of this virtualenv, in the project, pointed at the server (dbt-athena's Glue and
    S3 clients read AWS_ENDPOINT_URL); no usage statistics are sent anywhere."""
    env = dict(server.env(), DBT_SEND_ANONYMOUS_USAGE_STATS="false", DBT_PROFILES_DIR=str(directory))
    command = [str(Path(sys.executable).parent / "dbt"), *args, "--project-dir", str(directory)]
    return subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True, timeout=600)


def query(athena, sql: str) -> list[list]:
    qid = athena.start_query_execution(QueryString=sql)["QueryExecutionId"]
    q = wait_query(athena, qid)
    assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
    pages = athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid)
    rows = [[d.get("VarCharValue") for d in r["Data"]] for page in pages for r in page["ResultSet"]["Rows"]]
    return rows[1:]


def test_seed_run_and_test(server, athena, project):
    directory, schema, rows = project

    seeded = dbt(server, directory, "seed")
    assert seeded.returncode == 0, seeded.stdout[-4000:]
    assert query(athena, f"SELECT count(*), sum(rating) FROM {schema}.reviews") == [[str(len(rows)), str(sum(r["rating"] for r in rows))]]
    # The seed's text arrives whole, commas and quotes included.
    texts = dict(query(athena, f"SELECT CAST(review_id AS varchar), review_text FROM {schema}.reviews"))
    assert texts == {str(r["review_id"]): r["review_text"] or None for r in rows}

    for attempt in range(2):
        ran = dbt(server, directory, "run")
        assert ran.returncode == 0, (attempt, ran.stdout[-4000:])
    per_class = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        c = per_class[r["class_name"]]
        c[0], c[1], c[2] = c[0] + 1, c[1] + r["rating"], max(c[2], r["age"])
    want = sorted([k, str(v[0]), str(v[1]), str(v[2])] for k, v in per_class.items())
    assert query(athena, f"SELECT class_name, reviews, rating_total, oldest FROM {schema}.reviews_per_class ORDER BY class_name") == want
    happy = query(athena, f"SELECT count(*) FROM {schema}.happy_reviews")
    assert happy == [[str(sum(1 for r in rows if r["rating"] >= 4))]]
    table = server.client("glue").get_table(DatabaseName=schema, Name="reviews_per_class")["Table"]
    assert table["TableType"] == "EXTERNAL_TABLE" and table["StorageDescriptor"]["Location"].startswith("s3://")
    assert server.client("glue").get_table(DatabaseName=schema, Name="happy_reviews")["Table"]["TableType"] == "VIRTUAL_VIEW"

    # Incremental models on partitioned tables, after a first run and an incremental one.
    # insert_overwrite rebuilt the partitions of ratings 4 and 5 (each age plus 1000) and kept
    # the others as they were.
    by_rating = defaultdict(lambda: [0, 0])
    for r in rows:
        by_rating[r["rating"]][0] += 1
        by_rating[r["rating"]][1] += r["age"] + (1000 if r["rating"] >= 4 else 0)
    want = [[str(k), str(n), str(ages)] for k, (n, ages) in sorted(by_rating.items())]
    assert query(athena, f"SELECT CAST(rating AS varchar), count(*), sum(age) FROM {schema}.ratings_overwritten GROUP BY 1 ORDER BY 1") == want
    glue = server.client("glue")
    partitions = glue.get_partitions(DatabaseName=schema, TableName="ratings_overwritten")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == sorted(str(k) for k in by_rating)
    # append added the reviews below id 100 again.
    again = sum(1 for r in rows if r["review_id"] < 100)
    assert again > 0
    assert query(athena, f"SELECT count(*) FROM {schema}.reviews_appended") == [[str(len(rows) + again)]]
    classes = {r["class_name"] for r in rows}
    assert {p["Values"][0] for p in glue.get_partitions(DatabaseName=schema, TableName="reviews_appended")["Partitions"]} == classes

    # The Iceberg table, built twice: the second build replaced the first.
    assert query(athena, f"SELECT count(*), sum(rating) FROM {schema}.classes_iceberg") == [[str(len(rows)), str(sum(r["rating"] for r in rows))]]
    iceberg = glue.get_table(DatabaseName=schema, Name="classes_iceberg")["Table"]
    assert iceberg["Parameters"]["table_type"].upper() == "ICEBERG"
    assert query(athena, f'SELECT count(DISTINCT partition.class_name) FROM {schema}."classes_iceberg$files"') == [[str(len(classes))]]

    # merge: the second run updated the reviews below id 100 in place (rating plus 10).
    assert query(athena, f"SELECT count(*), sum(rating) FROM {schema}.ratings_merged") == [
        [str(len(rows)), str(sum(r["rating"] for r in rows) + 10 * again)]]

    # The docs: dbt reads the catalog back for every model and seed, with their columns.
    docs = dbt(server, directory, "docs", "generate")
    assert docs.returncode == 0, docs.stdout[-4000:]
    nodes = json.loads((directory / "target" / "catalog.json").read_text())["nodes"]
    described = {n.split(".")[-1]: [c.lower() for c in node["columns"]] for n, node in nodes.items()}
    assert described["ratings_overwritten"] == ["review_id", "class_name", "age", "rating"], described
    assert set(described) >= {"reviews", "reviews_per_class", "happy_reviews", "ratings_overwritten", "reviews_appended", "classes_iceberg", "ratings_merged"}, described

    tested = dbt(server, directory, "test")
    assert tested.returncode == 1, tested.stdout[-4000:]
    results = json.loads((directory / "target" / "run_results.json").read_text())["results"]
    outcome = {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in results}
    one_star = sum(1 for r in rows if r["rating"] == 1)
    assert one_star > 0
    assert outcome.pop("no_one_star_reviews") == ("fail", one_star)
    assert len(outcome) == 6 and all(status == ("pass", 0) for status in outcome.values()), outcome

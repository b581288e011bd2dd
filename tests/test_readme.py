"""The README runs as written: every code block in it is run or checked here, against servers of
their own, so the snippets users copy first cannot rot. A block this file does not know fails
the test; the dbt profile is the one tests/dbt/test_dbt.py runs dbt with.

The examples run as written: on the embedded defaults (127.0.0.1:9000, `minerva` /
`minerva-secret`, `./minerva-data`), in a folder of their own, twice (they must be repeatable),
then through the crawl and reset commands."""

import contextlib
import io
import os
import re
import subprocess
from pathlib import Path

import boto3
import pytest
import yaml

from conftest import binary, clean_env, free_port, started, stopped

pytestmark = pytest.mark.core

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def blocks() -> list[tuple[str, str]]:
    return re.findall(r"```(\w+)\n(.*?)```", README.read_text(), re.S)


def shell(block: str, cwd: Path) -> subprocess.CompletedProcess:
    """A shell block as a user runs it, with this build's `minerva` first on the PATH."""
    env = clean_env() | {"PATH": f"{Path(binary()).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-euc", block], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def run_python(block: str, cwd: Path) -> tuple[str, dict]:
    import awswrangler as wr

    saved = {s: getattr(wr.config, f"{s}_endpoint_url") for s in ("s3", "glue", "athena", "sts")}
    out = io.StringIO()
    scope: dict = {}
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(README), "exec"), scope)
    finally:
        os.chdir(here)
        for s, url in saved.items():
            setattr(wr.config, f"{s}_endpoint_url", url)
    return out.getvalue(), scope


def test_every_readme_block_runs_as_written(tmp_path):
    found = blocks()
    done = set()

    def take(language: str, start: str) -> str:
        matches = [i for i, (lang, body) in enumerate(found) if lang == language and body.lstrip().startswith(start)]
        assert len(matches) == 1, (language, start, matches)
        done.add(matches[0])
        return found[matches[0]][1]

    # The two commands: the server on its embedded defaults, and every test (what CI runs).
    serve = take("sh", "cargo run --release --bin minerva -- serve").split("#")[0].split()
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("exec " + take("sh", "scripts/test.sh").strip())
    command = [binary(), *serve[serve.index("--") + 1:]]
    url = "http://127.0.0.1:9000"

    example = take("python", "import awswrangler as wr, boto3, pandas as pd")
    pyathena = take("python", "from pyathena import connect")
    proc = started(command, url, tmp_path)
    try:
        for _ in range(2):  # it runs again as it ran the first time
            printed, scope = run_python(example, tmp_path)
            df = scope["df"]
            assert df["product_category"].tolist() == ["Blouses", "Dresses", "Knits"]
            assert df["n"].tolist() == [2, 2, 2] and df["avg_sentiment"].tolist() == [0.0, 0.5, 0.0]
            assert "Dresses" in printed
        printed, _ = run_python(pyathena, tmp_path)
        assert printed.strip() == "[('Blouses', 2), ('Dresses', 2), ('Knits', 2)]"
    finally:
        stopped(proc)
    # The crawl, with the server stopped, finds the table the example registered.
    crawled = shell(take("sh", "minerva crawl s3://lake/reviews/"), tmp_path)
    assert crawled.returncode == 0, crawled.stderr
    assert re.search(r"^reviews\s+\w+\s+csv\s", crawled.stdout, re.M), crawled.stdout
    # The reset empties it all; the server starts on a new data directory.
    reset = shell(take("sh", "minerva reset"), tmp_path)
    assert reset.returncode == 0, reset.stderr
    proc = started(command, url, tmp_path)
    try:
        s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id="minerva", aws_secret_access_key="minerva-secret",
                          region_name="us-east-1")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["aws-athena-query-results-000000000000-us-east-1"]
    finally:
        stopped(proc)

    # A config file with a second user: that user signs in, in an account of its own.
    users = take("toml", "[[users]]")
    port = free_port()
    config = tmp_path / "minerva.toml"
    config.write_text(f'address = "127.0.0.1:{port}"\ndata_dir = "{tmp_path / "with-users"}"\n' + users)
    proc = started([binary(), "serve", "--config", str(config)], f"http://127.0.0.1:{port}")
    try:
        sts = boto3.client("sts", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="alice",
                           aws_secret_access_key="alice-secret", region_name="us-east-1")
        assert sts.get_caller_identity()["Account"] == "111111111111"
    finally:
        stopped(proc)

    # The dbt profile is tests/dbt's (it runs dbt with this very block); the compose excerpt is
    # docker/docker-compose.yml's service (tests/test_docker.py runs that file).
    profile = yaml.safe_load(take("yaml", "minerva:"))["minerva"]["outputs"]["local"]
    assert profile["endpoint_url"] == url and profile["type"] == "athena"
    compose = yaml.safe_load(take("yaml", "services:"))["services"]["minerva"]
    tested = yaml.safe_load((ROOT / "docker" / "docker-compose.yml").read_text())["services"]["minerva"]
    assert compose["healthcheck"]["test"] == tested["healthcheck"]["test"]
    assert set(compose["environment"]) <= set(tested["environment"])
    assert [v.split(":")[1] for v in compose["volumes"]] == [v.split(":")[1] for v in tested["volumes"]]
    assert compose["build"]["dockerfile"] == tested["build"]["dockerfile"]

    # The Terraform provider block sends every service it manages here to the server, with the
    # README's keys, path-style S3 and no instance metadata.
    provider = take("hcl", 'provider "aws"')
    settings = dict(re.findall(r'^\s*(\w+)\s*=\s*"?([^"\n]*)"?\s*$', provider, re.M))
    assert (settings["region"], settings["access_key"], settings["secret_key"]) == ("us-east-1", "minerva", "minerva-secret")
    assert settings["s3_use_path_style"] == "true" and settings["skip_metadata_api_check"] == "true"
    endpoints = dict(re.findall(r'^\s*(\w+)\s*=\s*"(http[^"]*)"', provider, re.M))
    assert endpoints == {service: url for service in ("athena", "glue", "s3", "sts")}

    assert done == set(range(len(found))), [found[i][1][:60] for i in set(range(len(found))) - done]

"""The README's example runs as written, against a server of its own: the snippet users copy
first must not rot."""

import re
from pathlib import Path

import awswrangler as wr
import pandas as pd
import pytest

from conftest import ACCESS_KEY, SECRET_KEY, Server

pytestmark = pytest.mark.core

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_example_runs(workdir, monkeypatch):
    text = README.read_text()
    section = text[text.index("## Example: boto3 and awswrangler"):]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    server = Server(workdir / "readme-data", workdir / "readme.log").start()
    try:
        # Only where it runs and who signs differ from the README's defaults.
        for default, ours in (('"http://127.0.0.1:9000"', f'"{server.url}"'),
                              ('aws_access_key_id="minerva"', f'aws_access_key_id="{ACCESS_KEY}"'),
                              ('aws_secret_access_key="minerva-secret"', f'aws_secret_access_key="{SECRET_KEY}"')):
            assert default in snippet, default
            snippet = snippet.replace(default, ours)
        reviews = pd.DataFrame({
            "sentiment": [1, 0, 1, 1],
            "review_body": ["Great, fits well", "Broke after \"two\" days", "Fine\nreally", ""],
            "product_category": ["shoes", "toys", "toys", "shoes"],
        })
        monkeypatch.chdir(workdir)
        reviews.to_csv(workdir / "reviews.csv", index=False)
        saved = {s: getattr(wr.config, f"{s}_endpoint_url") for s in ("s3", "glue", "athena", "sts")}
        scope: dict = {}
        try:
            exec(compile(snippet, str(README), "exec"), scope)
        finally:
            for s, url in saved.items():
                setattr(wr.config, f"{s}_endpoint_url", url)
        df = scope["df"]
        assert df["product_category"].tolist() == ["shoes", "toys"]
        assert df["n"].tolist() == [2, 2]
        assert df["avg_sentiment"].tolist() == [1.0, 0.5]
    finally:
        server.stop()

"""The S3 clients of dataframe tools, reading and writing Parquet datasets: s3fs/fsspec (with
pandas), pyarrow's S3FileSystem (the AWS C++ SDK) and polars (Rust's object_store)."""

import io

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import s3fs

from conftest import ACCESS_KEY, REGION, SECRET_KEY, unique


def frame(n: int = 5000) -> pd.DataFrame:
    rng = np.random.default_rng(42)
    return pd.DataFrame({
        "id": np.arange(n, dtype="int64"),
        "category": rng.choice(["dresses", "knits", "tops"], n),
        "price": rng.random(n).round(2),
        "note": [f"row {i}, with \"quotes\" and ünïcode" for i in range(n)],
    })


@pytest.fixture
def fs(server):
    return s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, endpoint_url=server.url, client_kwargs={"region_name": REGION})


def options(server) -> dict:
    return {"key": ACCESS_KEY, "secret": SECRET_KEY, "endpoint_url": server.url, "client_kwargs": {"region_name": REGION}}


def new_bucket(s3, prefix: str) -> str:
    # Not fs.mkdir: s3fs names us-east-1 as a LocationConstraint, which S3 refuses there.
    name = unique(prefix)
    s3.create_bucket(Bucket=name)
    return name


def test_s3fs_and_pandas_parquet_dataset(server, s3, fs):
    bucket = new_bucket(s3, "fsspec")
    df = frame()
    df.to_parquet(f"s3://{bucket}/sales/", partition_cols=["category"], storage_options=options(server), index=False)
    parts = sorted(p.split("/")[-2] for p in fs.glob(f"{bucket}/sales/*/*.parquet"))
    assert parts == ["category=dresses", "category=knits", "category=tops"]
    back = pd.read_parquet(f"s3://{bucket}/sales/", storage_options=options(server))
    back["category"] = back["category"].astype(str)
    pd.testing.assert_frame_equal(back.sort_values("id").reset_index(drop=True)[df.columns], df, check_dtype=False)

    # File-like access: ranged reads, info, walk, copy, remove.
    path = f"{bucket}/raw/data.csv"
    with fs.open(path, "wb") as f:
        f.write(b"a,b\n" * 100_000)
    assert fs.info(path)["size"] == 400_000
    with fs.open(path, "rb", block_size=1024) as f:
        f.seek(399_996)
        assert f.read() == b"a,b\n"
    fs.copy(path, f"{bucket}/raw/copy.csv")
    assert fs.cat(f"{bucket}/raw/copy.csv", start=0, end=4) == b"a,b\n"
    assert sorted(fs.ls(f"{bucket}/raw/")) == [f"{bucket}/raw/copy.csv", f"{bucket}/raw/data.csv"]
    fs.rm(f"{bucket}/raw/", recursive=True)
    assert not fs.exists(path)
    assert s3.list_objects_v2(Bucket=bucket, Prefix="raw/")["KeyCount"] == 0


def test_pyarrow_s3filesystem_datasets(server, s3, fs):
    bucket = new_bucket(s3, "arrow")
    s3 = pafs.S3FileSystem(access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION, scheme="http",
                           endpoint_override=server.url.removeprefix("http://"))
    table = pa.Table.from_pandas(frame(), preserve_index=False)
    pq.write_to_dataset(table, f"{bucket}/ds", partition_cols=["category"], filesystem=s3)
    dataset = pads.dataset(f"{bucket}/ds", filesystem=s3, partitioning="hive")
    got = dataset.to_table().to_pandas().sort_values("id").reset_index(drop=True)
    got["category"] = got["category"].astype(str)
    pd.testing.assert_frame_equal(got[frame().columns], frame(), check_dtype=False)
    # Filter pushdown reads only one partition's files.
    only = dataset.to_table(filter=pads.field("category") == "knits")
    assert set(only.column("category").to_pylist()) == {"knits"}
    infos = s3.get_file_info(pafs.FileSelector(f"{bucket}/ds", recursive=True))
    assert sum(1 for i in infos if i.type == pafs.FileType.File) == 3
    with s3.open_input_file(next(i.path for i in infos if i.type == pafs.FileType.File)) as f:
        f.seek(0)
        assert f.read(4) == b"PAR1"
    s3.delete_dir(f"{bucket}/ds")
    assert not fs.exists(f"{bucket}/ds/category=knits")


def test_polars_reads_and_writes_parquet_on_s3(server, s3, fs):
    bucket = new_bucket(s3, "polars")
    storage = {"aws_endpoint_url": server.url, "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY,
               "aws_region": REGION, "aws_allow_http": "true"}
    df = pl.from_pandas(frame())
    df.write_parquet(f"s3://{bucket}/polars/sales.parquet", storage_options=storage)
    back = pl.read_parquet(f"s3://{bucket}/polars/sales.parquet", storage_options=storage)
    assert back.equals(df)
    # A hive-partitioned dataset written by pandas, scanned lazily with a glob.
    frame().to_parquet(f"s3://{bucket}/hive/", partition_cols=["category"], storage_options=options(server), index=False)
    totals = (
        pl.scan_parquet(f"s3://{bucket}/hive/**/*.parquet", storage_options=storage, hive_partitioning=True)
        .group_by("category").agg(pl.len().alias("n")).sort("category").collect()
    )
    want = frame().groupby("category").size()
    assert totals["n"].to_list() == want.tolist()
    raw = io.BytesIO(fs.cat(f"{bucket}/polars/sales.parquet"))
    assert pl.read_parquet(raw).height == 5000

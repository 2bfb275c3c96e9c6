"""The same tests on both lake backends: a local folder and an S3 API server (moto, real HTTP)."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.config.settings import Settings
from pipelines.resources.lake import LakeError, LakeKeyExists, LakeKeyNotFound, LocalLake, S3Lake, open_lake


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


@pytest.fixture(params=["local", "s3"])
def any_lake(request, tmp_path):
    if request.param == "local":
        return LocalLake(tmp_path / "lake")
    import boto3

    endpoint = request.getfixturevalue("s3_server")
    bucket = f"lake-{tmp_path.name.lower().replace('_', '-')[-30:]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return S3Lake(f"s3://{bucket}/prefix", endpoint=endpoint, max_attempts=2)


def test_roundtrip_bytes_json_parquet(any_lake):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    uri = any_lake.put_parquet("runs/p/2026-01-01/train.parquet", df)
    assert uri.endswith("runs/p/2026-01-01/train.parquet")
    pd.testing.assert_frame_equal(any_lake.get_parquet("runs/p/2026-01-01/train.parquet"), df)
    any_lake.put_json("r/x.json", {"k": 1})
    assert any_lake.get_json("r/x.json") == {"k": 1}
    assert any_lake.key_of(uri) == "runs/p/2026-01-01/train.parquet"


def test_list_is_recursive_and_sorted(any_lake):
    for k in ("raw/p/dt=2026-01-02/part-0000.parquet", "raw/p/dt=2026-01-01/part-0000.parquet", "other/x"):
        any_lake.put_bytes(k, b"1")
    assert any_lake.list("raw/p/") == ["raw/p/dt=2026-01-01/part-0000.parquet", "raw/p/dt=2026-01-02/part-0000.parquet"]
    assert any_lake.list("raw/missing/") == []


def test_immutable_write_refuses_overwrite(any_lake):
    any_lake.put_bytes("raw/p/k", b"first", overwrite=False)
    with pytest.raises(LakeKeyExists, match="immutable"):
        any_lake.put_bytes("raw/p/k", b"second", overwrite=False)
    assert any_lake.get_bytes("raw/p/k") == b"first"
    any_lake.put_bytes("raw/p/k", b"second", overwrite=True)
    assert any_lake.get_bytes("raw/p/k") == b"second"


def test_write_once_keeps_the_first_version(any_lake):
    uri, written = any_lake.write_json_once("runs/p/d/h/extract.json", {"v": 1})
    assert written and any_lake.get_json("runs/p/d/h/extract.json") == {"v": 1}
    uri2, written2 = any_lake.write_json_once("runs/p/d/h/extract.json", {"v": 2})
    assert (uri2, written2) == (uri, False) and any_lake.get_json("runs/p/d/h/extract.json") == {"v": 1}


def test_missing_and_corrupt_objects(any_lake):
    with pytest.raises(LakeKeyNotFound):
        any_lake.get_bytes("nope")
    assert not any_lake.exists("nope")
    any_lake.put_bytes("bad.parquet", b"not a parquet file")
    with pytest.raises(LakeError, match="corrupt or unreadable parquet"):
        any_lake.get_parquet("bad.parquet")


def test_local_key_cannot_escape_root(tmp_path):
    with pytest.raises(LakeError, match="escapes"):
        LocalLake(tmp_path).put_bytes("../outside", b"x")


def test_s3_missing_bucket_names_endpoint_and_bucket(s3_server):
    with pytest.raises(LakeError) as e:
        S3Lake("s3://no-such-bucket/x", endpoint=s3_server).put_bytes("k", b"1")
    assert "no-such-bucket" in str(e.value) and s3_server in str(e.value)


def test_s3_unreachable_endpoint_is_a_clear_error():
    with pytest.raises(LakeError, match=r"127\.0\.0\.1:9"):
        S3Lake("s3://bucket/x", endpoint="http://127.0.0.1:9", max_attempts=1).get_bytes("k")


def test_open_lake_picks_backend_from_settings(tmp_path):
    s = Settings.from_env({"MLOPS_HOME": str(tmp_path), "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "MLOPS_S3_MAX_ATTEMPTS": "1"})
    assert isinstance(open_lake(s), LocalLake)
    s3 = open_lake(s, "s3://bucket/pre")
    assert isinstance(s3, S3Lake) and s3.endpoint == "http://127.0.0.1:9" and s3.prefix == "pre"
    with pytest.raises(LakeError, match="unsupported lake URI"):
        open_lake(s, "gs://bucket")

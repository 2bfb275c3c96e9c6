"""The data-lake boundary: every read and write of partitions, snapshots and reports goes through here.

One interface, two backends chosen by the lake URI: a local folder (the embedded default) or an S3
bucket (`s3://bucket/prefix`, MinIO or AWS; endpoint and credentials from the standard AWS
environment variables). Keys are the same on both, e.g. `raw/bankchurn/dt=2026-01-05/part-0.parquet`.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config.settings import Settings


class LakeError(RuntimeError):
    """The lake could not be read or written; the message names the location."""


class LakeKeyNotFound(LakeError):
    pass


class LakeKeyExists(LakeError):
    """A write would overwrite an object that must stay immutable (raw partitions)."""


class Lake:
    """Base: byte-level primitives are backend-specific; typed helpers are shared."""

    root: str

    def uri(self, key: str) -> str:
        raise NotImplementedError

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = True) -> str:
        raise NotImplementedError

    def get_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def list(self, prefix: str) -> list[str]:
        """Keys under `prefix` (recursive), sorted."""
        raise NotImplementedError

    def key_of(self, uri: str) -> str:
        """Inverse of `uri`: the key of a URI inside this lake."""
        base = self.uri("")
        if not uri.startswith(base):
            raise LakeError(f"{uri} is not inside the lake {self.root}")
        return uri[len(base) :]

    # typed helpers -------------------------------------------------------------------------
    def put_parquet(self, key: str, df: pd.DataFrame, *, overwrite: bool = True) -> str:
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return self.put_bytes(key, buf.getvalue(), overwrite=overwrite)

    def get_parquet(self, key: str) -> pd.DataFrame:
        data = self.get_bytes(key)
        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise LakeError(f"corrupt or unreadable parquet object {self.uri(key)}: {e}") from e

    def put_json(self, key: str, obj: Any) -> str:
        return self.put_bytes(key, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def put_text(self, key: str, text: str, *, overwrite: bool = True) -> str:
        return self.put_bytes(key, text.encode(), overwrite=overwrite)

    def write_once(self, key: str, data: bytes) -> tuple[str, bool]:
        """Write an immutable run output; if it exists, keep the first version. Returns (uri, written)."""
        try:
            return self.put_bytes(key, data, overwrite=False), True
        except LakeKeyExists:
            return self.uri(key), False

    def write_json_once(self, key: str, obj: Any) -> tuple[str, bool]:
        return self.write_once(key, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())

    def write_parquet_once(self, key: str, df: pd.DataFrame) -> tuple[str, bool]:
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return self.write_once(key, buf.getvalue())


class LocalLake(Lake):
    def __init__(self, root: str | Path):
        self.root = str(Path(root).resolve())
        self._root = Path(self.root)

    def _path(self, key: str) -> Path:
        p = (self._root / key).resolve()
        if self._root not in p.parents and p != self._root:
            raise LakeError(f"key {key!r} escapes the lake root {self.root}")
        return p

    def uri(self, key: str) -> str:
        return f"{self.root}/{key}"

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = True) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temp file then move: readers never see half an object; `link` refuses to
        # replace an existing file atomically, which is how immutable writes stay race-free.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            if overwrite:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                except FileExistsError as e:
                    raise LakeKeyExists(f"{self.uri(key)} already exists and is immutable") from e
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as e:
            raise LakeKeyNotFound(f"no object {self.uri(key)}") from e

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self._root
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []
        return sorted(
            str(p.relative_to(self._root))
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )


class S3Lake(Lake):
    """S3 API backend (AWS, MinIO, moto). Retries transient errors (botocore standard mode)."""

    def __init__(self, uri: str, *, endpoint: str | None = None, region: str = "us-east-1", max_attempts: int = 5):
        import boto3
        from botocore.config import Config

        rest = uri[len("s3://") :]
        self.bucket, _, prefix = rest.partition("/")
        if not self.bucket:
            raise LakeError(f"lake URI {uri!r} names no bucket")
        self.prefix = prefix.strip("/")
        self.root = uri.rstrip("/")
        self.endpoint = endpoint
        cfg = Config(retries={"max_attempts": max_attempts, "mode": "standard"}, connect_timeout=5, read_timeout=60)
        # Credentials: boto3's own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, roles).
        self._s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, config=cfg)

    def _k(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _where(self) -> str:
        return f"bucket {self.bucket!r} at endpoint {self.endpoint or 'AWS default'}"

    def _fail(self, action: str, key: str, e: Exception) -> LakeError:
        from botocore.exceptions import ClientError

        if isinstance(e, ClientError):
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                return LakeKeyNotFound(f"no object {self.uri(key)} ({self._where()})")
            if code == "NoSuchBucket":
                return LakeError(f"{action} {self.uri(key)}: {self._where()} does not exist")
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
                return LakeError(f"{action} {self.uri(key)}: access denied to {self._where()} ({code}); check AWS credentials")
        return LakeError(f"{action} {self.uri(key)} failed on {self._where()}: {e}")

    def uri(self, key: str) -> str:
        return f"{self.root}/{key}"

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = True) -> str:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._k(key), "Body": data}
        if not overwrite:
            if self.exists(key):
                raise LakeKeyExists(f"{self.uri(key)} already exists and is immutable")
            kwargs["IfNoneMatch"] = "*"
        try:
            self._s3.put_object(**kwargs)
        except Exception as e:
            from botocore.exceptions import ClientError

            if isinstance(e, ClientError) and e.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                raise LakeKeyExists(f"{self.uri(key)} already exists and is immutable") from e
            raise self._fail("write", key, e) from e
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=self._k(key))["Body"].read()
        except Exception as e:
            raise self._fail("read", key, e) from e

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=self._k(key))
            return True
        except Exception as e:
            err = self._fail("check", key, e)
            if isinstance(err, LakeKeyNotFound):
                return False
            raise err from e

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._k(prefix))
            for page in pages:
                keys.extend(o["Key"][strip:] for o in page.get("Contents", []))
        except Exception as e:
            raise self._fail("list", prefix, e) from e
        return sorted(keys)


def open_lake(settings: Settings, root: str | None = None) -> Lake:
    """The lake named by `root` or by the settings (MLOPS_LAKE): a folder or s3://bucket/prefix."""
    root = root or settings.lake
    if root.startswith("s3://"):
        return S3Lake(root, endpoint=settings.aws_endpoint_url, region=settings.aws_region,
                      max_attempts=settings.s3_max_attempts)
    if "://" in root and not root.startswith("file://"):
        raise LakeError(f"unsupported lake URI {root!r}: use a folder path or s3://bucket/prefix")
    return LocalLake(root.removeprefix("file://"))

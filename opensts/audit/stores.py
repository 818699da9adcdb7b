"""Trail stores: where a Region's delivered trail files live — a folder, or an S3-compatible bucket.

Delivery ``put``s files into them (delivery.py); on a fleet node the trail reader lists and gets
the files of its Region's store, from every node (trail_reader.py). Keys are relative to the store
(``AWSLogs/…``); an S3 store's prefix is added and removed here.

Which store a Region's files go to comes from the config file (``trail_stores``): ``[audit.regions.R]``
(``folder`` or ``s3``), the older ``[audit.region_folders]``, and for every other Region the default:
``[audit.s3]``, else ``[audit] folder``, else ``DATA_DIR/trail``.

An S3 store answers or fails within seconds (short connect and read timeouts, two attempts): a
store that cannot be reached must cost delivery a bounded wait, never minutes of boto3's defaults.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from opensts.private_files import FILE_MODE, private_dir, private_opener

__all__ = ["TrailStore", "FolderStore", "S3Store", "trail_stores", "S3_TIMEOUTS", "ObjectError"]

#: boto3 client settings of every S3 store: seconds to connect and to read, attempts per call.
S3_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 5, "retries": {"total_max_attempts": 2, "mode": "standard"}}


class ObjectError(Exception):
    """One file cannot be read (gone since it was listed, not ours to read): the store itself
    answers, so a reader skips that file rather than stopping."""


class TrailStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """The file's bytes; ``ObjectError`` when that file cannot be read (any other error: the store's)."""
        ...

    def children(self, prefix: str) -> list[str]:
        """Names one level below ``prefix`` (a folder path ending in ``/``), as S3's delimiter lists them."""
        ...

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        """Keys of the files under ``prefix``, in key order, after ``start_after`` (lazily: a
        large store is never held in memory)."""
        ...


class FolderStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes) -> None:
        target = self.root / key
        private_dir(target.parent)
        tmp = target.with_suffix(".tmp")
        with open(tmp, "wb", opener=private_opener) as fh:
            os.fchmod(fh.fileno(), FILE_MODE)  # a .tmp left by an older version may be wider
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)

    def get(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            raise ObjectError(type(exc).__name__) from exc

    def children(self, prefix: str) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.root / prefix) if e.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        yield from self._walk(prefix.rstrip("/"), start_after)

    def _walk(self, rel: str, start_after: str) -> Iterator[str]:
        """Files under ``rel`` after ``start_after``, in key order (a folder's entries sorted by
        their name followed by ``/`` for folders: the keys' order); ``.tmp`` files are not keys.
        A folder whose keys all sort before ``start_after`` is not entered."""
        try:
            entries = list(os.scandir(self.root / rel))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in sorted(entries, key=lambda e: e.name + ("/" if e.is_dir() else "")):
            key = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_dir():
                below = key + "/"
                if below >= start_after or start_after.startswith(below):
                    yield from self._walk(key, start_after)
            elif key > start_after and not entry.name.endswith(".tmp"):
                yield key


class S3Store:
    """Any S3-compatible bucket, through boto3 (imported only when configured)."""

    def __init__(self, bucket: str, prefix: str = "", timeouts: Mapping[str, Any] = S3_TIMEOUTS,
                 **client_args: Any) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = boto3.client("s3", config=Config(**timeouts), **client_args)

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data, ContentType="application/json",
                               ContentEncoding="gzip")

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read())
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "AccessDenied", "InvalidObjectState", "404", "403"):
                raise ObjectError(code) from exc
            raise

    def children(self, prefix: str) -> list[str]:
        names: list[str] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._full(prefix),
                                                                      Delimiter="/")
        for page in pages:
            names += [self._relative(p["Prefix"])[len(prefix):].rstrip("/") for p in page.get("CommonPrefixes", [])]
        return names

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        args = {"Bucket": self.bucket, "Prefix": self._full(prefix)}
        if start_after:
            args["StartAfter"] = self._full(start_after)
        for page in self.client.get_paginator("list_objects_v2").paginate(**args):
            for item in page.get("Contents", []):
                yield self._relative(item["Key"])


def _s3(table: Mapping[str, Any]) -> S3Store:
    args = dict(table)
    return S3Store(args.pop("bucket"), args.pop("prefix", ""), **args)


def trail_stores(data_dir: Path, audit: Mapping[str, Any]) -> tuple[TrailStore, dict[str, TrailStore]]:
    """(the default store, the Regions' own stores) of an ``[audit]`` table (config.py checked it:
    each Region has one store, and each ``[audit.regions.R]`` one of ``folder`` and ``s3``)."""
    default: TrailStore = FolderStore(Path(audit.get("folder") or data_dir / "trail"))
    if audit.get("s3"):
        default = _s3(audit["s3"])
    own: dict[str, TrailStore] = {r: FolderStore(Path(p)) for r, p in (audit.get("region_folders") or {}).items()}
    for region, store in (audit.get("regions") or {}).items():
        own[region] = _s3(store["s3"]) if "s3" in store else FolderStore(Path(store["folder"]))
    return default, own

"""Where staged step results live: a local folder, or object storage shared by workers on several hosts.

``AUDIT_STAGING_URL`` is a base location: a plain path (the default, ``<AUDIT_VAR_DIR>/staging``),
``file://…``, ``s3://bucket/prefix``, ``gs://…`` or any other fsspec protocol (the same layer
Airflow's ObjectStoragePath is built on). Steps address a staged item by its full location string
(``join(base, day, "files", name)``), so XCom carries one short string per item and any worker that
can reach the base can read what another wrote: CeleryExecutor workers share no folder.

This module moves bytes only; what the bytes mean (the staging format) is staging.py's business.
Credentials come as fsspec storage options (``AUDIT_STAGING_OPTIONS``, JSON, e.g. an S3
``endpoint_url``) or from the protocol's usual environment (AWS_* variables for s3). Never Airflow:
a DAG that keeps them in an Airflow connection turns it into these options.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from functools import lru_cache
from pathlib import Path

from claimaudit.errors import ConfigurationError

_LOCAL = ("", "file", "local")


def _protocol(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def is_local(url: str) -> bool:
    return _protocol(url) in _LOCAL


def _local_path(url: str) -> Path:
    return Path(url.split("://", 1)[1] if "://" in url else url)


def join(base: str, *parts: str) -> str:
    """``base`` and parts joined with "/" (object keys) or the OS separator (a local folder)."""
    if is_local(base):
        return str(_local_path(base).joinpath(*parts))
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def storage_options(env: dict[str, str] | None = None) -> dict:
    """fsspec options for the staging URL from ``AUDIT_STAGING_OPTIONS`` (a JSON object)."""
    raw = (os.environ if env is None else env).get("AUDIT_STAGING_OPTIONS", "").strip()
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except ValueError:
        options = None
    if not isinstance(options, dict):
        raise ConfigurationError("AUDIT_STAGING_OPTIONS must be a JSON object of fsspec storage options")
    return options


@lru_cache(maxsize=8)
def _filesystem(protocol: str, options_json: str):
    import fsspec

    # One filesystem per protocol and options in a process (fsspec caches instances too):
    # a worker task reuses its S3 connection pool across the day's files.
    return fsspec.filesystem(protocol, **json.loads(options_json))


def _fs(url: str):
    return _filesystem(_protocol(url), json.dumps(storage_options(), sort_keys=True))


def write_bytes(url: str, data: bytes) -> None:
    """Store ``data`` at ``url`` whole or not at all: a reader never sees half an item.
    Locally through a temporary name and a rename; an object store's PUT is atomic by itself."""
    if is_local(url):
        path = _local_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return
    _fs(url).pipe_file(url, data)


def read_bytes(url: str) -> bytes:
    if is_local(url):
        return _local_path(url).read_bytes()
    return _fs(url).cat_file(url)


def open_read(url: str):
    """A binary file object to read ``url`` from start to end (a staged file is read once, in order)."""
    if is_local(url):
        return open(_local_path(url), "rb")
    # One GET into memory: fsspec's remote files lack readline(limit), which the header check uses.
    return io.BytesIO(read_bytes(url))


def list_names(url: str, suffix: str = "") -> list[str]:
    """Full locations of the items directly under ``url`` whose names end with ``suffix``,
    sorted; an absent folder or prefix is empty (nothing staged yet)."""
    if is_local(url):
        folder = _local_path(url)
        if not folder.is_dir():
            return []
        return sorted(str(p) for p in folder.iterdir() if p.is_file() and p.name.endswith(suffix)
                      and not p.name.endswith(".tmp"))
    fs = _fs(url)
    protocol = _protocol(url)
    try:
        found = fs.ls(url, detail=True, refresh=True)
    except FileNotFoundError:
        return []
    names = [f"{protocol}://{item['name']}" for item in found if item.get("type") == "file"]
    return sorted(n for n in names if n.endswith(suffix))


def remove_tree(url: str) -> None:
    """Drop everything staged under ``url`` (a day's staging); absent is fine."""
    if is_local(url):
        import shutil

        shutil.rmtree(_local_path(url), ignore_errors=True)
        return
    fs = _fs(url)
    try:
        fs.rm(url, recursive=True)
    except FileNotFoundError:
        pass
    fs.invalidate_cache(url)

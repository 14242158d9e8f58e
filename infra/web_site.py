"""The Segment Builder's files in the app's S3 bucket, as CloudFront serves them.

What a browser (and CloudFront) may cache is decided here, per file, as the
object's ``Cache-Control``: vite names every file under ``assets/`` by a hash of
its content, so such a name never gets other content and is cached for a year
(``immutable``); every other file (``index.html``, ``config.json``) is revalidated
on each load (``no-cache``), so a new deployment reaches the next visit.

Publishing keeps the site whole while it is replaced: the hashed assets first,
then the other files, ``index.html`` last, so no page is served before the files
it names; only then are the files of earlier builds that this one lacks deleted.
``config.json`` is written from the deployment (the API's URL), whatever the build
holds under that name.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CONFIG",
    "IMMUTABLE",
    "REVALIDATE",
    "Published",
    "cache_control",
    "content_type",
    "empty_bucket",
    "publish_site",
]

CONFIG = "config.json"
"""The app reads its API's URL from this file beside ``index.html`` (web/src/config.ts)."""

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

_HASHED = "assets/"
"""vite's ``build.assetsDir``: every file under it is named by a hash of its content."""

_TYPES = mimetypes.MimeTypes()  # the standard library's own table, not the machine's /etc/mime.types
_TYPES.add_type("text/javascript", ".js")  # RFC 9239 (Python 3.11 still says application/javascript)
_TYPES.add_type("text/javascript", ".mjs")
_TYPES.add_type("font/woff2", ".woff2")
_TYPES.add_type("font/woff", ".woff")
_TYPES.add_type("application/json", ".map")

_BATCH = 1000
"""Keys per DeleteObjects request (S3's limit)."""


@dataclass(frozen=True, slots=True)
class Published:
    """What one publication changed in the bucket."""

    uploaded: tuple[str, ...]
    deleted: tuple[str, ...]


def content_type(key: str) -> str:
    """The ``Content-Type`` of a file of the app, with the charset of its text (vite writes UTF-8)."""
    kind = _TYPES.guess_type(key)[0] or "application/octet-stream"
    textual = kind.startswith("text/") or kind in ("application/json", "image/svg+xml")
    return f"{kind}; charset=utf-8" if textual else kind


def cache_control(key: str) -> str:
    return IMMUTABLE if key.startswith(_HASHED) else REVALIDATE


def _upload_order(key: str) -> tuple[int, str]:
    return (0 if key.startswith(_HASHED) else 2 if key == "index.html" else 1, key)


def publish_site(s3: Any, bucket: str, folder: Path, api_url: str | None) -> Published:
    """Make ``bucket`` hold exactly the files of ``folder`` plus a ``config.json`` naming ``api_url``."""
    if not (folder / "index.html").is_file():
        raise FileNotFoundError(f"{folder} holds no index.html: the web app was not built into it")
    files = {path.relative_to(folder).as_posix(): path.read_bytes()
             for path in folder.rglob("*") if path.is_file()}
    files[CONFIG] = (json.dumps({"api": api_url}) + "\n").encode()
    before = set(_keys(s3, bucket))
    for key in sorted(files, key=_upload_order):
        s3.put_object(Bucket=bucket, Key=key, Body=files[key],
                      ContentType=content_type(key), CacheControl=cache_control(key))
    stale = sorted(before - files.keys())
    _delete(s3, bucket, stale)
    return Published(uploaded=tuple(sorted(files)), deleted=tuple(stale))


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object of ``bucket`` (so that CloudFormation can delete it); the count deleted.

    A bucket that no longer exists is already empty.
    """
    try:
        keys = list(_keys(s3, bucket))
    except s3.exceptions.NoSuchBucket:
        return 0
    _delete(s3, bucket, keys)
    return len(keys)


def _keys(s3: Any, bucket: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        yield from (item["Key"] for item in page.get("Contents", []))


def _delete(s3: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), _BATCH):
        batch = [{"Key": key} for key in keys[start:start + _BATCH]]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise RuntimeError(f"could not delete {len(answer['Errors'])} files of {bucket}, "
                               f"e.g. {first.get('Key')}: {first.get('Message')}")

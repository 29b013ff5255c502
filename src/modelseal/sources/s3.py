"""``s3://bucket/prefix``: every object under a prefix of an S3 (or S3-compatible) bucket, through boto3.

The objects are listed first (more than ``max_files`` is an error before anything is downloaded), then
copied into a local folder that mirrors the prefix, so the scanners, the manifest and the signature see
ordinary files. boto3's own configuration applies: credentials, region, and ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT_URL_S3``) for an S3-compatible server. The copy is refreshed on every resolution; objects
gone from the bucket are removed from it. The extra ``s3`` installs boto3.
"""

from __future__ import annotations

import posixpath
import shutil
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from modelseal.core.errors import SourceError
from modelseal.sources import S3_SCHEME
from modelseal.sources.interface import Resolved, ResolveOptions, Source
from modelseal.sources.local import walk


def parse_s3(target: str) -> tuple[str, str]:
    """(bucket, prefix without a trailing slash) of ``s3://bucket[/prefix]``."""
    bucket, _, prefix = target[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise SourceError(f"{target}: no bucket named", hint="write s3://bucket/prefix")
    return bucket, prefix.strip("/")


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("modelseal")) / "s3"


def _relpath(key: str, prefix: str) -> str | None:
    """The object's path below the prefix; None for folder markers and keys that would leave the folder."""
    rel = key[len(prefix) :].lstrip("/") if prefix else key
    if not rel or rel.endswith("/"):
        return None
    parts = PurePosixPath(rel).parts
    if any(p in ("..", ".") for p in parts) or posixpath.isabs(rel) or "\\" in rel:
        return None
    return rel


class S3Source(Source):
    """Objects under ``s3://bucket/prefix``, keyed in the lockfile by the target without a trailing slash."""

    scheme = S3_SCHEME

    def lock_key(self, target: str) -> str:
        bucket, prefix = parse_s3(target)
        return f"{S3_SCHEME}{bucket}/{prefix}" if prefix else f"{S3_SCHEME}{bucket}"

    def resolve(self, target: str, options: ResolveOptions) -> Resolved:
        if options.offline:
            raise SourceError(f"{target}: s3:// targets need the network", hint="drop --offline")
        bucket, prefix = parse_s3(target)
        client = _client()
        objects = _list(client, bucket, prefix, options.max_files, target)
        folder = (options.cache_dir or default_cache_dir()) / bucket / (prefix or "_root")
        _mirror(client, bucket, objects, folder, target)
        artifact = replace(walk(str(folder), max_files=options.max_files), source=target)
        return Resolved(artifact, self.lock_key(target))


def _client() -> Any:
    try:
        import boto3
    except ImportError:
        raise SourceError("s3:// targets need boto3", hint="pip install 'modelseal[s3]'") from None
    return boto3.client("s3")


def _list(client: Any, bucket: str, prefix: str, max_files: int, target: str) -> dict[str, str]:
    """relpath → key of every object under the prefix (a prefix names a folder: ``a/b`` is ``a/b/``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    found: dict[str, str] = {}
    listing = prefix + "/" if prefix else ""
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=listing):
            for obj in page.get("Contents", ()):
                rel = _relpath(obj["Key"], listing)
                if rel is None:
                    continue
                found[rel] = obj["Key"]
                if len(found) > max_files:
                    raise SourceError(
                        f"{target}: more than {max_files} files", hint="raise limits.max_files to scan it"
                    )
    except (BotoCoreError, ClientError) as exc:
        raise SourceError(f"{target}: cannot list the bucket ({exc})", hint=_CREDENTIALS) from None
    if not found:
        raise SourceError(f"{target}: no objects under this prefix", hint="check the bucket and prefix")
    return found


_CREDENTIALS = "check the AWS credentials, region and AWS_ENDPOINT_URL boto3 reads"


def _mirror(client: Any, bucket: str, objects: dict[str, str], folder: Path, target: str) -> None:
    """Download every object into ``folder`` (atomically per file) and remove files no longer listed."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        for rel, key in sorted(objects.items()):
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            client.download_file(bucket, key, str(partial))
            partial.replace(path)
        for path in sorted(folder.rglob("*"), reverse=True):
            rel = path.relative_to(folder).as_posix()
            if path.is_dir() and not path.is_symlink():
                if not any(path.iterdir()):
                    path.rmdir()
            elif rel not in objects:
                path.unlink()
    except (BotoCoreError, ClientError) as exc:
        raise SourceError(f"{target}: cannot download ({exc})", hint=_CREDENTIALS) from None
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise SourceError(f"{target}: cannot write the local copy in {folder} ({exc})") from None

"""``s3://bucket/prefix`` against a local S3-compatible server (moto's server mode) started by the tests."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelseal.cli.app import run
from modelseal.core.errors import SourceError
from modelseal.sources.resolve import resolve, source_key

# A pickle that would call os.system('echo hi') if loaded; modelseal only reads its opcodes.
DANGEROUS = b"\x80\x02cos\nsystem\nq\x00X\x07\x00\x00\x00echo hiq\x01\x85q\x02Rq\x03."
CLEAN = pickle.dumps({"w": [1.0, 2.0]}, protocol=4)


@pytest.fixture
def bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A bucket on a moto server on 127.0.0.1; boto3 finds it through AWS_ENDPOINT_URL."""
    server_mod = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for key, value in {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        client = boto3.client("s3")
        client.create_bucket(Bucket="models")
        client.put_object(Bucket="models", Key="team/bert/config.json", Body=b'{"model_type": "bert"}')
        client.put_object(Bucket="models", Key="team/bert/weights/model.pkl", Body=DANGEROUS)
        client.put_object(Bucket="models", Key="team/bert/clean.pkl", Body=CLEAN)
        client.put_object(Bucket="models", Key="team/bert-other/x.pkl", Body=DANGEROUS)  # another prefix
        yield client
    finally:
        server.stop()


def test_resolves_the_objects_under_the_prefix(bucket: Any, tmp_path: Path) -> None:
    res = resolve("s3://models/team/bert", cache_dir=tmp_path / "copies")
    assert [f.relpath for f in res.artifact.files] == ["clean.pkl", "config.json", "weights/model.pkl"]
    assert res.lock_key == source_key("s3://models/team/bert/") == "s3://models/team/bert"
    assert res.artifact.source == "s3://models/team/bert"
    assert (res.artifact.root / "weights" / "model.pkl").read_bytes() == DANGEROUS


def test_an_object_gone_from_the_bucket_leaves_the_copy(bucket: Any, tmp_path: Path) -> None:
    resolve("s3://models/team/bert", cache_dir=tmp_path)
    bucket.delete_object(Bucket="models", Key="team/bert/clean.pkl")
    res = resolve("s3://models/team/bert", cache_dir=tmp_path)
    assert [f.relpath for f in res.artifact.files] == ["config.json", "weights/model.pkl"]


def test_more_objects_than_max_files_fails_before_downloading(bucket: Any, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="more than 2 files"):
        resolve("s3://models/team/bert", max_files=2, cache_dir=tmp_path)
    assert not any(tmp_path.rglob("*.pkl"))


def test_missing_prefix_and_offline_are_errors_with_a_hint(bucket: Any, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as missing:
        resolve("s3://models/nothing-here", cache_dir=tmp_path)
    assert "no objects" in str(missing.value) and missing.value.diagnostics()
    with pytest.raises(SourceError, match="need the network"):
        resolve("s3://models/team/bert", offline=True)


def test_scan_command_reads_the_bucket(bucket: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["scan", "s3://models/team/bert", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1  # the dangerous pickle
    (target,) = doc["targets"]
    assert target["target"] == "s3://models/team/bert"
    assert {(f["rule_id"], f["file"]) for f in doc["findings"]} >= {
        ("MS-PICKLE-DANGEROUS-CALLABLE", "weights/model.pkl")
    }
    assert sorted(f["path"] for f in doc["files"]) == ["clean.pkl", "config.json", "weights/model.pkl"]


def test_lock_then_verify_a_bucket(bucket: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lockfile = tmp_path / "modelseal.lock"
    assert run(["lock", "s3://models/team/bert", "--lockfile", str(lockfile)]) == 0
    assert 'source = "s3://models/team/bert"' in lockfile.read_text()
    assert run(["verify", "s3://models/team/bert", "--locked", "--lockfile", str(lockfile)]) == 0
    bucket.put_object(Bucket="models", Key="team/bert/clean.pkl", Body=pickle.dumps([3], protocol=4))
    assert run(["verify", "s3://models/team/bert", "--locked", "--lockfile", str(lockfile)]) == 1
    assert "clean.pkl: content changed" in capsys.readouterr().out

"""Feeds: every kind of source, and hostile ones rejected by file and field with the previous cache kept."""

from __future__ import annotations

import json
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from modelseal.advisories import feeds
from modelseal.advisories.cache import AdvisoryCache
from modelseal.advisories.osv import FeedError
from modelseal.api.advisories import SyncRequest, sync

from .conftest import model_advisory, package_advisory, sha256, write_dump, write_feed

GOOD = sha256(b"bad weights")


def _sync(*sources: Path | str, allow: bool = False) -> Any:
    return sync(SyncRequest(tuple(str(s) for s in sources), allow_mass_withdrawal=allow))


def _hits(cache_path: Path) -> list[str]:
    with AdvisoryCache.open(cache_path) as cache:
        return [h.advisory for hits in cache.digest_hits([GOOD]).values() for h in hits]


@pytest.fixture
def synced(tmp_path: Path, cache_path: Path) -> Path:
    """A cache holding four active advisories, one of them listing ``GOOD``."""
    docs = [model_advisory("MAL-2026-0100", files=(GOOD,))]
    docs += [model_advisory(f"MAL-2026-010{i}", files=(sha256(bytes([i])),)) for i in range(1, 4)]
    _sync(write_feed(tmp_path / "base", docs))
    return cache_path


def test_sources_folder_file_zip_and_git_checkout(tmp_path: Path, cache_path: Path) -> None:
    one = write_feed(tmp_path / "one", [model_advisory("MAL-2026-0200", files=(GOOD,))])
    single = tmp_path / "single.json"
    single.write_text(json.dumps(package_advisory("PYSEC-2026-1", "torch", fixed="2.6.0")))
    dump = write_dump(
        tmp_path / "PyPI" / "all.zip", [package_advisory("GHSA-2222-3333-4444", "onnx", fixed="1.17.0")]
    )
    write_feed(tmp_path / "repo" / "advisories", [model_advisory("MAL-2026-0201", manifests=(GOOD,))])
    (tmp_path / "repo" / ".git").mkdir()
    (tmp_path / "repo" / ".git" / "junk.json").write_text("not json")  # a git folder's insides are skipped
    report = _sync(one, single, dump, tmp_path / "repo")
    assert (report.read, report.added, report.active) == (4, 4, 4)
    assert sorted(_hits(cache_path)) == ["MAL-2026-0200", "MAL-2026-0201"]


def test_url_feed_from_a_local_server(tmp_path: Path, serve: Any, cache_path: Path) -> None:
    write_dump(tmp_path / "www" / "all.zip", [model_advisory("MAL-2026-0300", files=(GOOD,))])
    (tmp_path / "www" / "one.json").write_text(json.dumps(model_advisory("MAL-2026-0301", files=(GOOD,))))
    root = str(tmp_path / "www")

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=root, **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = serve(Handler)
    _sync(f"{server.url}/all.zip", f"{server.url}/one.json")
    assert sorted(_hits(cache_path)) == ["MAL-2026-0300", "MAL-2026-0301"]
    with pytest.raises(FeedError, match="cannot fetch"):
        _sync(f"{server.url}/absent.json")


def test_download_over_the_limit_is_refused(
    tmp_path: Path, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "big.json").write_text(json.dumps(model_advisory("MAL-2026-0302", files=(GOOD,))))
    root = str(tmp_path)

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=root, **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    monkeypatch.setattr(feeds, "MAX_DOWNLOAD_BYTES", 100)
    with pytest.raises(FeedError, match=r"big\.json: \(download\): larger than 100 bytes"):
        _sync(f"{serve(Handler).url}/big.json")


def _bad(tmp_path: Path, name: str, content: str | bytes) -> Path:
    folder = tmp_path / "bad"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _record(**changes: Any) -> str:
    doc = model_advisory("MAL-2026-0400", files=(sha256(b"x"),))
    doc.update(changes)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("content", "field", "problem"),
    [
        ("{not json", r"\(document\)", "not JSON"),
        ('"a string"', r"\(record\)", "JSON object"),
        (json.dumps({"modified": "2026-01-01T00:00:00Z"}), "id", "is required"),
        (_record(modified="yesterday"), "modified", "RFC 3339"),
        (
            _record(affected=[{"database_specific": {"modelseal": {"files": ["md5:abc"]}}}]),
            r"files\[0\]",
            "sha256",
        ),
        (
            _record(affected=[{"database_specific": {"modelseal": {"files": "sha256:x"}}}]),
            "files",
            "must be a list",
        ),
        (_record(affected=[{"package": {"ecosystem": "GIT", "name": "x"}}]), "affected", "names neither"),
    ],
)
def test_malformed_record_is_rejected_by_file_and_field_and_the_cache_stays(
    tmp_path: Path, synced: Path, content: str, field: str, problem: str
) -> None:
    good = write_feed(tmp_path / "good", [model_advisory("MAL-2026-0401", files=(GOOD,))])
    bad = _bad(tmp_path, "MAL-2026-0400.json", content)
    with pytest.raises(FeedError, match=rf"MAL-2026-0400\.json.*{field}: .*{problem}"):
        _sync(good, bad.parent)  # the good feed read first is rolled back with the bad one
    assert _hits(synced) == ["MAL-2026-0100"]
    with AdvisoryCache.open(synced) as cache:
        assert cache.status().active == 4


def test_unparseable_range_names_the_event(tmp_path: Path, synced: Path) -> None:
    doc = package_advisory("PYSEC-2026-2", "torch", fixed="2.6.0")
    doc["affected"][0]["ranges"][0]["events"][1] = {"fixed": "not a version!"}
    bad = _bad(tmp_path, "PYSEC-2026-2.json", json.dumps(doc))
    with pytest.raises(FeedError, match=r"affected\[0\]\.ranges\[0\]\.events\[1\]\.fixed: .*PEP 440"):
        _sync(bad)
    assert _hits(synced) == ["MAL-2026-0100"]


def test_huge_document_is_refused_before_it_is_read(
    tmp_path: Path, synced: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feeds, "MAX_DOCUMENT_BYTES", 1000)
    bad = _bad(tmp_path, "huge.json", _record(details="x" * 5000))
    with pytest.raises(FeedError, match=r"huge\.json: \(document\): larger than 1000 bytes"):
        _sync(bad)
    dump = write_dump(tmp_path / "all.zip", [json.loads(_record(details="x" * 5000))])
    with pytest.raises(FeedError, match=r"all\.zip!/MAL-2026-0400\.json: \(document\)"):
        _sync(dump)
    assert _hits(synced) == ["MAL-2026-0100"]


def test_feed_that_withdraws_everything_is_refused(tmp_path: Path, synced: Path) -> None:
    later = "2026-06-01T00:00:00Z"
    ids = ["MAL-2026-0100", "MAL-2026-0101", "MAL-2026-0102", "MAL-2026-0103"]
    wipe = write_feed(tmp_path / "wipe", [model_advisory(i, modified=later, withdrawn=later) for i in ids])
    with pytest.raises(FeedError, match=r"wipe: withdrawn: would withdraw 4 of 4 active advisories"):
        _sync(wipe)
    assert _hits(synced) == ["MAL-2026-0100"]
    report = _sync(wipe, allow=True)  # said on purpose
    assert report.active == 0 and _hits(synced) == []


def test_missing_source(tmp_path: Path, synced: Path) -> None:
    with pytest.raises(FeedError, match="no such file"):
        _sync(tmp_path / "absent")
    assert _hits(synced) == ["MAL-2026-0100"]


def test_cli_rejects_a_bad_feed_with_exit_2(
    tmp_path: Path, synced: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelseal.cli.app import run

    bad = _bad(tmp_path, "broken.json", "{")
    assert run(["advisories", "sync", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken.json: (document): not JSON" in err and "previous advisory cache is still in use" in err
    assert _hits(synced) == ["MAL-2026-0100"]


def test_a_broken_cache_file_is_an_error_not_a_crash(tmp_path: Path, cache_path: Path) -> None:
    from modelseal.core.errors import ModelsealError

    cache_path.parent.mkdir(parents=True)
    cache_path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ModelsealError, match="not a usable advisory cache"):
        _sync(write_feed(tmp_path / "f", [model_advisory("MAL-2026-0500", files=(GOOD,))]))


def test_fixture_records_are_checked_against_the_official_schema() -> None:
    """The builders validate every record they make; the schema check has teeth."""
    import jsonschema

    from .conftest import validate

    doc = model_advisory("MAL-2026-0600", files=(GOOD,))
    del doc["modified"]
    with pytest.raises(jsonschema.ValidationError, match="'modified' is a required property"):
        validate(doc)
    doc = package_advisory("GHSA-xxxx-yyyy-zzzz", "torch", fixed="2.6.0")
    doc["affected"][0]["ranges"][0]["events"] = [{"fixed": "2.6.0"}]
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)

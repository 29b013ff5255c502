"""The cyclic collector is paused for one file's analysis and back on after it, whatever happened."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from modelseal.api.scanning import context_for, scan_file
from modelseal.core import collector
from modelseal.core.artifact import FileEntry
from modelseal.core.collector import collector_paused
from modelseal.core.config import Config
from modelseal.scanners.pickle import machine


def test_paused_for_the_block_and_back_on_after_an_error() -> None:
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        assert not gc.isenabled()
        raise ValueError("the analysis failed")
    assert gc.isenabled()


def test_nested_blocks_leave_it_to_the_outermost() -> None:
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_left_off_when_the_caller_had_it_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_cycles_made_while_paused_do_not_pile_up_past_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file of many pickles that each leave cycles (garbage only the collector frees): each pickle's end
    collects once the young generation passes the ceiling, so they never pile up until the file is done."""
    monkeypatch.setattr(collector, "YOUNG_CEILING", 10_000)
    gc.collect()
    with collector_paused():
        for _ in range(20):
            with collector_paused():  # one pickle
                for _ in range(3_000):
                    cycle: list[object] = []
                    cycle.append(cycle)
            assert gc.get_count()[0] <= 10_000 + 3_000 + 500
    assert gc.isenabled()


def test_a_caller_that_turned_it_off_gets_no_collections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "YOUNG_CEILING", 10)
    gc.collect()
    gc.disable()
    try:
        with collector_paused(), collector_paused():
            garbage = [[] for _ in range(100)]
            for item in garbage:
                item.append(item)
            del garbage, item
        assert gc.get_count()[0] >= 100  # nothing collected behind the caller's back
    finally:
        gc.enable()
        gc.collect()


def test_a_file_is_scanned_with_it_paused_and_its_records_freed_before_it_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pickle machine's records are freed by reference count when the file is done; the collector's
    first walk after the scan meets none of them."""
    import pickle

    path = tmp_path / "many.pkl"
    path.write_bytes(pickle.dumps([(i, str(i)) for i in range(20_000)], protocol=4))
    states: list[bool] = []
    run = machine.Machine.run

    def recording(self: machine.Machine) -> machine.PickleReport:
        states.append(gc.isenabled())
        report = run(self)
        states.append(gc.isenabled())  # still off: the report holds the records until the file is done
        return report

    monkeypatch.setattr(machine.Machine, "run", recording)
    tracked = len(gc.get_objects())
    fmt, findings, _, _ = scan_file(FileEntry("many.pkl", path, path.stat().st_size), context_for(Config()))
    assert (fmt, findings) == ("pickle", [])
    assert states == [False, False]
    assert gc.isenabled()
    assert len(gc.get_objects()) - tracked < 2_000  # not the 40 000 records of the pickle

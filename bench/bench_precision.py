"""Precision and recall on the same corpora: modelseal next to picklescan, modelaudit and modelscan.

The benign corpus is what the ecosystem's libraries save, built by the real libraries with the test suite's
builders (``tests/corpus/build.py``, ``tests/scanners/benign.py``, the benign light-install cases); the
malicious corpus is the test suite's techniques (``tests/scanners/malicious.py``) plus the format-level
attacks of ``tests/formats/test_light_install.py`` (ONNX custom domains and traversal, Keras Lambda layers,
HDF5 external links, external storage and virtual datasets). Every tool scans every case in its own
process, in the same run, at its defaults (modelseal with ``--fail-on medium``: stricter than its default,
the bar the benign corpus test holds it to). A case counts as flagged when the tool exits with its
"issues found" code; crashes and "unsupported" are shown apart.

Peers come from ``bench/.venv-peers`` (created on first use: ``pip install picklescan modelscan
modelaudit``); modelseal runs from this checkout with this interpreter.

Usage: ``python bench/bench_precision.py [--workdir DIR] [--jobs 2] [--only benign|malicious]``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / ".venv-peers"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("PROMPTFOO_DISABLE_TELEMETRY", "1")  # modelaudit would otherwise phone home per run

FLAG, CLEAN, ERROR = "FLAG", "ok", "err"
# Exit codes that mean "issues found" / "clean"; anything else is an error or "nothing scanned".
MODELSEAL = [sys.executable, "-c", "from modelseal.cli.app import console; console()", "scan"]
TOOLS: dict[str, tuple[Callable[[Path], list[str]], set[int], set[int]]] = {
    "modelseal": (lambda p: [*MODELSEAL, "--fail-on", "medium", str(p)], {1}, {0}),
    "picklescan": (lambda p: [str(PEERS / "bin" / "picklescan"), "-p", str(p)], {1}, {0}),
    "modelaudit": (lambda p: [str(PEERS / "bin" / "modelaudit"), "scan", str(p)], {1}, {0}),
    "modelscan": (lambda p: [str(PEERS / "bin" / "modelscan"), "-p", str(p)], {1}, {0}),
}


def ensure_peers() -> None:
    if not (PEERS / "bin" / "modelaudit").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        pip = [str(PEERS / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, "picklescan", "modelscan", "modelaudit"], check=True)


Case = tuple[str, Callable[[Path], Path]]


def benign_cases() -> list[Case]:
    from tests.corpus.build import BUILDERS, REQUIRES
    from tests.scanners.benign import BUILDERS as BASIC

    out: list[Case] = []
    for name, build in sorted(BUILDERS.items()):
        if all(importlib.util.find_spec(m) for m in REQUIRES[name]):
            out.append((f"ecosystem/{name}", build))
    out += [(f"basic/{name}", build) for name, build in sorted(BASIC.items())]
    return out + _light_cases(benign=True)


def malicious_cases() -> list[Case]:
    from tests.scanners.malicious import BUILDERS

    return [(f"pickle/{n}", b) for n, b in sorted(BUILDERS.items())] + _light_cases(benign=False)


def _light_cases(benign: bool) -> list[Case]:
    """The light-install test's files, built once into a shared folder; each case copies its file out."""
    try:
        from tests.formats.test_light_install import build
    except BaseException:  # pytest's Skipped when onnx, h5py or keras is missing
        return []
    shared = Path(tempfile.mkdtemp(prefix="light-"))
    rules = build(shared)

    def copier(name: str) -> Callable[[Path], Path]:
        def copy(tmp: Path) -> Path:
            return Path(shutil.copy2(shared / name, tmp / name))

        return copy

    return [(f"format/{n}", copier(n)) for n, rule in sorted(rules.items()) if (not rule) == benign]


def run_tool(tool: str, path: Path, cwd: Path) -> str:
    command, flagged, clean = TOOLS[tool]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}  # modelseal from this checkout, from any folder
    try:
        done = subprocess.run(command(path), capture_output=True, cwd=cwd, env=env, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ERROR
    if done.returncode in flagged:
        return FLAG
    return CLEAN if done.returncode in clean else f"{ERROR}{done.returncode}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, help="where the corpora are built (default: a temporary folder)")
    ap.add_argument("--jobs", type=int, default=2, help="cases scanned at once (default: 2)")
    ap.add_argument("--only", choices=("benign", "malicious"))
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset (default: all four)")
    args = ap.parse_args()
    tools = args.tools.split(",")
    if set(tools) - {"modelseal"}:
        ensure_peers()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-precision-"))
    corpora = {"benign": benign_cases, "malicious": malicious_cases}
    totals: dict[str, dict[str, dict[str, int]]] = {}
    for kind, make in corpora.items():
        if args.only and kind != args.only:
            continue
        cases = make()
        built: list[tuple[str, Path]] = []
        for name, build in cases:
            folder = work / kind / name.replace("/", "__")
            folder.mkdir(parents=True, exist_ok=True)
            built.append((name, build(folder)))
        started = time.monotonic()
        with ThreadPoolExecutor(args.jobs) as pool:
            verdicts = list(pool.map(lambda c: [run_tool(t, c[1], work) for t in tools], built))
        print(f"\n{kind} corpus: {len(built)} cases, scanned in {time.monotonic() - started:.0f} s")
        print(f"{'case':58} " + " ".join(f"{t:>11}" for t in tools))
        for (name, _), row in zip(built, verdicts, strict=True):
            print(f"{name[:58]:58} " + " ".join(f"{v:>11}" for v in row))
        totals[kind] = {
            t: {
                "flagged": sum(row[i] == FLAG for row in verdicts),
                "errors": sum(row[i].startswith(ERROR) for row in verdicts),
                "cases": len(verdicts),
            }
            for i, t in enumerate(tools)
        }
    print("\nsummary (flagged / cases; errors apart)")
    for kind, per_tool in totals.items():
        label = "false alarms" if kind == "benign" else "detections"
        cells = [f"{t} {v['flagged']}/{v['cases']} (err {v['errors']})" for t, v in per_tool.items()]
        print(f"  {kind:9} {label:12}: " + "; ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The registry under load, against PostgreSQL on loopback: 50 concurrent CI uploads of realistic scan
reports (about 200 findings each) while gate queries run at a fixed rate for a fixed time. Prints the
errors, the rows counted afterwards (nothing lost) and min / p50 / p99 / max latency of each kind.

    PYTHONPATH=src:. python3 bench/bench_server.py [--uploads 50] [--findings 200] [--qps 500] [--seconds 60]

It starts a throw-away PostgreSQL (Debian's package; as the ``postgres`` user when run as root) and
``modelseal serve`` on it, in a subprocess, so the client's threads do not share the server's GIL.
There is no peer: no other tool serves model verdicts; the figures stand alone.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.server.conftest import scan_report
from tests.server.pg import create_database, free_port, throwaway_postgres

PREVIOUS = (
    "gate 89/s sustained at a scheduled 500/s (p50 116 s, p99 273 s: backlog), uploads p50 12.2 s / "
    "p99 24.0 s; 2 processes, load ~11, before the gate cache (main 78dfc66, stop 23)"
)


def realistic_reports(count: int, findings: int, root: Path) -> list[bytes]:
    """``count`` reports of distinct models (distinct digests), each with ``findings`` findings: a real
    scan's findings repeated over many files, as a big checkpoint folder gives."""
    base = scan_report(root / "model")
    reports = []
    for i in range(count):
        doc = copy.deepcopy(base)
        digest = f"sha256:{i:064x}"
        doc["targets"][0]["manifest_digest"] = digest
        doc["targets"][0]["target"] = f"org/model-{i:03d}"
        files = [
            dict(doc["files"][0], path=f"shard-{n:04d}.pkl", digest=f"sha256:{i:032x}{n:032x}")
            for n in range(findings)
        ]
        template = doc["findings"][0]
        doc["files"] = files
        doc["findings"] = [dict(template, file=f["path"]) for f in files]
        doc["targets"][0]["files"] = len(files)
        doc["summary"]["findings"] = len(doc["findings"])
        reports.append(json.dumps(doc).encode())
    return reports


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"min {ordered[0] * 1000:7.1f}  p50 {statistics.median(ordered) * 1000:7.1f}  "
        f"p99 {p99 * 1000:7.1f}  max {ordered[-1] * 1000:7.1f} ms"
    )


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up PostgreSQL and the server
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--findings", type=int, default=200)
    parser.add_argument("--qps", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--gate-threads", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="server processes (serve --workers)")
    args = parser.parse_args()
    from modelseal.api import create_token

    work = Path(tempfile.mkdtemp(prefix="modelseal-bench-"))
    reports = realistic_reports(args.uploads, args.findings, work)
    with throwaway_postgres(durable=True) as admin_url:
        url = create_database(admin_url, "registry")
        token = create_token("bench", "uploader", url)
        port = free_port()
        env = os.environ | {"MODELSEAL_DATABASE_URL": url, "PYTHONPATH": "src"}
        log = (work / "server.log").open("w")
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from modelseal.cli.app import main; main()",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--audit-log",
                str(work / "audit.sqlite"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            return run(args, port, token, reports, url, work)
        finally:
            server.terminate()
            server.wait(20)
            log.close()


def request(
    conn: http.client.HTTPConnection, method: str, path: str, token: str, body: bytes | None = None
) -> int:
    headers = {"Authorization": f"Bearer {token}"} | ({"Content-Type": "application/json"} if body else {})
    conn.request(method, path, body, headers)
    response = conn.getresponse()
    response.read()
    return response.status


def run(args: argparse.Namespace, port: int, token: str, reports: list[bytes], url: str, work: Path) -> int:
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            request(conn, "GET", "/login", token)
            break
        except OSError:
            if time.monotonic() > deadline:
                print((work / "server.log").read_text())
                return 2
            time.sleep(0.2)
    # one model known before the load, so that gate queries have something to answer
    seed = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    assert request(seed, "POST", "/api/v1/projects/bench/scans", token, reports[0]) == 201
    digests = [json.loads(r)["targets"][0]["manifest_digest"] for r in reports]
    upload_times: list[float] = []
    gate_times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + args.seconds

    def upload(body: bytes) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        start = time.monotonic()
        try:
            status = request(conn, "POST", "/api/v1/projects/bench/scans", token, body)
        except OSError as exc:
            status = str(exc)  # type: ignore[assignment]
        with lock:
            upload_times.append(time.monotonic() - start)
            if status != 201:
                errors.append(f"upload: {status}")

    def gates(offset: int) -> None:
        """Open loop: query i is due at start + i / qps; latency is measured from when it was due."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        interval = args.gate_threads / args.qps
        due = time.monotonic() + offset * interval / args.gate_threads
        n = 0
        while due < stop:
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            digest = digests[0] if n % 2 == 0 else digests[(n * 7 + offset) % len(digests)]
            try:
                status = request(conn, "GET", f"/api/v1/gate?digest={digest}&env=dev", token)
            except OSError as exc:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = str(exc)  # type: ignore[assignment]
            elapsed = time.monotonic() - due
            with lock:
                gate_times.append(elapsed)
                if status not in (200, 404):  # 404: that model's upload has not landed yet
                    errors.append(f"gate: {status}")
            due += interval
            n += 1

    started = time.monotonic()
    with ThreadPoolExecutor(args.uploads + args.gate_threads) as pool:
        gate_jobs = [pool.submit(gates, i) for i in range(args.gate_threads)]
        upload_jobs = [pool.submit(upload, body) for body in reports[1:]] + [pool.submit(upload, reports[0])]
        for job in upload_jobs + gate_jobs:
            job.result()
    wall = time.monotonic() - started

    import psycopg

    with psycopg.connect(url) as conn:
        count = lambda table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: E731
        scans, findings, models = count("scans"), count("findings"), count("model_versions")
    expected_scans = len(reports) + 1
    lost = (expected_scans - scans) + (expected_scans * args.findings - findings) + (len(reports) - models)
    print(
        f"modelseal registry on PostgreSQL (loopback), {args.workers} server processes, "
        f"{os.cpu_count()} CPUs seen, load average {os.getloadavg()[0]:.1f}; "
        "load from other jobs not controlled"
    )
    print(
        f"uploads: {len(upload_times)} concurrent, {args.findings} findings each   "
        f"{percentiles(upload_times)}"
    )
    print(
        f"gate:    {len(gate_times)} queries in {wall:.1f} s = {len(gate_times) / wall:.0f}/s "
        f"(target {args.qps}/s)   "
        f"{percentiles(gate_times)}"
    )
    print(f"previous: {PREVIOUS}")
    print(f"errors: {len(errors)} {sorted(set(errors))[:5]}")
    print(
        f"rows after: scans {scans}/{expected_scans}, findings {findings}/{expected_scans * args.findings}, "
        f"model versions {models}/{len(reports)}; lost {lost}"
    )
    return 0 if not errors and lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

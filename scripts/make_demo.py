"""Generate demo models: benign ones written by the real libraries, malicious ones beside them.

The malicious payloads only echo a message; nothing here ever loads a model. Usage:
``python scripts/make_demo.py demo`` then ``modelseal scan demo/benign demo/malicious``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import sys
import zipfile
from pathlib import Path

PAYLOAD = "echo modelseal-demo-payload-would-run-here"


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (PAYLOAD,)


def benign(root: Path) -> None:
    import joblib
    import numpy as np
    import torch
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    folder = root / "tiny-bert-like"
    folder.mkdir(parents=True)
    torch.save(net.state_dict(), folder / "pytorch_model.bin")
    (folder / "config.json").write_text(json.dumps({"architectures": ["TinyNet"], "hidden_size": 32}))
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# tiny demo model\n")
    torch.save(net, root / "whole_module.pt")
    x = np.random.default_rng(0).normal(size=(40, 3))
    clf = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, random_state=0)).fit(
        x, x[:, 0] > 0
    )
    joblib.dump(clf, root / "sklearn_pipeline.joblib.gz", compress=("gzip", 3))
    np.savez(root / "embeddings.npz", vectors=np.ones((4, 8), dtype=np.float32))


def malicious(root: Path) -> None:
    root.mkdir(parents=True)
    evil = pickle.dumps(_Payload(), protocol=2)
    (root / "reduce_os_system.pkl").write_bytes(evil)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", evil)
        zf.writestr("archive/version", "3\n")
    (root / "checkpoint_with_payload.pt").write_bytes(buf.getvalue())
    (root / "model.safetensors").write_bytes(evil)  # a pickle under a safe format's name
    (root / "sklearn_model.joblib.gz").write_bytes(
        gzip.compress(pickle.dumps({"clf": _Payload()}, protocol=4))
    )
    (root / "nested.pkl").write_bytes(pickle.dumps({"w": evil, "loader": pickle.loads}, protocol=4))


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "demo")
    if out.exists() and any(out.iterdir()):
        print(f"{out} exists and is not empty; choose another folder", file=sys.stderr)
        return 2
    benign(out / "benign")
    malicious(out / "malicious")
    print(f"demo models written to {out}/benign and {out}/malicious", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

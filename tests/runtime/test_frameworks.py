"""The guard on keras ``load_model`` and transformers ``from_pretrained`` (local folders and hub ids laid out
in a Hugging Face cache exactly as the hub writes it). Each runs in a fresh interpreter, offline, because
these frameworks read their settings (backend, cache, offline mode) once at import."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=full_env,
        timeout=300,
    )


@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras is not installed")
def test_keras_load_model(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    done = _run(
        f"""
        import os, keras, numpy as np
        from modelseal.core.config import Config
        from modelseal.runtime import ModelBlocked, guard
        marker = {str(marker)!r}
        payload = keras.layers.Lambda(lambda x: (open(marker, "w").close(), x)[1])
        evil = keras.Sequential([keras.Input((3,)), payload])
        evil.save("evil.keras")
        os.remove(marker)  # building the model ran the lambda once, here, before the guard
        clean = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        clean.save("clean.keras")
        guard(config=Config())
        try:
            keras.models.load_model("evil.keras", safe_mode=False)
            print("LOADED")
        except ModelBlocked as exc:
            print("BLOCKED", exc)
        print("MARKER", os.path.exists(marker))
        again = keras.saving.load_model("clean.keras")
        same = all(np.array_equal(a, b) for a, b in zip(again.get_weights(), clean.get_weights()))
        print("CLEAN", same)
    """,
        tmp_path,
        KERAS_BACKEND="torch",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "BLOCKED modelseal blocked keras.models.load_model('evil.keras')" in done.stdout
    assert "MS-KERAS-LAMBDA" in done.stdout
    assert "MARKER False" in done.stdout and "CLEAN True" in done.stdout
    assert not marker.exists()


@pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None,
    reason="transformers and torch are not installed",
)
def test_transformers_from_pretrained(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    done = _run(
        f"""
        import os, shutil, torch
        from pathlib import Path
        from transformers import AutoModel, BertConfig, BertModel
        from modelseal.core.config import Config
        from modelseal.runtime import ModelBlocked, guard

        class Shell:
            def __reduce__(self):
                return (os.system, ("touch {marker}",))

        config = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                            intermediate_size=8, max_position_embeddings=16)
        clean = BertModel(config)
        clean.save_pretrained("clean")
        evil = Path("evil")
        evil.mkdir()
        config.save_pretrained(evil)
        torch.save({{"x": Shell()}}, evil / "pytorch_model.bin")
        # the same files as the hub cache lays them out: blobs, snapshots/<commit>, refs/main
        repo = Path(os.environ["HF_HUB_CACHE"]) / "models--acme--tiny-bert"
        commit = "0123456789abcdef0123456789abcdef01234567"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(commit)
        (repo / "blobs").mkdir()
        (repo / "snapshots" / commit).mkdir(parents=True)
        for f in evil.iterdir():
            blob = repo / "blobs" / f.name.replace(".", "_")
            shutil.copy(f, blob)
            snapshot = repo / "snapshots" / commit
            (snapshot / f.name).symlink_to(os.path.relpath(blob, snapshot))

        guard(config=Config())
        for label, call in [("auto", lambda: AutoModel.from_pretrained("evil")),
                            ("class", lambda: BertModel.from_pretrained("evil")),
                            ("hub", lambda: AutoModel.from_pretrained("acme/tiny-bert"))]:
            try:
                call()
                print(label, "LOADED")
            except ModelBlocked as exc:
                print(label, "BLOCKED", exc)
        print("MARKER", os.path.exists("{marker}"))
        loaded = AutoModel.from_pretrained("clean")
        pairs = zip(loaded.state_dict().values(), clean.state_dict().values())
        same = all(torch.equal(a, b) for a, b in pairs)
        print("CLEAN", type(loaded).__name__, same)
    """,
        tmp_path,
        HF_HUB_CACHE=str(tmp_path / "hub"),
        HF_HOME=str(tmp_path / "hf"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert (
        "auto BLOCKED modelseal blocked transformers.models.auto.modeling_auto.AutoModel.from_pretrained"
        in out
    )
    assert (
        "class BLOCKED modelseal blocked transformers.modeling_utils.PreTrainedModel.from_pretrained" in out
    )
    hub = out.split("hub BLOCKED modelseal blocked transformers.models.auto.modeling_auto.AutoModel")[1]
    assert "MS-PICKLE-DANGEROUS-CALLABLE" in hub.splitlines()[0]  # scanned as hf://acme/tiny-bert
    assert "MARKER False" in out and "CLEAN BertModel True" in out
    assert not marker.exists()

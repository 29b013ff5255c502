"""The AST pass over a test project that loads models in many different ways."""

from __future__ import annotations

import json
from pathlib import Path

from modelseal.inventory.code import references_in_source
from modelseal.inventory.discover import discover
from modelseal.inventory.model import DYNAMIC, REMOTE_CODE, UNPINNED, UNSAFE

SHA = "0123456789abcdef0123456789abcdef01234567"

APP = f'''
import torch as T
import pickle
import joblib as jl
import numpy as np
import tensorflow as tf
from transformers import AutoModelForCausalLM as LM, AutoTokenizer, pipeline as make_pipe
from huggingface_hub import hf_hub_download, snapshot_download as snap
from sentence_transformers import SentenceTransformer
from keras.models import load_model
from diffusers import DiffusionPipeline
import onnxruntime

MODEL_ID = "acme/chat-7b"
load_weights = T.load

tok = AutoTokenizer.from_pretrained(MODEL_ID)
model = LM.from_pretrained(MODEL_ID, revision="{SHA}", trust_remote_code=True)
clf = make_pipe("text-classification", model="distilbert/sst2", revision="main")
path = hf_hub_download(repo_id="acme/weights", filename="model.bin")
snap("acme/full", revision="{SHA}")
emb = SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2")
state = T.load("ckpt.pt")
safe_state = load_weights("ckpt2.pt", weights_only=True)
with open("model.pkl", "rb") as fh:
    obj = pickle.load(fh)
est = jl.load("est.joblib")
arr = np.load("arr.npy", allow_pickle=True)
k1 = load_model("net.keras", safe_mode=False)
k2 = tf.keras.models.load_model("net.h5")
pipe = DiffusionPipeline.from_pretrained("stabilityai/sdxl", revision="{SHA}")
sess = onnxruntime.InferenceSession("model.onnx")
hub = T.hub.load("pytorch/vision:v0.10.0", "resnet18")
ts = T.jit.load("scripted.pt")


def late(name):
    return LM.from_pretrained(name)
'''


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "app.py").write_text(APP)
    (root / "pkg" / "broken.py").write_text("def (:\n")  # not Python: ignored, no crash
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": ["torch.load('x')"]},
            {
                "cell_type": "code",
                "source": ["%pip install torch\n", "import torch\n", "m = torch.load('nb.pt')\n"],
            },
        ]
    }
    (root / "explore.ipynb").write_text(json.dumps(notebook))
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "x.py").write_text("import torch\ntorch.load('ignored.pt')\n")
    return root


def test_every_load_in_the_project_is_found(tmp_path: Path) -> None:
    refs = discover([str(_project(tmp_path))])
    by_line = {(Path(r.location.rsplit(":", 1)[0]).name, r.loader, r.model): r for r in refs}
    expected = {
        ("app.py", "transformers.AutoTokenizer.from_pretrained", "acme/chat-7b"),
        ("app.py", "transformers.AutoModelForCausalLM.from_pretrained", "acme/chat-7b"),
        ("app.py", "transformers.pipeline", "distilbert/sst2"),
        ("app.py", "huggingface_hub.hf_hub_download", "acme/weights"),
        ("app.py", "huggingface_hub.snapshot_download", "acme/full"),
        ("app.py", "sentence_transformers.SentenceTransformer", "sentence-transformers/all-MiniLM-L6-v2"),
        ("app.py", "torch.load", "ckpt.pt"),
        ("app.py", "torch.load", "ckpt2.pt"),
        ("app.py", "pickle.load", "<dynamic: fh>"),
        ("app.py", "joblib.load", "est.joblib"),
        ("app.py", "numpy.load", "arr.npy"),
        ("app.py", "keras.models.load_model", "net.keras"),
        ("app.py", "tensorflow.keras.models.load_model", "net.h5"),
        ("app.py", "diffusers.DiffusionPipeline.from_pretrained", "stabilityai/sdxl"),
        ("app.py", "onnxruntime.InferenceSession", "model.onnx"),
        ("app.py", "torch.hub.load", "pytorch/vision"),
        ("app.py", "torch.jit.load", "scripted.pt"),
        ("app.py", "transformers.AutoModelForCausalLM.from_pretrained", "<dynamic: name>"),
        ("explore.ipynb#cell1", "torch.load", "nb.pt"),
        ("broken.py", "", "<not parsed: invalid syntax>"),
    }
    assert set(by_line) == expected
    assert len(refs) == len(expected)
    assert len({r.loader for r in refs if r.loader}) >= 10

    def flags(loader: str, model: str) -> set[str]:
        return set(by_line[("app.py", loader, model)].flags)

    assert flags("transformers.AutoTokenizer.from_pretrained", "acme/chat-7b") == {UNPINNED}
    assert flags("transformers.AutoModelForCausalLM.from_pretrained", "acme/chat-7b") == {REMOTE_CODE}
    assert flags("transformers.pipeline", "distilbert/sst2") == {UNPINNED}  # a branch is not a pin
    assert flags("huggingface_hub.hf_hub_download", "acme/weights") == {UNPINNED}
    assert flags("huggingface_hub.snapshot_download", "acme/full") == set()
    assert flags("sentence_transformers.SentenceTransformer", "sentence-transformers/all-MiniLM-L6-v2") == {
        UNPINNED
    }
    assert flags("torch.load", "ckpt.pt") == {UNSAFE}
    assert flags("torch.load", "ckpt2.pt") == set()
    assert flags("pickle.load", "<dynamic: fh>") == {UNSAFE, DYNAMIC}
    assert flags("numpy.load", "arr.npy") == {UNSAFE}
    assert flags("keras.models.load_model", "net.keras") == {UNSAFE}
    assert flags("tensorflow.keras.models.load_model", "net.h5") == set()
    assert flags("diffusers.DiffusionPipeline.from_pretrained", "stabilityai/sdxl") == set()
    assert flags("torch.hub.load", "pytorch/vision") == {UNPINNED, UNSAFE, REMOTE_CODE}
    assert flags("transformers.AutoModelForCausalLM.from_pretrained", "<dynamic: name>") == {DYNAMIC}
    rev = by_line[("app.py", "transformers.AutoModelForCausalLM.from_pretrained", "acme/chat-7b")].revision
    assert rev == SHA


def test_local_paths_are_not_hub_ids() -> None:
    src = "from transformers import AutoModel\nAutoModel.from_pretrained('./local/model')\n"
    (ref,) = references_in_source(src, "x.py")
    assert ref.flags == () and ref.location == "x.py:2"


def test_unrelated_calls_are_ignored() -> None:
    src = "import json\njson.load(open('x'))\ndef load(p): pass\nload('model.pt')\nobj.load_state_dict(sd)\n"
    assert references_in_source(src, "x.py") == []


def test_hostile_sources_do_not_crash() -> None:
    deep = "x = " + "(" * 100_000 + ")" * 100_000 + "\n"
    (ref,) = references_in_source(deep, "deep.py")
    assert ref.model.startswith("<not parsed") and ref.flags == (DYNAMIC,)
    assert references_in_source("", "empty.py") == []

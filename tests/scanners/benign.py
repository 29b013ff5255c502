"""Builders of benign model files made by the real libraries. Each returns the path to scan."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

Builder = Callable[[Path], Path]
BUILDERS: dict[str, Builder] = {}


def case(name: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        BUILDERS[name] = fn
        return fn

    return register


def _nets():  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 4))
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 10),
    )
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, batch_first=True)
    transformer = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    rnn = nn.LSTM(8, 16, batch_first=True)
    emb = nn.Sequential(nn.Embedding(100, 8), nn.LayerNorm(8), nn.GELU())
    return {"mlp": mlp, "cnn": cnn, "transformer": transformer, "lstm": rnn, "embedding": emb}


for _dtype in ("float32", "float16", "bfloat16", "float64", "int8", "uint8", "int64", "bool", "complex64"):

    @case(f"state_dict_{_dtype}.pt")
    def _state_dict(tmp: Path, dtype: str = _dtype) -> Path:
        import torch

        path = tmp / f"state_dict_{dtype}.pt"
        sd = _nets()["cnn"].state_dict()
        torch.save({k: v.to(getattr(torch, dtype)) for k, v in sd.items()}, path)
        return path


for _net in ("mlp", "cnn", "transformer", "lstm", "embedding"):

    @case(f"whole_module_{_net}.pt")
    def _whole(tmp: Path, net: str = _net) -> Path:
        import torch

        path = tmp / f"whole_module_{net}.pt"
        torch.save(_nets()[net], path)
        return path


@case("state_dict_legacy_format.bin")
def _legacy(tmp: Path) -> Path:
    import torch

    path = tmp / "pytorch_model.bin"
    torch.save(_nets()["mlp"].state_dict(), path, _use_new_zipfile_serialization=False)
    return path


@case("optimizer_state.pt")
def _optim(tmp: Path) -> Path:
    import torch

    net = _nets()["mlp"]
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.randn(2, 8)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2)
    path = tmp / "optimizer.pt"
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "epoch": 3}, path)
    return path


@case("torchscript_traced.pt")
def _traced(tmp: Path) -> Path:
    import torch

    path = tmp / "traced.pt"
    torch.jit.save(torch.jit.trace(_nets()["cnn"].eval(), torch.randn(1, 1, 8, 8)), path)
    return path


@case("tensor_pickled_plainly.pkl")
def _plain_tensor(tmp: Path) -> Path:
    import torch

    path = tmp / "tensors.pkl"
    path.write_bytes(pickle.dumps({"w": torch.arange(6.0).reshape(2, 3)}, protocol=4))
    return path


def _sk_models():  # type: ignore[no-untyped-def]
    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] > 0).astype(int)
    return {
        "pipeline": Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(x, y),
        "tree": DecisionTreeClassifier(max_depth=3).fit(x, y),
        "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
        "boosting": GradientBoostingClassifier(n_estimators=3).fit(x, y),
    }


for _compress in (0, "zlib", "gzip", "bz2", "lzma", "xz", "lz4"):

    @case(f"sklearn_joblib_{_compress or 'raw'}.joblib")
    def _joblib(tmp: Path, compress: object = _compress) -> Path:
        import joblib

        path = tmp / f"model_{compress or 'raw'}.joblib"
        joblib.dump(_sk_models(), path, compress=(compress, 3) if compress else 0)
        return path


@case("sklearn_plain_pickle.pkl")
def _sk_pickle(tmp: Path) -> Path:
    path = tmp / "model.pkl"
    path.write_bytes(pickle.dumps(_sk_models()["forest"], protocol=5))
    return path


@case("numpy_arrays.npy")
def _npy(tmp: Path) -> Path:
    import numpy as np

    path = tmp / "arrays.npy"
    np.save(path, np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    return path


@case("numpy_structured.npy")
def _npy_struct(tmp: Path) -> Path:
    import numpy as np

    path = tmp / "structured.npy"
    np.save(path, np.zeros(5, dtype=[("x", "<f8"), ("label", "U7"), ("v", "<i2", (3,))]))
    return path


@case("numpy_npz_compressed.npz")
def _npz(tmp: Path) -> Path:
    import numpy as np

    path = tmp / "arrays.npz"
    np.savez_compressed(path, a=np.ones((3, 3)), b=np.arange(10, dtype=np.int16), c=np.array(["x", "yz"]))
    return path


@case("numpy_pickled_arrays.pkl")
def _np_pickle(tmp: Path) -> Path:
    import numpy as np

    path = tmp / "np.pkl"
    path.write_bytes(
        pickle.dumps(
            {"a": np.ones(3), "r": np.random.default_rng(1), "s": np.float32(2.5), "ufunc": np.log1p},
            protocol=2,
        )
    )
    return path


@case("protocol0_plain_data.pkl")
def _p0(tmp: Path) -> Path:
    path = tmp / "data_p0.pkl"
    path.write_bytes(
        pickle.dumps({"vocab": ["a", "b"], "n": 3, "f": 0.5, "t": (1, 2), "s": {1, 2}}, protocol=0)
    )
    return path


@case("sentence_transformer_folder")
def _st_folder(tmp: Path) -> Path:
    import torch
    from torch import nn

    root = tmp / "all-MiniLM-like"
    (root / "1_Pooling").mkdir(parents=True)
    model = nn.ModuleDict(
        {"embeddings": nn.Embedding(50, 8), "encoder": nn.Linear(8, 8), "norm": nn.LayerNorm(8)}
    )
    torch.save(model.state_dict(), root / "pytorch_model.bin")
    (root / "config.json").write_text(
        json.dumps({"architectures": ["BertModel"], "hidden_size": 8, "model_type": "bert", "vocab_size": 50})
    )
    (root / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            ]
        )
    )
    (root / "1_Pooling/config.json").write_text(
        json.dumps({"word_embedding_dimension": 8, "pooling_mode_mean_tokens": True})
    )
    (root / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    (root / "config_sentence_transformers.json").write_text(json.dumps({"__version__": {"pytorch": "2"}}))
    (root / "tokenizer.json").write_text(json.dumps({"version": "1.0", "model": {"type": "WordPiece"}}))
    (root / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n")
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n# A small sentence embedding model\n")
    return root

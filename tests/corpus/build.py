"""The benign corpus: what the ecosystem's libraries save, exactly as their users save it.

Each builder writes one case into an empty folder with the real library (tiny configurations, nothing
downloaded) and returns the path to scan. ``REQUIRES`` names the optional libraries a case needs, so tests
skip what is not installed and ``bench/bench_precision.py`` reuses the same builders.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

Builder = Callable[[Path], Path]
BUILDERS: dict[str, Builder] = {}
REQUIRES: dict[str, tuple[str, ...]] = {}


def case(name: str, *needs: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        BUILDERS[name] = fn
        REQUIRES[name] = ("torch", *needs)
        return fn

    return register


def _quiet() -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("WANDB_DISABLED", "true")


def _tokenizer(root: Path) -> Any:
    """A WordPiece tokenizer made on the spot, saved as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "model", "seal", "scan"]
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(root)
    return fast


def _tiny_bert(root: Path) -> Path:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=10,
        hidden_size=8,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=32,
    )
    BertModel(config).save_pretrained(root)
    _tokenizer(root)
    return root


@case("transformers_trainer_output", "transformers", "accelerate")
def _trainer(tmp: Path) -> Path:
    _quiet()
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=16, n_positions=16, n_embd=8, n_layer=2, n_head=2))
    data = [{"input_ids": torch.arange(8) % 16, "labels": torch.arange(8) % 16} for _ in range(4)]
    args = TrainingArguments(
        output_dir=str(tmp / "out"),
        max_steps=2,
        save_steps=2,
        per_device_train_batch_size=2,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        lr_scheduler_type="cosine",
        warmup_steps=1,
        seed=1,
    )
    Trainer(model=model, args=args, train_dataset=data).train()
    return tmp / "out" / "checkpoint-2"


@case("lightning_checkpoint", "lightning")
def _lightning(tmp: Path) -> Path:
    _quiet()
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    class Tiny(L.LightningModule):  # type: ignore[misc]
        def __init__(self, hparams_ns: argparse.Namespace, data_dir: pathlib.Path, lr: float = 0.1) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, _: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> Any:
            opt = torch.optim.SGD(self.parameters(), lr=self.hparams.lr)
            return [opt], [torch.optim.lr_scheduler.StepLR(opt, 1)]

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.randn(8, 1))
    ns = argparse.Namespace(batch_size=4, layers=[1, 2], name="tiny")
    module = Tiny(ns, pathlib.Path(tmp / "data"))
    trainer = L.Trainer(
        max_steps=2,
        default_root_dir=tmp,
        callbacks=[ModelCheckpoint(dirpath=tmp / "ckpt", monitor="train_loss"), EarlyStopping("train_loss")],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=4))
    trainer.save_checkpoint(tmp / "ckpt" / "last.ckpt")
    return tmp / "ckpt"


@case("torch_whole_module_timm.pt", "timm")
def _timm_module(tmp: Path) -> Path:
    import torch
    from timm.models.vision_transformer import VisionTransformer

    model = VisionTransformer(img_size=16, patch_size=8, embed_dim=16, depth=2, num_heads=2, num_classes=3)
    torch.save(model, tmp / "vit.pt")
    return tmp / "vit.pt"


@case("torch_optimizer_scheduler_states")
def _optim(tmp: Path) -> Path:
    import torch

    net = torch.nn.Linear(4, 2)
    for name, opt in {
        "adamw": torch.optim.AdamW(net.parameters(), amsgrad=True),
        "sgd": torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9),
    }.items():
        net(torch.randn(2, 4)).sum().backward()
        opt.step()
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
        sched.step()
        torch.save(opt.state_dict(), tmp / f"optimizer_{name}.pt")
        torch.save(sched.state_dict(), tmp / f"scheduler_{name}.pt")
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(torch.optim.SGD(net.parameters(), lr=0.1))
    torch.save(plateau.state_dict(), tmp / "plateau.pt")
    return tmp


@case("torch_quantized_dynamic_linear.pt")
def _quantized(tmp: Path) -> Path:
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    quantized = torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)
    torch.save(quantized.state_dict(), tmp / "quantized.pt")
    return tmp / "quantized.pt"


@case("torch_sparse_complex_nested.pt")
def _special_tensors(tmp: Path) -> Path:
    import torch

    dense = torch.eye(4)
    torch.save(
        {
            "coo": dense.to_sparse(),
            "csr": dense.to_sparse_csr(),
            "complex": torch.randn(4, dtype=torch.cfloat),
            "complex_double": torch.randn(2, 2, dtype=torch.complex128),
            "nested": torch.nested.nested_tensor([torch.ones(2), torch.ones(3)]),
        },
        tmp / "special.pt",
    )
    return tmp / "special.pt"


@case("torch_tensors_plain_pickle.pkl")
def _plain(tmp: Path) -> Path:
    import torch

    path = tmp / "tensors.pkl"
    path.write_bytes(pickle.dumps({"weight": torch.ones(3, 3), "step": 3}))
    return path


@case("torch_rng_state.pth")
def _rng(tmp: Path) -> Path:
    import random

    import numpy as np
    import torch

    states = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.get_rng_state()}
    torch.save(states, tmp / "rng_state.pth")
    return tmp / "rng_state.pth"


@case("pandas_dataframe.pkl", "pandas")
def _pandas(tmp: Path) -> Path:
    import numpy as np
    import pandas as pd

    df = pd.DataFrame(
        {
            "a": np.arange(5),
            "b": np.linspace(0, 1, 5),
            "c": list("abcde"),
            "d": pd.Categorical(list("xyxyx")),
            "t": pd.date_range("2024-01-01", periods=5, tz="UTC"),
        },
        index=pd.Index([10, 11, 12, 13, 14], name="id"),
    )
    df.to_pickle(tmp / "frame.pkl")
    df.set_index(["c", "a"]).to_pickle(tmp / "multiindex.pkl")
    pd.Series([1.0, 2.0], index=pd.RangeIndex(2)).to_pickle(tmp / "series.pkl")
    df["b"].to_frame().to_pickle(tmp / "frame.pkl.gz")
    return tmp


@case("numpy_pickles_npy_npz")
def _numpy(tmp: Path) -> Path:
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {"x": rng.standard_normal((3, 3)), "i": np.arange(4, dtype=np.int16)}
    np.save(tmp / "array.npy", arrays["x"])
    np.savez(tmp / "arrays.npz", **arrays)
    (tmp / "arrays.pkl").write_bytes(pickle.dumps({**arrays, "rng": rng, "legacy": np.random.RandomState(1)}))
    return tmp


@case("sklearn_scipy_joblib", "sklearn", "joblib", "scipy")
def _sklearn(tmp: Path) -> Path:
    import joblib
    import numpy as np
    import scipy.sparse
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = np.random.default_rng(0).standard_normal((20, 4)), np.arange(20) % 2
    joblib.dump(make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y), tmp / "pipeline.joblib")
    joblib.dump(RandomForestClassifier(n_estimators=3).fit(x, y), tmp / "forest.joblib", compress=3)
    joblib.dump(scipy.sparse.random(5, 5, density=0.3, format="csr"), tmp / "sparse.joblib")
    return tmp


@case("xgboost_joblib", "xgboost", "joblib")
def _xgboost(tmp: Path) -> Path:
    import joblib
    import numpy as np
    import xgboost

    x, y = np.random.default_rng(0).standard_normal((20, 4)), np.arange(20) % 2
    model = xgboost.XGBClassifier(n_estimators=2, max_depth=2).fit(x, y)
    joblib.dump(model, tmp / "xgb.joblib")
    model.save_model(tmp / "xgb.json")
    model.save_model(tmp / "xgb.ubj")  # XGBoost's own binary format (UBJSON)
    return tmp


@case("lightgbm_joblib", "lightgbm", "joblib")
def _lightgbm(tmp: Path) -> Path:
    import joblib
    import lightgbm
    import numpy as np

    x, y = np.random.default_rng(0).standard_normal((40, 4)), np.arange(40) % 2
    model = lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(x, y)
    joblib.dump(model, tmp / "lgbm.joblib")
    model.booster_.save_model(tmp / "lgbm.txt")
    return tmp


@case("statsmodels_results.pickle", "statsmodels")
def _statsmodels(tmp: Path) -> Path:
    import numpy as np
    import statsmodels.api as sm

    x = sm.add_constant(np.random.default_rng(0).standard_normal((20, 2)))
    sm.OLS(x @ np.array([1.0, 2.0, 3.0]), x).fit().save(tmp / "ols.pickle")
    return tmp / "ols.pickle"


@case("peft_lora_adapter", "peft", "transformers")
def _peft(tmp: Path) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel

    base = GPT2LMHeadModel(GPT2Config(vocab_size=16, n_positions=16, n_embd=8, n_layer=2, n_head=2))
    model = get_peft_model(base, LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True))
    model.save_pretrained(tmp / "adapter")
    return tmp / "adapter"


@case("diffusers_pipeline_folder", "diffusers", "transformers")
def _diffusers(tmp: Path) -> Path:
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    unet = UNet2DModel(
        sample_size=8,
        in_channels=1,
        out_channels=1,
        block_out_channels=(4, 8),
        layers_per_block=1,
        norm_num_groups=2,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
    )
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=10)).save_pretrained(tmp / "ddpm")
    return tmp / "ddpm"


@case("sentence_transformers_folder", "sentence_transformers", "transformers")
def _sentence_transformers(tmp: Path) -> Path:
    _quiet()
    from sentence_transformers import SentenceTransformer, models

    bert = _tiny_bert(tmp / "bert")
    encoder = models.Transformer(str(bert), max_seq_length=16)
    pooling = models.Pooling(encoder.get_word_embedding_dimension())
    SentenceTransformer(modules=[encoder, pooling], device="cpu").save(str(tmp / "st"))
    return tmp / "st"


@case("keras_keras_and_h5", "keras")
def _keras(tmp: Path) -> Path:
    _quiet()
    import keras

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)]
    )
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp / "model.keras")
    model.save(tmp / "model.h5")
    model.save_weights(tmp / "model.weights.h5")
    return tmp


@case("onnx_torch_export.onnx", "onnx")
def _onnx(tmp: Path) -> Path:
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    torch.onnx.export(net, (torch.randn(1, 4),), str(tmp / "model.onnx"), dynamo=False)
    return tmp / "model.onnx"


@case("tokenizer_sentencepiece_normalizer", "tokenizers")
def _sp_tokenizer(tmp: Path) -> Path:
    from tokenizers import Regex, Tokenizer, models, normalizers

    vocab = [("<unk>", 0.0), ("▁hello", -1.0), ("▁world", -2.0), ("▁", -3.0)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=0))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Lowercase(), normalizers.Replace(Regex(r"\s+"), "▁")]
    )
    root = tmp / "spm"
    root.mkdir()
    tok.save(str(root / "tokenizer.json"))
    (root / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 16}))
    return root


# What every case needs and may be missing, for importorskip.
OPTIONAL = sorted({n for needs in REQUIRES.values() for n in needs})

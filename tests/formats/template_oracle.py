"""The oracle for chat templates: render each template under a sandboxed Jinja environment that records every
lookup of a private or internal attribute, in a subprocess, with a transformers-like context.

The sandbox refuses those lookups (so rendering a hostile template here is harmless); the record says which
templates would have reached Python internals in a host without a sandbox.
"""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = r"""
import json, sys
from jinja2 import ext
from jinja2.sandbox import SandboxedEnvironment, is_internal_attribute

def unsafe(obj, name):
    return isinstance(name, str) and (name.startswith("_") or is_internal_attribute(obj, name))

class Recording(SandboxedEnvironment):
    seen = []
    def getattr(self, obj, attribute):
        if unsafe(obj, attribute):
            self.seen.append(f"{type(obj).__name__}.{attribute}")
        return super().getattr(obj, attribute)
    def getitem(self, obj, argument):
        if unsafe(obj, argument):
            self.seen.append(f"{type(obj).__name__}[{argument}]")
        return super().getitem(obj, argument)

def raise_exception(message):
    raise ValueError(message)

env = Recording(trim_blocks=True, lstrip_blocks=True, extensions=[ext.loopcontrols, ext.do])
env.filters["tojson"] = lambda v, indent=None: json.dumps(v, indent=indent)
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = lambda fmt: "26 Jul 2024"
context = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "tool_calls": [
            {"type": "function", "function": {"name": "get_time", "arguments": {"tz": "UTC"}}}]},
        {"role": "tool", "content": "12:00"},
        {"role": "user", "content": "Thanks"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_time", "description": "Time now",
               "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}],
    "add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>",
}
out = []
for source in json.load(sys.stdin):
    Recording.seen = []
    error = ""
    try:
        env.from_string(source).render(**context)
    except Exception as exc:
        error = type(exc).__name__
    out.append({"unsafe": Recording.seen, "error": error})
json.dump(out, sys.stdout)
"""


def render_records(templates: list[str]) -> list[dict[str, object]]:
    """For each template: the unsafe lookups its sandboxed render attempted, and the error it ended with."""
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        input=json.dumps(templates),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    records: list[dict[str, object]] = json.loads(done.stdout)
    return records

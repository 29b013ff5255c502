"""Where models come from: one plugin per kind of target (see :mod:`modelseal.sources.interface`).

The schemes are named here, not in the plugins, so that telling a hub target from a path imports nothing
of the hub code (``modelseal scan model.pkl`` stays light).
"""

HF_SCHEME = "hf://"
"""How a hub target is written: ``hf://org/name@revision``."""
S3_SCHEME = "s3://"
"""How a bucket target is written: ``s3://bucket/prefix``."""

SOURCES: dict[str, tuple[str, str]] = {
    HF_SCHEME: ("modelseal.sources.hf", "HubSource"),
    S3_SCHEME: ("modelseal.sources.s3", "S3Source"),
}
"""Scheme → (module, class) of its source; a target with none of these is a local path."""


def is_hf(target: str) -> bool:
    return target.startswith(HF_SCHEME)

"""Turn what the user typed into an :class:`~modelseal.core.artifact.Artifact`. The only stage that knows
about folders, links, hubs and caches."""

HF_SCHEME = "hf://"
"""How a hub target is written: ``hf://org/name@revision``. Here, not in ``hf``, so that telling a hub
target from a path imports nothing of the hub code."""


def is_hf(target: str) -> bool:
    return target.startswith(HF_SCHEME)

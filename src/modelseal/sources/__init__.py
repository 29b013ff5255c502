"""Turn what the user typed into an :class:`~modelseal.core.artifact.Artifact`. The only stage that knows
about folders, links, hubs and caches."""

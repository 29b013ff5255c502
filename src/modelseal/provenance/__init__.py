"""Provenance: what a model is and where it came from.

Bills of materials (CycloneDX ML-BOM, SPDX 3 AI/Dataset), publisher reputation tiers, look-alike
name detection and model-card consistency. The BOM writers import their format libraries lazily;
``names`` and ``reputation`` stay cheap so that ``modelseal scan hf://...`` can call them.
"""

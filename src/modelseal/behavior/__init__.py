"""Behavioural inspection: find backdoors that only show when the model runs.

A backdoored model carries no malicious code, so the static scanners cannot see it. These detectors run
the model (loaded only from TorchScript or ONNX, never a pickle) on a small clean sample set:

- ``trigger``: model-level trigger inversion (Neural Cleanse family), all classes in one optimisation;
- ``poison``: data-level activation clustering and spectral signatures on the penultimate layer;
- ``strip``: input-level STRIP check with a calibrated false-alarm rate, for serving loops;
- ``text``: trigger-token search for token-id text classifiers with a perplexity outlier filter.

Everything here imports torch lazily (extra ``modelseal[behavior]``): ``modelseal scan`` never pays for it.
"""

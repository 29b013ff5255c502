"""Content identity of models: manifests (hashing), signatures, lockfiles.

``manifest``: streamed, parallel hashing and the per-model manifest. ``oms``: the OpenSSF model signing v1.0
format as data. ``signing``: keys, certificate chains, verification. ``sigstore``: keyless bundles against a
given trust root. ``lockfile``: ``modelseal.lock`` and :func:`~modelseal.integrity.lockfile.check_lock`.
``diff``: the vocabulary of differences they all report. Heavy libraries (cryptography, sigstore,
huggingface_hub, blake3) are imported inside functions, so importing this package costs nothing.
"""

LOCKFILE = "modelseal.lock"
"""The lockfile's default name, in the working folder."""
AUTO_DIGEST_BYTES = 256 << 20
"""``modelseal scan`` hashes a target whole by default up to this size (a fraction of a second); a larger
one only where there are findings, so that a plain scan of a 50 GB checkpoint reads its pickles, not its
weights."""

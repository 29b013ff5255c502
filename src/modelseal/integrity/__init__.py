"""Content identity of models: manifests (hashing), signatures, lockfiles."""

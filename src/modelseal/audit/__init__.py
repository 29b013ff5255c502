"""Tamper-evident audit log: an RFC 6962/9162 Merkle tree over every verdict, waiver and bypass."""

"""Scanners: one per format or concern, chosen by sniffing content. Pure: bytes in, findings out."""

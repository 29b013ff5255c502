"""The never-execute pickle engine: opcode reader, symbolic machine, allowlist and gadget knowledge."""

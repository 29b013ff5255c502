#!/usr/bin/env bash
# Quick start, step 1: install modelseal, generate demo models, and scan them.
# Benign models must pass (exit 0) and malicious ones must be blocked (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
rm -rf demo
python3 scripts/make_demo.py demo
echo "== modelseal scan demo/benign"
modelseal scan demo/benign
echo "== modelseal scan demo/malicious (expected: blocked, exit 1)"
set +e
modelseal scan demo/malicious
code=$?
set -e
if [ "$code" -ne 1 ]; then
  echo "unexpected exit code $code for the malicious demo models" >&2
  exit 1
fi
echo "demo OK: benign models passed, malicious models were blocked"

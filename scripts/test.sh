#!/usr/bin/env bash
# Quick start, step 2: install the development dependencies and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
python3 -m pytest "$@"

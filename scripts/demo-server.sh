#!/usr/bin/env bash
# Quick start, step 3: the registry with the demo models in it. Starts `modelseal serve` (SQLite in a
# folder of its own, no set-up), uploads the scans of demo/benign and demo/malicious (run scripts/demo.sh
# first) with a project token, and leaves the server running: open http://127.0.0.1:8470 and log in as
# admin with the one-time password printed below.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[server]'
[ -d demo/benign ] || bash scripts/demo.sh
export MODELSEAL_DATABASE_URL="sqlite:///$PWD/demo/registry.sqlite"
server="http://127.0.0.1:8470"
modelseal serve --port 8470 --audit-log demo/registry-audit.sqlite --init-admin &
pid=$!
trap 'kill $pid' INT TERM
for _ in $(seq 100); do curl -fs "$server/login" >/dev/null 2>&1 && break; sleep 0.2; done
export MODELSEAL_TOKEN="$(modelseal admin token create --project demo --role uploader)"
for dir in demo/benign demo/malicious; do
  for model in "$dir"/*; do
    modelseal scan "$model" --upload "$server" --project demo -f json -o /dev/null || true
  done
done
echo "dashboard: $server (user admin, password above); stop with Ctrl-C"
wait $pid

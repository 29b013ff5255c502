#!/usr/bin/env bash
# Quick start, step 1: the whole story in a virtual environment of its own (.venv-demo), with only what it
# shows installed (modelseal with its signing and bom extras; no torch: the demo models are written byte by
# byte with the standard library). Scan a benign and a malicious model, lock and sign the benign one, verify
# it, tamper with one byte and verify again, gate it for prod, write its BOM.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
venv=.venv-demo
stamp="$venv/.installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing modelseal[signing,bom] into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[signing,bom]'
  touch "$stamp"
fi
export PATH="$PWD/$venv/bin:$PATH"
py="$venv/bin/python"

step() { printf '\n== %s\n' "$*"; }
expect() {  # expect CODE COMMAND...: run it, and stop the demo if it does not exit with CODE
  local want=$1 code=0
  shift
  "$@" || code=$?
  if [ "$code" -ne "$want" ]; then
    echo "demo: expected exit $want from '$*', got $code" >&2
    exit 1
  fi
}

rm -rf demo
"$py" scripts/make_demo.py demo
model=demo/benign/tiny-model

step "1. scan the benign models (safetensors, a torch state dict, .npy, a data pickle): they pass"
expect 0 modelseal scan demo/benign

step "2. scan the malicious models (pickles whose payload would run 'echo'): blocked, exit 1"
expect 1 modelseal scan demo/malicious

step "3. pin $model in a lockfile and sign it (OpenSSF model signing, a fresh ECDSA P-256 key)"
mkdir -p demo/keys
"$py" - <<'EOF'
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import ec

key = ec.generate_private_key(ec.SECP256R1())
pem = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
open("demo/keys/demo.key", "wb").write(pem)
pub = key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo)
open("demo/keys/demo.pub", "wb").write(pub)
EOF
expect 0 modelseal lock "$model" --lockfile demo/modelseal.lock
expect 0 modelseal sign "$model" --private-key demo/keys/demo.key --signature demo/tiny-model.sig
verify=(modelseal verify "$model" --public-key demo/keys/demo.pub --signature demo/tiny-model.sig
  --locked --lockfile demo/modelseal.lock)

step "4. verify the signature and the lock entry: OK"
expect 0 "${verify[@]}"

step "5. tamper with one byte of the weights and verify again: both checks fail, exit 1"
"$py" -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-1] ^= 1; open(p, "wb").write(b)' \
  "$model/model.safetensors"
expect 1 "${verify[@]}"
"$py" -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-1] ^= 1; open(p, "wb").write(b)' \
  "$model/model.safetensors"
echo "(byte restored)"

step "6. gate it for prod (default policy): allowed, exit 0, as the organisation's own signed, locked model"
# demo/modelseal.toml names the organisation's own publisher and the owner of its local models, so the
# default policy's prod reputation rule sees tier "organisation" instead of "unknown" (docs/provenance.md).
printf '[provenance]\nown_publishers = ["acme"]\nlocal_owner = "acme"\n' > demo/modelseal.toml
(cd demo && expect 0 modelseal gate benign/tiny-model --env prod --lockfile modelseal.lock \
  --signature tiny-model.sig --public-key keys/demo.pub --audit-log audit.db)

step "7. write its ML-BOM (CycloneDX 1.6)"
expect 0 modelseal bom "$model" --format cyclonedx -o demo/tiny-model.cdx.json

printf '\ndemo OK in %d s: benign models passed, malicious ones were blocked, the signed and locked model\n' \
  $((SECONDS - started))
echo "verified, a one-byte change was caught, the gate allowed it for prod and the BOM is written (all under demo/)"

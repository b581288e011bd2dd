#!/usr/bin/env bash
# Creates (once) the Python virtualenv the end-to-end tests use and prints its path.
# The venv lives under $HOME/.cache/minerva, keyed by the hash of tests/requirements.txt, so that a
# changed pin makes a new venv and an unchanged one is reused by every run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
req="$root/tests/requirements.txt"
hash="$(sha256sum "$req" | cut -c1-16)"
venv="${MINERVA_VENV:-$HOME/.cache/minerva/venv-$hash}"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
    touch "$venv/.complete"
fi
echo "$venv"

#!/usr/bin/env bash
# Runs every test: one debug build shared by all, the Rust tests, then the end-to-end suite with
# the real Python clients against the real binary.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/minerva/target}"

echo "== build"
cargo build --workspace --all-targets
echo "== rust tests"
cargo test --workspace --quiet
echo "== python environments"
venv="$(scripts/python-env.sh main)"
dataframes="$(scripts/python-env.sh dataframes)"
export MINERVA_BIN="$CARGO_TARGET_DIR/debug/minerva"
echo "== end-to-end tests"
"$venv/bin/python" -m pytest tests --ignore=tests/dataframes -q -p no:cacheprovider "$@"
echo "== end-to-end tests: dataframe clients (s3fs, pyarrow, polars)"
"$dataframes/bin/python" -m pytest tests/dataframes -q -p no:cacheprovider "$@"

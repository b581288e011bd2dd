#!/usr/bin/env bash
# Runs every test: one debug build shared by all, clippy (warnings are errors), the Rust tests
# (the AWS SDK for Rust among them), then the end-to-end suite with the real Python clients
# against the real binary: all of it with the newest clients, its S3, Glue and Athena core with
# each older client set of tests/clients/, and dbt-athena, the dataframe tools and pyiceberg in
# virtualenvs of their own (pyiceberg and DuckDB in their newest and oldest supported releases).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/minerva/target}"

echo "== build"
cargo build --workspace --all-targets
echo "== clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== rust tests"
cargo test --workspace --quiet
echo "== python environments"
venv="$(scripts/python-env.sh main)"
dataframes="$(scripts/python-env.sh dataframes)"
dbt="$(scripts/python-env.sh dbt)"
iceberg="$(scripts/python-env.sh iceberg)"
iceberg_oldest="$(scripts/python-env.sh iceberg-oldest)"
older=()
for set in tests/clients/*.txt; do
    name="clients/$(basename "$set" .txt)"
    older+=("$name=$(scripts/python-env.sh "$name")")
done
export MINERVA_BIN="$CARGO_TARGET_DIR/debug/minerva"
pytest=(-q -p no:cacheprovider)
echo "== end-to-end tests: the newest clients"
own=(--ignore=tests/dataframes --ignore=tests/dbt --ignore=tests/iceberg)
"$venv/bin/python" -m pytest tests "${own[@]}" "${pytest[@]}" "$@"
for entry in "${older[@]}"; do
    echo "== end-to-end tests: the core with ${entry%%=*}"
    "${entry#*=}/bin/python" -m pytest tests "${own[@]}" -m core "${pytest[@]}" "$@"
done
echo "== end-to-end tests: dbt-athena"
"$dbt/bin/python" -m pytest tests/dbt "${pytest[@]}" "$@"
echo "== end-to-end tests: dataframe clients (s3fs, pyarrow, polars)"
"$dataframes/bin/python" -m pytest tests/dataframes "${pytest[@]}" "$@"
echo "== end-to-end tests: other Iceberg engines (pyiceberg, DuckDB), the newest"
"$iceberg/bin/python" -m pytest tests/iceberg "${pytest[@]}" "$@"
echo "== end-to-end tests: other Iceberg engines, the oldest supported"
"$iceberg_oldest/bin/python" -m pytest tests/iceberg "${pytest[@]}" "$@"

#!/usr/bin/env bash
# Creates (once) a Python virtualenv for the end-to-end tests and prints its path.
#   scripts/python-env.sh                 the main suite's clients, the newest (tests/requirements.txt)
#   scripts/python-env.sh clients/NAME    an older client set the core suite also runs with
#                                         (tests/clients/NAME.txt)
#   scripts/python-env.sh dataframes      s3fs, pyarrow and polars (tests/dataframes/requirements.txt)
#   scripts/python-env.sh dbt             dbt-athena (tests/dbt/requirements.txt)
#   scripts/python-env.sh iceberg         pyiceberg and DuckDB, the newest (tests/iceberg/requirements.txt)
#   scripts/python-env.sh iceberg-oldest  pyiceberg and DuckDB, the oldest supported (tests/iceberg/oldest.txt)
#   scripts/python-env.sh bench           the benchmarks' inputs and peers (bench/requirements.txt)
# Each venv lives under $HOME/.cache/minerva, keyed by the hash of its requirements file, so that
# a changed pin makes a new venv and an unchanged one is reused by every run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
case "${1:-main}" in
    main) req="$root/tests/requirements.txt" ;;
    clients/*) req="$root/tests/$1.txt" ;;
    dataframes) req="$root/tests/dataframes/requirements.txt" ;;
    dbt) req="$root/tests/dbt/requirements.txt" ;;
    iceberg) req="$root/tests/iceberg/requirements.txt" ;;
    iceberg-oldest) req="$root/tests/iceberg/oldest.txt" ;;
    bench) req="$root/bench/requirements.txt" ;;
    *) echo "unknown environment: $1" >&2; exit 2 ;;
esac
[ -f "$req" ] || { echo "no such requirements file: $req" >&2; exit 2; }
hash="$(sha256sum "$req" | cut -c1-16)"
venv="$HOME/.cache/minerva/venv-$hash"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
    touch "$venv/.complete"
fi
echo "$venv"

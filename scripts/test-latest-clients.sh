#!/usr/bin/env bash
# For maintainers, before a release: runs the end-to-end suite against whatever is newest on the
# package registry, unpinned, to catch the next protocol change before users do (botocore moved
# Athena to REST-JSON in a patch release; a pinned suite stayed green while every fresh install
# failed). Prints the versions it used. Builds the debug binary first, as scripts/test.sh does.
#   scripts/test-latest-clients.sh [pytest arguments]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/minerva/target}"
# The same build as scripts/test.sh, so that one warms the other.
cargo build --workspace --all-targets
export MINERVA_BIN="$CARGO_TARGET_DIR/debug/minerva"
latest="$HOME/.cache/minerva/latest"
rm -rf "$latest"
mkdir -p "$latest"

# The package names of a requirements file, without their pins.
names() { grep -v '^\s*#' "$1" | sed -e 's/\s*#.*//' -e 's/[<>=!~;[].*//' | grep -v '^\s*$'; }

status=0
run() { # name, requirements file, pytest arguments...
    local name="$1" req="$2"
    shift 2
    echo "== $name: installing the newest releases"
    python3 -m venv "$latest/$name"
    if ! "$latest/$name/bin/pip" install --quiet --disable-pip-version-check --upgrade $(names "$req") >"$latest/$name.install.log" 2>&1; then
        echo "!! $name: the newest releases do not install together; see $latest/$name.install.log"
        tail -5 "$latest/$name.install.log"
        status=1
        return
    fi
    echo "== $name: versions"
    "$latest/$name/bin/pip" freeze --disable-pip-version-check | grep -iE "^($(names "$req" | paste -sd'|'))==" || true
    echo "== $name: end-to-end tests"
    "$latest/$name/bin/python" -m pytest "$@" -q -p no:cacheprovider || status=1
}

run main tests/requirements.txt tests --ignore=tests/dataframes --ignore=tests/dbt --ignore=tests/iceberg "$@"
run dataframes tests/dataframes/requirements.txt tests/dataframes "$@"
run iceberg tests/iceberg/requirements.txt tests/iceberg "$@"
# dbt-athena with its own dependencies (dbt-core, PyAthena) left to the resolver.
printf 'dbt-athena\ndbt-core\nboto3\npytest\n' >"$latest/dbt.txt"
run dbt "$latest/dbt.txt" tests/dbt "$@"
exit $status

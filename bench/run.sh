#!/usr/bin/env bash
# Runs the benchmarks: builds the image's binary (the `dist` profile), then each benchmark named (all by default),
# and gathers their results into bench/RESULTS.md.
#   bench/run.sh [--quick] [storage|crawler|reviews|tpch|delivery|iceberg|docker|build ...]
# It installs what the peers need: nginx (Debian), moto, DuckDB and DataFusion (PyPI, in the
# benchmark virtualenv) and s3s-fs (crates.io, under ~/.cache/minerva/bench-tools).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/minerva/target}"
quick=()
names=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick=(--quick) ;;
        *) names+=("$arg") ;;
    esac
done
[ ${#names[@]} -eq 0 ] && names=(storage crawler reviews tpch delivery iceberg docker build)
# One binary for every benchmark: the image's (glibc linked in, for the empty base), so that the
# figures measured are those of the binary users run in docker-compose too.
RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile dist --locked --bin minerva --target x86_64-unknown-linux-gnu
binary="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/dist/minerva"
venv="$(scripts/python-env.sh bench)"
if [[ " ${names[*]} " == *" storage "* ]]; then
    cargo build --release -p minerva-loadgen
    tools="$HOME/.cache/minerva/bench-tools"
    if [ ! -x "$tools/bin/s3s-fs" ]; then
        cargo install s3s-fs --version 0.14.1 --features binary --locked --root "$tools"
    fi
    if ! command -v nginx >/dev/null; then
        apt-get install -y --no-install-recommends nginx >/dev/null
    fi
fi
for name in "${names[@]}"; do
    echo "== $name"
    if [ "$name" = build ]; then
        # Builds in a copy of its own: no binary, no peers.
        "$venv/bin/python" bench/build.py --out bench/results/build.md
        continue
    fi
    extra=()
    python="$venv/bin/python"
    if [ "$name" = iceberg ]; then
        # pyiceberg, and DuckDB with its iceberg extension: the Iceberg tests' virtualenv.
        python="$(scripts/python-env.sh iceberg)/bin/python"
        extra=(--tpchgen "$venv/bin/tpchgen-cli")
    elif [ "$name" = docker ]; then
        extra=(--static-binary "$binary")
    elif [ "$name" = storage ]; then
        extra=(--loadgen "$CARGO_TARGET_DIR/release/minerva-loadgen" --s3s-fs "$tools/bin/s3s-fs")
    fi
    "$python" "bench/$name.py" "${quick[@]}" "${extra[@]}" --binary "$binary" --out "bench/results/$name.md"
done
{
    echo "# Benchmark results"
    echo
    echo "Produced by \`bench/run.sh\`; each section by one benchmark (see bench/README.md)."
    echo
    for f in bench/results/*.md; do
        sed 's/^# /## /' "$f"
        echo
    done
} > bench/RESULTS.md
echo "wrote bench/RESULTS.md"

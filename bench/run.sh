#!/usr/bin/env bash
# Runs the benchmarks: builds the release binary, then each benchmark named (all by default),
# and gathers their results into bench/RESULTS.md.
#   bench/run.sh [--quick] [crawler ...]
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
[ ${#names[@]} -eq 0 ] && names=(crawler)
cargo build --release --bin minerva
venv="$(scripts/python-env.sh main)"
for name in "${names[@]}"; do
    echo "== $name"
    "$venv/bin/python" "bench/$name.py" "${quick[@]}" --binary "$CARGO_TARGET_DIR/release/minerva" --out "bench/results/$name.md"
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

"""Build benchmark (issue 19): how long the README's first command takes a new user, and what each
build profile makes. In a fresh copy of the repository (`git archive HEAD`) with an empty target
directory: `cargo build --release --bin minerva` cold, then again after a one-line change of code in
server/ (what a contributor waits for between edits), and the binary each profile makes with its
size. The registry's crates are already downloaded (a cold build here measures compiling, not
the network). Peak memory is the largest compiler or linker process. Cold builds run with
cargo's `--timings`: the crates that took longest are listed with the share of the build's
compiler time they took (where the time goes), and the full report is kept with `--keep`.

Usage: python bench/build.py [--profiles release,dist] [--out bench/results/build.md]
"""

import argparse
import datetime
import json
import re
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_section

ROOT = Path(__file__).resolve().parent.parent


def cargo(args, cwd: Path, target: Path) -> float:
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    started = time.perf_counter()
    subprocess.run(["cargo", *args], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def unit_times(target: Path) -> list[tuple[str, float]]:
    """Seconds of compiler time per crate (all its units: build script, library, binary), from
    the data cargo's `--timings` report embeds."""
    html = (target / "cargo-timings" / "cargo-timing.html").read_text()
    units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", html, re.S).group(1))
    per_crate: dict[str, float] = {}
    for u in units:
        per_crate[u["name"]] = per_crate.get(u["name"], 0.0) + u["duration"]
    return sorted(per_crate.items(), key=lambda kv: -kv[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", default="release,dist", help="profiles built cold, in order")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "build.md"))
    ap.add_argument("--keep", help="a directory to copy each cold build's cargo timing report to")
    ap.add_argument("--top", type=int, default=12, help="how many of the slowest crates to list")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="minerva-bench-build-"))
    rows = []
    try:
        src = work / "src"
        src.mkdir()
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
        for profile in args.profiles.split(","):
            target = work / f"target-{profile}"
            flag = ["--release"] if profile == "release" else ["--profile", profile]
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            cold = cargo(["build", *flag, "--locked", "--timings", "--bin", "minerva"], src, target)
            crates = unit_times(target)
            if args.keep:
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(target / "cargo-timings" / "cargo-timing.html", Path(args.keep) / f"cargo-timing-{profile}.html")
            peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
            binary = target / profile / "minerva"
            size = binary.stat().st_size / 2**20
            stripped = work / "stripped"
            subprocess.run(["strip", "-o", str(stripped), str(binary)], check=True)
            stripped_size = stripped.stat().st_size / 2**20
            # A one-line change in server/ that changes code, not a comment (which an incremental
            # build sees through): the text of the message a failed command ends with.
            main_rs = src / "server" / "src" / "main.rs"
            original = main_rs.read_text()
            marker = 'eprintln!("minerva: {}", '
            assert marker in original, f"update build.py: {marker} is no longer in server/src/main.rs"
            main_rs.write_text(original.replace(marker, 'eprintln!("minerva failed: {}", ', 1))
            warm = cargo(["build", *flag, "--locked", "--bin", "minerva"], src, target)
            main_rs.write_text(original)
            rows.append((profile, cold, warm, size, stripped_size, peak, crates))
            shutil.rmtree(target, ignore_errors=True)
        rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        "# Build time and binary size (issue 19)",
        "",
        f"- date: {datetime.date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores; {rustc}; commit {commit}",
        "- each profile built once in a fresh copy of the repository with an empty target directory (crates already downloaded), "
        "then again after a one-line change of code in server/src/main.rs; sizes of `minerva` as built and stripped",
        "",
        "| profile | cold build | after a one-line change in server/ | binary | stripped | peak memory of one compiler process |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for profile, cold, warm, size, stripped_size, peak, _ in rows:
        lines.append(f"| `{profile}` | {cold / 60:.1f} min | {warm:.0f} s | {size:.0f} MiB | {stripped_size:.0f} MiB | {peak:.0f} MiB |")
    lines += ["", "`release` is what `cargo run --release` (the README's first command) builds; `dist` (fat LTO, one codegen unit) "
              "is the image's and the benchmarks' binary.", ""]
    for profile, _, _, _, _, _, crates in rows:
        total = sum(t for _, t in crates)
        lines += [f"Where the cold `{profile}` build's time goes: {total / 60:.1f} min of compiler time in {len(crates)} crates "
                  f"(over 2 cores when they run side by side); the {args.top} slowest:", "",
                  "| crate | compiler time | share |", "| --- | --- | --- |"]
        lines += [f"| {name} | {t:.0f} s | {100 * t / total:.1f}% |" for name, t in crates[:args.top]]
        lines.append("")
    write_section(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())

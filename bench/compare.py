"""Compares two runs of the same benchmark (two Minerva binaries, one machine, one session):
the per-query medians and geometric means of tpch.py's reports, the figures of storage.py's, and
the peers' figures of both runs, whose spread is the noise the difference is judged against.

    python bench/compare.py --title TITLE --a-name NAME --b-name NAME \\
        --tpch A.md B.md [--tpch A2.md B2.md] --storage A.md B.md --out bench/results/NAME.md
"""

import argparse
import math
import re
from pathlib import Path


def tables(path: Path) -> dict:
    """Each `## SECTION` of a report: its table rows, cells stripped."""
    out, section = {}, None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            out[section] = []
        elif section and line.startswith("| ") and not line.startswith("| ---"):
            out[section].append([c.strip() for c in line.strip("|").split("|")])
    return out


def median(cell: str):
    """The median of a `0.383 (0.357 – 0.409)` cell (thousands separators allowed), or None."""
    m = re.match(r"([\d,]+(?:\.\d+)?)", cell)
    return float(m.group(1).replace(",", "")) if m else None


def tpch(a: Path, b: Path, names: tuple) -> list:
    ta, tb = tables(a), tables(b)
    lines = []
    for section in ta:
        rows_a, rows_b = ta[section], tb.get(section, [])
        if not rows_a or rows_a[0][0] != "query":
            continue
        header = rows_a[0]
        col = {name: header.index(name) for name in header}
        lines += [f"### TPC-H, {section}", "",
                  f"| query | Minerva {names[0]} | Minerva {names[1]} | {names[1]} / {names[0]} | DataFusion, run {names[0]} / run {names[1]} | DuckDB, run {names[0]} / run {names[1]} |",
                  "| --- | --- | --- | --- | --- | --- |"]
        ratios, peer_ratios = [], []
        for ra, rb in zip(rows_a[1:], rows_b[1:]):
            if ra[0] == "geometric mean":
                continue
            ma, mb = median(ra[col["Minerva (Athena API)"]]), median(rb[col["Minerva (Athena API)"]])
            da, db = median(ra[col["DataFusion"]]), median(rb[col["DataFusion"]])
            ka, kb = median(ra[col["DuckDB"]]), median(rb[col["DuckDB"]])
            ratios.append(mb / ma)
            peer_ratios += [db / da, kb / ka]
            lines.append(f"| {ra[0]} | {ma:.3f} | {mb:.3f} | {mb / ma:.2f} | {da / db:.2f} | {ka / kb:.2f} |")
        geo = lambda xs: math.exp(sum(math.log(x) for x in xs) / len(xs))
        ga = [r for r in rows_a if r[0] == "geometric mean"][0]
        gb = [r for r in rows_b if r[0] == "geometric mean"][0]
        lines += [f"| geometric mean | {median(ga[1]):.3f} | {median(gb[1]):.3f} | {geo(ratios):.2f} | "
                  f"{median(ga[2]) / median(gb[2]):.2f} | {median(ga[3]) / median(gb[3]):.2f} |", ""]
        spread = max(abs(math.log(r)) for r in peer_ratios)
        lines += [f"Minerva {names[1]} over {names[0]}, geometric mean of the per-query ratios: {geo(ratios):.3f}. "
                  f"The same peers, run twice on the same files, differ per query by up to {math.exp(spread):.2f}x "
                  f"(geometric mean of their ratios {geo(peer_ratios):.3f}): that is the noise.", ""]
    return lines


def storage(a: Path, b: Path, names: tuple) -> list:
    ta, tb = tables(a), tables(b)
    lines = [f"### Storage (`storage.py --quick`)", "",
             f"| section | row | column | run {names[0]} | run {names[1]} | {names[1]} / {names[0]} |", "| --- | --- | --- | --- | --- | --- |"]
    for section, rows_a in ta.items():
        rows_b = tb.get(section, [])
        if not rows_a:
            continue
        header = rows_a[0]
        for ra, rb in zip(rows_a[1:], rows_b[1:]):
            for i, (ca, cb) in enumerate(zip(ra, rb)):
                if i == 0 or " / " in header[i] or header[i] == "ratio":
                    continue
                va, vb = median(ca), median(cb)
                if va and vb and re.match(r"^[\d,.]+ \(", ca):
                    label = " ".join(c for c in ra[:2] if not re.match(r"^[\d,.]+ \(", c))
                    lines.append(f"| {section} | {label} | {header[i]} | {ca.split(' (')[0]} | {cb.split(' (')[0]} | {vb / va:.2f} |")
    lines.append("")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--title", required=True)
    ap.add_argument("--a-name", required=True)
    ap.add_argument("--b-name", required=True)
    ap.add_argument("--intro", default="")
    ap.add_argument("--tpch", nargs=2, type=Path, action="append", help="two tpch.py reports (repeatable: one pair a format)")
    ap.add_argument("--storage", nargs=2, type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    names = (args.a_name, args.b_name)
    lines = [f"# {args.title}", ""]
    if args.intro:
        lines += [args.intro, ""]
    for pair in args.tpch or []:
        lines += tpch(*pair, names)
    if args.storage:
        lines += storage(*args.storage, names)
    args.out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()

"""What every benchmark script shares: free ports, medians with their spread, and writing a
result section (bench/results/<name>.md) that bench/run.sh gathers into RESULTS.md."""

import socket
import statistics
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summary(values):
    """Median, min and max."""
    return statistics.median(values), min(values), max(values)


def write_section(out: str, lines: list):
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(lines))
    print("\n".join(lines))

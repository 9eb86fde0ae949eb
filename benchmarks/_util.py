"""Small timing helpers shared by the benchmarks: interleaved repeats, medians, machine description."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import time
from typing import Callable


def machine() -> str:
    """One line describing this machine (CPU model, cores, memory, torch threads)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(ln for ln in open("/proc/meminfo") if ln.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        pass
    try:
        import torch

        threads = f", torch {torch.__version__} with {torch.get_num_threads()} threads"
    except ImportError:
        threads = ""
    return f"{cpu}, {os.cpu_count()} cores{mem}{threads}"


def gpu_name() -> str | None:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return None


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def git_rev() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def interleaved(funcs: dict[str, Callable[[], object]], repeats: int = 30, warmup: int = 3,
                sync: Callable[[], None] | None = None) -> dict[str, float]:
    """Median seconds per call of each function, timed in interleaved rounds so that load from other
    processes hits every contender alike. The order rotates every round, so no contender always runs right
    after the same other one (whose freed memory and evicted caches it would otherwise always pay for)."""
    for f in funcs.values():
        for _ in range(warmup):
            f()
    times: dict[str, list[float]] = {k: [] for k in funcs}
    items = list(funcs.items())
    for r in range(repeats):
        for name, f in items[r % len(items):] + items[:r % len(items)]:
            if sync:
                sync()
            t = time.perf_counter()
            f()
            if sync:
                sync()
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def write_section(path: str, tag: str, text: str) -> None:
    """Replace the section between ``<!-- tag -->`` markers of ``path`` (append it when absent)."""
    from pathlib import Path

    from depth3d.core.atomic import atomic_write

    p = Path(path)
    old = p.read_text() if p.is_file() else "# ToF and structured light (issue 7)\n\n"
    start, end = f"<!-- {tag} -->", f"<!-- /{tag} -->"
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    if start in old and end in old:
        new = old[:old.index(start)] + block + old[old.index(end) + len(end) + 1:]
    else:
        new = old.rstrip() + "\n\n" + block
    with atomic_write(p, "w") as f:
        f.write(new)


def cpu_times(funcs: dict, repeats: int) -> dict:
    """Median CPU seconds (this process, time.process_time) per call: the compute a call needs, unaffected
    by other jobs queueing for the shared cores (numpy runs these single-threaded)."""
    out = {}
    for k, f in funcs.items():
        f()
        ts = []
        for _ in range(repeats):
            t0 = time.process_time()
            f()
            ts.append(time.process_time() - t0)
        out[k] = statistics.median(ts)
    return out


def speed_section(title: str, command: str, wall: dict, cpu: dict, reference: str) -> str:
    """A Markdown speed table: ``wall``/``cpu`` median seconds per frame by decoder (from :func:`interleaved` and
    :func:`cpu_times`), each also as a speed-up over the ``reference`` decoder's wall time; with the machine,
    date, load average and ``command`` above it."""
    tref = wall[reference]
    lines = [f"### {title}", "", f"- machine: {machine()}", f"- date: {today()}; load average before the run: "
             f"{open('/proc/loadavg').read().split()[0]}", f"- command: `{command}`",
             "", "| decoder | wall ms / frame | wall fps | CPU ms / frame | CPU-time fps | reference / this (wall) |",
             "|---|---|---|---|---|---|"]
    for k, v in wall.items():
        lines.append(f"| {k} | {1e3 * v:.2f} | {1 / v:.0f} | {1e3 * cpu[k]:.2f} | {1 / cpu[k]:.0f} | {tref / v:.2f}x |")
    return "\n".join(lines)


def arg_parser(doc: str | None) -> argparse.ArgumentParser:
    """The command line of a benchmark script: ``doc`` (its module docstring: usage, method, output) as the
    ``--help`` text, line breaks kept."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_image_size(ap: argparse.ArgumentParser, width: int, height: int) -> None:
    """``--width`` / ``--height``: the size in pixels of the simulated frames (defaults ``width`` x ``height``)."""
    ap.add_argument("--width", type=int, default=width)
    ap.add_argument("--height", type=int, default=height)

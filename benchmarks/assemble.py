"""Assemble BENCHMARKS.md from the per-area result files in benchmarks/results/*.md.

    python benchmarks/assemble.py

Each benchmark script writes its own results file (machine, command, date, figures); this script only
concatenates them in a fixed order, so BENCHMARKS.md always shows what the scripts measured.
"""

from pathlib import Path

ORDER = ["depth_to_cloud", "roundtrip", "real_files", "ops", "ops_gpu", "capture", "recording_kill", "sim", "stereo", "calibration", "tof_sl", "models", "detection", "detection_real", "floor", "gpu"]
HEADER = """# Benchmarks

Speed is measured side by side with the peer in the same run and reported as ratios; accuracy against ground
truth (simulated scenes with exact depth and boxes, and the real data in `../shared/data`). Each section names
its machine, command and date; re-run a section with its command. CPU figures were taken on the 2-core
development machine, often while other jobs ran on it: the ratios come from interleaved rounds and are more
reliable than the absolute times.
"""


def main() -> None:
    root = Path(__file__).resolve().parent
    results = root / "results"
    files = sorted(results.glob("*.md"), key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else 99, p.stem))
    parts = [HEADER] + [p.read_text().strip() + "\n" for p in files]
    (root.parent / "BENCHMARKS.md").write_text("\n".join(parts))
    print(f"BENCHMARKS.md from {len(files)} result files")


if __name__ == "__main__":
    main()

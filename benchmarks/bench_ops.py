"""Benchmark depth3d.ops against torch-cluster (CPU, same run) or, with --device cuda, against the
plain-PyTorch reference and torch-cluster's CUDA kernels (when importable).

Cases (uniform random clouds in the unit cube, seed 0):
  FPS 20,000 -> 2,048 (batch 1) and 8 x 4,096 -> 1,024;
  radius search r=0.2, 64 neighbours, queries = the FPS samples, at those sizes;
  kNN k=16, same queries.

Outlier suite (--suite outliers): the same ops on 20,000- and 1,000,000-point clouds with 0 far
outliers, 1 far point at (1e6, 0, 0), and 1% flying pixels spread over a +-1e6 box; queries are the FPS
samples (so the outliers are among them). Reports each time and its ratio to the clean cloud (goal:
within 2x) beside torch-cluster (CPU) or the plain-PyTorch reference (CUDA) in the same run. On CPU it
also reports process CPU time: on a shared machine run it with --threads 1, where CPU time measures
the work done regardless of the other jobs (with 2 threads, OpenMP waiting under load inflates both).

Usage: python benchmarks/bench_ops.py [--device cpu|cuda] [--repeats 7] [--threads N]
                                      [--suite basic|outliers] [--sizes 20000 1000000]
Prints a markdown table (median ms over repeats; ratio = peer / ours, >1 means we are faster).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import depth3d.ops as ops  # noqa: E402
from depth3d.ops import reference as R  # noqa: E402


def timeit(fn, repeats: int, device: str) -> float:
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def timeit_wall_cpu(fn, repeats: int) -> tuple[float, float]:
    """Median wall ms and median process CPU ms (all threads) over repeats, after one warm-up. On a
    shared machine the CPU time is the steadier measure of the work done (wall time also counts the
    time other jobs hold the cores); with --threads 1 the two agree on an idle machine."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: as is)")
    ap.add_argument("--suite", choices=["basic", "outliers"], default="basic")
    ap.add_argument("--sizes", type=int, nargs="+", default=[20000, 1000000],
                    help="cloud sizes of the outlier suite")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    if dev == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available", file=sys.stderr)
        return 2
    try:
        import torch_cluster as tc
        peer = f"torch-cluster {tc.__version__}"
        if dev == "cuda" and not torch.ops.torch_cluster.fps.default.has_kernel_for_dispatch_key("CUDA"):
            tc, peer = None, "torch-cluster (no CUDA kernels)"
    except Exception as exc:  # noqa: BLE001
        tc, peer = None, f"torch-cluster not importable ({type(exc).__name__})"
    assert ops.backend_name() == "compiled", "compiled kernels did not load"

    machine = (torch.cuda.get_device_name() if dev == "cuda" else cpu_name())
    if args.suite == "outliers":
        return outlier_suite(args, dev, tc, peer, machine)
    print(f"## depth3d.ops vs peers, device={dev}\n")
    print(f"- machine: {machine}; {os.cpu_count()} CPUs visible, torch threads {torch.get_num_threads()}")
    print(f"- torch {torch.__version__}; peer: {peer}")
    print(f"- command: `python {' '.join(sys.argv)}`; date {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"- median of {args.repeats} runs after one warm-up; ratio = peer ms / ours ms\n")
    rows = []
    g = torch.Generator().manual_seed(0)
    for B, N, S in ((1, 20000, 2048), (8, 4096, 1024)):
        p_cpu = torch.rand(B, N, 3, generator=g)
        p = p_cpu.to(dev)
        lab = f"{B}x{N}->{S}" if B > 1 else f"{N}->{S}"
        packed = p.reshape(-1, 3)
        batch = torch.arange(B, device=dev).repeat_interleave(N)
        idx = ops.furthest_point_sample(p, S)
        q = torch.gather(p, 1, idx[..., None].expand(-1, -1, 3)).contiguous()
        qpacked = q.reshape(-1, 3)
        qbatch = torch.arange(B, device=dev).repeat_interleave(S)
        same = ""
        if dev == "cuda":
            cpu_idx = ops.furthest_point_sample(p_cpu, S)
            bq_c = ops.ball_query(q.cpu(), p_cpu, 0.2, 64)[1]
            kn_c = ops.knn(q.cpu(), p_cpu, 16)[1]
            same = {"fps": torch.equal(cpu_idx, idx.cpu()),
                    "ball": torch.equal(bq_c, ops.ball_query(q, p, 0.2, 64)[1].cpu()),
                    "knn": torch.equal(kn_c, ops.knn(q, p, 16)[1].cpu())}
        cases = [
            ("FPS " + lab, lambda: ops.furthest_point_sample(p, S),
             (lambda: tc.fps(packed, batch if B > 1 else None, ratio=S / N, random_start=False)) if tc else None,
             "fps"),
            (f"ball query r=0.2 K=64, {B}x{S} q / {N} pts", lambda: ops.ball_query(q, p, 0.2, 64),
             (lambda: tc.radius(packed, qpacked, 0.2, batch if B > 1 else None, qbatch if B > 1 else None,
                                max_num_neighbors=64)) if tc else None, "ball"),
            (f"kNN k=16, {B}x{S} q / {N} pts", lambda: ops.knn(q, p, 16),
             (lambda: tc.knn(packed, qpacked, 16, batch if B > 1 else None, qbatch if B > 1 else None))
             if tc else None, "knn"),
        ]
        for name, ours, theirs, key in cases:
            t_ours = timeit(ours, args.repeats, dev)
            t_peer = timeit(theirs, args.repeats, dev) if theirs else float("nan")
            extra = ""
            if dev == "cpu" and tc is not None and key in ("ball", "knn"):
                kw = dict(num_workers=torch.get_num_threads())
                fn = (lambda: tc.radius(packed, qpacked, 0.2, batch if B > 1 else None,
                                        qbatch if B > 1 else None, max_num_neighbors=64, **kw)) \
                    if key == "ball" else \
                    (lambda: tc.knn(packed, qpacked, 16, batch if B > 1 else None, qbatch if B > 1 else None, **kw))
                t2 = timeit(fn, args.repeats, dev)
                extra = f"{t2:.2f} ({t2 / t_ours:.1f}x)"
            ref = ""
            if dev == "cuda":
                L = torch.full((B,), N, device=dev)
                QL = torch.full((B,), S, device=dev)
                if key == "fps":
                    rf = lambda: R.furthest_point_sample(p, L, torch.full((B,), S, device=dev), S,  # noqa: E731
                                                         torch.zeros(B, dtype=torch.long, device=dev))
                    t_ref = timeit(rf, 1, dev)
                elif key == "ball":
                    t_ref = timeit(lambda: R.ball_query(q, p, QL, L, 0.2, 64), args.repeats, dev)
                else:
                    t_ref = timeit(lambda: R.knn(q, p, QL, L, 16), args.repeats, dev)
                ref = f"{t_ref:.2f} ({t_ref / t_ours:.1f}x)"
            rows.append((name, t_ours, t_peer, extra, ref, same[key] if same else ""))
    if dev == "cpu":
        print("| case | ours ms | torch-cluster ms (default num_workers=1) | ratio | "
              "torch-cluster num_workers=threads ms (ratio) |")
        print("|---|---:|---:|---:|---:|")
        for name, a, b, extra, _, _ in rows:
            print(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.1f}x | {extra or '-'} |")
    else:
        print("| case | ours ms | plain-PyTorch reference ms (ratio) | torch-cluster CUDA ms | ratio | "
              "CUDA indices == CPU kernel |")
        print("|---|---:|---:|---:|---:|---|")
        for name, a, b, _, ref, same in rows:
            peer_ms = f"{b:.3f}" if b == b else "-"
            ratio = f"{b / a:.1f}x" if b == b else "-"
            print(f"| {name} | {a:.3f} | {ref} | {peer_ms} | {ratio} | {same} |")
    return 0


def _load() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "unknown"


def outlier_suite(args, dev: str, tc, peer: str, machine: str) -> int:
    print(f"## depth3d.ops with far outliers, device={dev}\n")
    print(f"- machine: {machine}; {os.cpu_count()} CPUs visible, torch threads {torch.get_num_threads()}")
    print(f"- torch {torch.__version__}; peer: {peer}; load average at start {_load()}")
    print(f"- command: `python {' '.join(sys.argv)}`; date "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"- median of {args.repeats} runs after one warm-up (1 run for 1M-point clouds); "
          "x clean = ms / ms on the clean cloud of the same size (goal <= 2), from wall time and from "
          "process CPU time (all threads; steadier on a shared machine); peer ratio = peer wall ms / ours\n")
    print("| N | outliers | op | ours ms | x clean | ours CPU ms | x clean (CPU) | peer ms | peer / ours |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    g = torch.Generator().manual_seed(0)
    for N in args.sizes:
        base = torch.rand(N, 3, generator=g)
        far = (torch.rand(N // 100, 3, generator=g) - 0.5) * 2e6
        reps = args.repeats if N <= 100000 else 1
        S = 2048 if N <= 100000 else 1024
        clean, clean_cpu = {}, {}
        for label in ("0", "1", "1%"):
            p = base.clone()
            if label == "1":
                p[N // 2] = torch.tensor([1e6, 0.0, 0.0])
            elif label == "1%":
                p[-(N // 100):] = far
            p = p.to(dev)
            idx = ops.furthest_point_sample(p, S)
            q = p[idx].contiguous()
            cases = [("FPS ->%d" % S, lambda: ops.furthest_point_sample(p, S),
                      (lambda: tc.fps(p, None, ratio=S / N, random_start=False)) if tc else None),
                     ("kNN k=16", lambda: ops.knn(q, p, 16),
                      (lambda: tc.knn(p, q, 16)) if tc else None),
                     ("ball r=0.2 K=64 index", lambda: ops.ball_query(q, p, 0.2, 64),
                      (lambda: tc.radius(p, q, 0.2, max_num_neighbors=64)) if tc else None),
                     ("ball r=0.2 K=64 nearest", lambda: ops.ball_query(q, p, 0.2, 64, order="nearest"),
                      None)]
            if dev == "cuda" and N <= 100000:
                L, QL = torch.tensor([N], device=dev), torch.tensor([S], device=dev)
                cases[1] = cases[1][:2] + (lambda: R.knn(q[None], p[None], QL, L, 16),)
                cases[2] = cases[2][:2] + (lambda: R.ball_query(q[None], p[None], QL, L, 0.2, 64),)
            for name, ours, theirs in cases:
                if dev == "cuda":
                    t, tc_ = timeit(ours, reps, dev), float("nan")
                else:
                    t, tc_ = timeit_wall_cpu(ours, reps)
                clean.setdefault(name, t)
                clean_cpu.setdefault(name, tc_)
                tp = timeit(theirs, reps, dev) if theirs else float("nan")
                pr = f"{tp:.1f} | {tp / t:.1f}x" if tp == tp else "- | -"
                cp = f"{tc_:.1f} | {tc_ / clean_cpu[name]:.2f}" if tc_ == tc_ else "- | -"
                print(f"| {N} | {label} | {name} | {t:.1f} | {t / clean[name]:.2f} | {cp} | {pr} |", flush=True)
    print(f"\n- load average at end {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Inference time per cloud and parameter count of the classification networks.

    python benchmarks/bench_models.py --device cpu|cuda [--points 1024] [--batch 16] [--repeats 10]
        [--config paper|small] [--threads 2] [--output FILE.md]

``paper``: the papers' configurations on ``--points`` (default 1024) points; ``small``: the reduced
configuration used for the CPU training runs in benchmarks/results/models.md (256 points, half width).
Times are medians of interleaved repeats (all models take turns, so background load hits each alike),
reported per cloud (batch time / batch size). Prints a markdown table (and writes it with --output).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SMALL = {
    "pointnet2_ssg": dict(npoint=(128, 32), nsample=(16, 32), width=0.5),
    "pointnet2_msg": dict(npoint=(128, 32), nsamples=((8, 16, 32), (16, 32, 32)), width=0.5),
    "pointconv": dict(npoint=(128, 32), nsample=(16, 32), width=0.5),
    "sonet": dict(width=0.5, som_iters=6),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--config", choices=("paper", "small"), default="paper")
    ap.add_argument("--points", type=int, default=None, help="points per cloud (paper 1024, small 256)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--models", default="pointnet2_ssg,pointnet2_msg,pointconv,sonet")
    ap.add_argument("-o", "--output", help="also write the markdown table here")
    args = ap.parse_args(argv)

    import torch

    from _util import gpu_name, interleaved, machine, today
    from depth3d import ops
    from depth3d.models.registry import build_classifier

    warnings.simplefilter("ignore", RuntimeWarning)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_models: --device cuda but torch has no CUDA device", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    n = args.points or (1024 if args.config == "paper" else 256)
    dev = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, n, 3, generator=g)
    x = (x / x.norm(dim=-1, keepdim=True) * torch.rand(args.batch, n, 1, generator=g).pow(1 / 3)).to(dev)
    models, params = {}, {}
    for name in args.models.split(","):
        kw = SMALL[name] if args.config == "small" else {}
        m = build_classifier(name, args.classes, **kw).to(dev).eval()
        models[name] = m
        params[name] = sum(p.numel() for p in m.parameters())
    sync = torch.cuda.synchronize if args.device == "cuda" else None

    def runner(m):
        def f():
            with torch.no_grad():
                m(x)
        return f

    t = interleaved({k: runner(m) for k, m in models.items()}, repeats=args.repeats, warmup=2, sync=sync)
    where = gpu_name() if args.device == "cuda" else machine()
    lines = [f"Inference, {args.config} configuration, {n} points/cloud, batch {args.batch}, device {args.device} "
             f"({where}), ops backend {ops.backend_name()}, {today()}; median of {args.repeats} interleaved repeats.",
             "", "| model | parameters | ms per cloud | ms per batch |", "|---|---:|---:|---:|"]
    for k in models:
        lines.append(f"| {k} | {params[k]:,} | {1000 * t[k] / args.batch:.2f} | {1000 * t[k]:.1f} |")
    text = "\n".join(lines)
    print(text)
    if args.output:
        from depth3d.core.atomic import atomic_write

        with atomic_write(args.output, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

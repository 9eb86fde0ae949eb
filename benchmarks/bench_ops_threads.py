"""Ball query / kNN at 8 x 4,096 -> 1,024 vs torch-cluster with a given torch thread count (argv[1]).

Usage: python benchmarks/bench_ops_threads.py 1   (needs torch-cluster)
"""
import sys, time, statistics
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
import depth3d.ops as ops
try:
    import torch_cluster as tc
except ImportError:
    print("torch-cluster is not installed; nothing to compare"); raise SystemExit(0)
torch.set_num_threads(int(sys.argv[1]))
g = torch.Generator().manual_seed(0)
B, N, S = 8, 4096, 1024
p = torch.rand(B, N, 3, generator=g); idx = ops.furthest_point_sample(p, S)
q = torch.gather(p, 1, idx[..., None].expand(-1, -1, 3)).contiguous()
pk, qk = p.reshape(-1, 3), q.reshape(-1, 3)
b = torch.arange(B).repeat_interleave(N); qb = torch.arange(B).repeat_interleave(S)
def t(f):
    f(); ts = []
    for _ in range(7):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3
for name, a, c in [("ball", lambda: ops.ball_query(q, p, 0.2, 64), lambda: tc.radius(pk, qk, 0.2, b, qb, max_num_neighbors=64)),
                   ("knn", lambda: ops.knn(q, p, 16), lambda: tc.knn(pk, qk, 16, b, qb))]:
    x, y = t(a), t(c)
    print(f"threads={sys.argv[1]} {name} 8x4096: ours {x:.1f} ms, torch-cluster {y:.1f} ms, ratio {y/x:.2f}x")

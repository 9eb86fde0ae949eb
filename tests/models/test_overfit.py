"""Each classifier overfits a handful of clouds (4 classes x 2 clouds of 128 points) within a few dozen
steps: the whole pipeline (ops, grouping, heads, gradients) learns."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from depth3d.models.registry import build_classifier

warnings.filterwarnings("ignore", category=RuntimeWarning)

SMALL = {
    "pointnet2_ssg": dict(npoint=(32, 8), nsample=(8, 8), width=0.25, dropout=0.0),
    "pointnet2_msg": dict(npoint=(32, 8), nsamples=((4, 8, 8), (4, 8, 8)), width=0.25, dropout=0.0),
    "pointconv": dict(npoint=(32, 8), nsample=(8, 8), width=0.25, dropout=0.0),
    "sonet": dict(width=0.25, som_iters=3, dropout=0.0),
}


def _shapes(n=128, seed=0):
    """Clouds of four analytic shapes (sphere, cube, cylinder, flat disc), two of each; labels 0..3."""
    rng = np.random.default_rng(seed)
    clouds, labels = [], []
    for rep in range(2):
        v = rng.standard_normal((n, 3))
        clouds.append(0.8 * v / np.linalg.norm(v, axis=1, keepdims=True))
        c = rng.uniform(-0.5, 0.5, (n, 3))
        ax = rng.integers(0, 3, n)
        c[np.arange(n), ax] = np.sign(rng.uniform(-1, 1, n)) * 0.5
        clouds.append(c)
        t = rng.uniform(0, 2 * np.pi, n)
        clouds.append(np.stack([0.4 * np.cos(t), 0.4 * np.sin(t), rng.uniform(-0.8, 0.8, n)], 1))
        r = 0.9 * np.sqrt(rng.uniform(0, 1, n))
        clouds.append(np.stack([r * np.cos(t), r * np.sin(t), 0.02 * rng.standard_normal(n)], 1))
        labels += [0, 1, 2, 3]
    return torch.tensor(np.stack(clouds), dtype=torch.float32), torch.tensor(labels)


@pytest.mark.parametrize("name", list(SMALL))
def test_overfits_a_handful_of_clouds(name):
    torch.manual_seed(0)
    torch.set_num_threads(2)
    x, y = _shapes()
    model = build_classifier(name, 4, **SMALL[name])
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(40):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        logits = model(x)
    assert F.cross_entropy(logits, y).item() < 0.2
    assert (logits.argmax(1) == y).all()

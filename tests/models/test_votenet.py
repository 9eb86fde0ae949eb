"""VoteNet model: the full configuration's state_dict equals the reference's, forward shapes, losses; the one
checkpoint reader (the shipped model file, the released facebookresearch/votenet .tar format, with
weights_only loading; files that would run code are refused without running it; `depth3d train det` runs
are read in tests/train)."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from depth3d.models.votenet import (CheckpointError, VoteNet, build_votenet, load_votenet, save_checkpoint,
                                    scannet_config, small_config, sunrgbd_config, tiny_config)
from depth3d import ops
from depth3d.models.votenet.loss import get_loss, huber_loss, nn_distance


def reference_state_dict_shapes(input_feature_dim: int, nh: int, ns: int, nc: int) -> dict:
    """Keys and shapes of facebookresearch/votenet's ``VoteNet(...).state_dict()``, written down from its
    code: models/backbone_module.py (sa1..sa4 mlps [in,64,64,128], [128,128,128,256], [256,128,128,256] x2,
    fp1/fp2 [512,256,256]), pointnet2_modules.py (PointnetSAModuleVotes.mlp_module = SharedMLP(mlp with
    +3 for use_xyz); PointnetFPModule.mlp), pytorch_utils.py (SharedMLP -> 'layer{i}' = Conv2d(bn=True):
    'conv' (1x1, bias=False) + 'bn' (_BNBase holding 'bn' = nn.BatchNorm2d)), voting_module.py
    (conv1/conv2 256->256, conv3 256->(3+256), bn1/bn2) and proposal_module.py (vote_aggregation
    mlp [256+3,128,128,128], conv1/conv2 128->128, conv3 128->2+3+2NH+4NS+NC, bn1/bn2)."""
    out = {}

    def shared_mlp(prefix, spec):
        for i in range(len(spec) - 1):
            out[f"{prefix}.layer{i}.conv.weight"] = (spec[i + 1], spec[i], 1, 1)
            for p in ("weight", "bias", "running_mean", "running_var"):
                out[f"{prefix}.layer{i}.bn.bn.{p}"] = (spec[i + 1],)
            out[f"{prefix}.layer{i}.bn.bn.num_batches_tracked"] = ()

    def conv1d(prefix, cin, cout):
        out[f"{prefix}.weight"] = (cout, cin, 1)
        out[f"{prefix}.bias"] = (cout,)

    def bn1d(prefix, c):
        for p in ("weight", "bias", "running_mean", "running_var"):
            out[f"{prefix}.{p}"] = (c,)
        out[f"{prefix}.num_batches_tracked"] = ()

    shared_mlp("backbone_net.sa1.mlp_module", [input_feature_dim + 3, 64, 64, 128])
    shared_mlp("backbone_net.sa2.mlp_module", [128 + 3, 128, 128, 256])
    shared_mlp("backbone_net.sa3.mlp_module", [256 + 3, 128, 128, 256])
    shared_mlp("backbone_net.sa4.mlp_module", [256 + 3, 128, 128, 256])
    shared_mlp("backbone_net.fp1.mlp", [512, 256, 256])
    shared_mlp("backbone_net.fp2.mlp", [512, 256, 256])
    conv1d("vgen.conv1", 256, 256)
    conv1d("vgen.conv2", 256, 256)
    conv1d("vgen.conv3", 256, 3 + 256)
    bn1d("vgen.bn1", 256)
    bn1d("vgen.bn2", 256)
    shared_mlp("pnet.vote_aggregation.mlp_module", [256 + 3, 128, 128, 128])
    conv1d("pnet.conv1", 128, 128)
    conv1d("pnet.conv2", 128, 128)
    conv1d("pnet.conv3", 128, 2 + 3 + nh * 2 + ns * 4 + nc)
    bn1d("pnet.bn1", 128)
    bn1d("pnet.bn2", 128)
    return out


@pytest.mark.parametrize("cfg_fn", [sunrgbd_config, scannet_config])
def test_full_config_state_dict_matches_reference(cfg_fn, tmp_path):
    cfg = cfg_fn()
    net = VoteNet.from_dataset_config(cfg, input_feature_dim=1, num_proposal=256, sampling="seed_fps")
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    want = reference_state_dict_shapes(1, cfg.num_heading_bin, cfg.num_size_cluster, cfg.num_class)
    assert sorted(got) == sorted(want)
    assert got == want
    # a checkpoint in the reference's .tar format (random weights of those shapes) loads with strict=True
    sd = {k: (torch.randn(s) if "num_batches" not in k else torch.tensor(7)) for k, s in want.items()}
    torch.save({"epoch": 180, "model_state_dict": sd, "optimizer_state_dict": {}}, tmp_path / "ckpt.tar")
    ckpt = torch.load(tmp_path / "ckpt.tar", map_location="cpu", weights_only=False)
    fresh = VoteNet.from_dataset_config(cfg, input_feature_dim=1, num_proposal=256, sampling="seed_fps")
    fresh.load_state_dict(ckpt["model_state_dict"], strict=True)
    assert torch.equal(fresh.vgen.conv3.weight, sd["vgen.conv3.weight"])


def test_forward_shapes_and_sampling_modes():
    cfg = sunrgbd_config()
    torch.manual_seed(0)
    pc = torch.rand(2, 2048, 4) * torch.tensor([4.0, 4.0, 2.0, 1.0])
    for sampling in ("vote_fps", "seed_fps", "random"):
        net = VoteNet.from_dataset_config(cfg, input_feature_dim=1, sampling=sampling, **tiny_config()).eval()
        with torch.no_grad():
            ep = net({"point_clouds": pc})
        k = 128
        assert ep["objectness_scores"].shape == (2, k, 2)
        assert ep["center"].shape == (2, k, 3)
        assert ep["heading_scores"].shape == (2, k, 12) and ep["heading_residuals"].shape == (2, k, 12)
        assert ep["size_scores"].shape == (2, k, 10) and ep["size_residuals"].shape == (2, k, 10, 3)
        assert ep["sem_cls_scores"].shape == (2, k, 10)
        assert ep["seed_xyz"].shape == (2, 256, 3) and ep["vote_xyz"].shape == (2, 256, 3)
        # votes' features are unit length, seeds are input points
        assert torch.allclose(ep["vote_features"].norm(dim=1), torch.ones(2, 256), atol=1e-4)
        seeds = torch.gather(pc[..., :3], 1, ep["seed_inds"].unsqueeze(-1).expand(-1, -1, 3))
        assert torch.allclose(seeds, ep["seed_xyz"])
        assert np.isfinite(ep["center"].numpy()).all()


def test_prefix_fps_equals_sampling():
    """FPS of an FPS-ordered cloud returns its prefix, so sa2..sa4 may skip sampling."""
    torch.manual_seed(1)
    xyz = torch.rand(2, 3000, 3)
    i1 = ops.furthest_point_sample(xyz, 512)
    sub = torch.gather(xyz, 1, i1.unsqueeze(-1).expand(-1, -1, 3))
    i2 = ops.furthest_point_sample(sub, 128)
    assert torch.equal(i2, torch.arange(128).expand(2, -1))


def test_too_few_points_is_a_clear_error():
    net = VoteNet.from_dataset_config(sunrgbd_config(), input_feature_dim=1, **tiny_config())
    with pytest.raises(ValueError, match="samples 512"):
        net(torch.rand(1, 100, 4))
    with pytest.raises(ValueError, match=r"\(B, N, 4\)"):
        net(torch.rand(1, 1000, 3))


_REF_SCRIPT = """
import sys, torch
from depth3d import ops
from depth3d.models.votenet import VoteNet, sunrgbd_config, tiny_config
torch.manual_seed(0)
net = VoteNet.from_dataset_config(sunrgbd_config(), input_feature_dim=1, **tiny_config()).eval()
pc = torch.rand(1, 2048, 4, generator=torch.Generator().manual_seed(1)) * torch.tensor([4.0, 4.0, 2.0, 1.0])
with torch.no_grad():
    ep = net(pc)
torch.save({"backend": ops.backend_name(), "center": ep["center"], "seed_inds": ep["seed_inds"],
            "objectness_scores": ep["objectness_scores"]}, sys.argv[1])
"""


def test_reference_ops_backend_gives_the_same_votenet(tmp_path, repo_root):
    """VoteNet runs on depth3d.ops only: its plain-PyTorch back end (DEPTH3D_OPS_BACKEND=reference) gives the
    compiled kernels' samples and outputs."""
    import os
    import subprocess
    import sys

    if ops.backend_name() != "compiled":
        pytest.skip("compiled depth3d.ops kernels are not built here")
    out = {}
    for backend in ("compiled", "reference"):
        env = dict(os.environ, DEPTH3D_OPS_BACKEND=backend,
                   PYTHONPATH=str(repo_root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        subprocess.run([sys.executable, "-c", _REF_SCRIPT, str(tmp_path / f"{backend}.pt")], check=True, env=env,
                       timeout=300)
        out[backend] = torch.load(tmp_path / f"{backend}.pt", weights_only=True)
        assert out[backend]["backend"] == backend
    assert torch.equal(out["compiled"]["seed_inds"], out["reference"]["seed_inds"])
    for k in ("center", "objectness_scores"):
        torch.testing.assert_close(out["compiled"][k], out["reference"][k], rtol=1e-4, atol=1e-4)


def test_loss_terms_and_gradients():
    cfg = sunrgbd_config()
    torch.manual_seed(0)
    net = VoteNet.from_dataset_config(cfg, input_feature_dim=1, **tiny_config())
    pc = torch.rand(2, 1024, 4) * 3
    ep = net(pc)
    b, k2 = 2, 64
    labels = dict(center_label=torch.zeros(b, k2, 3), heading_class_label=torch.zeros(b, k2, dtype=torch.long),
                  heading_residual_label=torch.zeros(b, k2), size_class_label=torch.zeros(b, k2, dtype=torch.long),
                  size_residual_label=torch.zeros(b, k2, 3), sem_cls_label=torch.zeros(b, k2, dtype=torch.long),
                  box_label_mask=torch.zeros(b, k2), vote_label=torch.zeros(b, 1024, 9),
                  vote_label_mask=torch.zeros(b, 1024, dtype=torch.long))
    labels["center_label"][:, 0] = torch.tensor([1.5, 1.5, 1.5])
    labels["box_label_mask"][:, 0] = 1
    labels["vote_label_mask"][:, :500] = 1
    ep.update(labels)
    loss, ep = get_loss(ep, cfg)
    for key in ("vote_loss", "objectness_loss", "center_loss", "heading_cls_loss", "size_reg_loss", "sem_cls_loss"):
        assert torch.isfinite(ep[key])
    total = 10 * (ep["vote_loss"] + 0.5 * ep["objectness_loss"] + ep["center_loss"] + 0.1 * ep["heading_cls_loss"]
                  + ep["heading_reg_loss"] + 0.1 * ep["size_cls_loss"] + ep["size_reg_loss"] + 0.1 * ep["sem_cls_loss"])
    assert torch.allclose(loss, total)
    loss.backward()
    assert net.vgen.conv3.weight.grad.abs().sum() > 0


def test_huber_and_chamfer():
    e = torch.tensor([-3.0, -0.5, 0.0, 0.5, 2.0])
    assert torch.allclose(huber_loss(e), torch.tensor([2.5, 0.125, 0.0, 0.125, 1.5]))
    a = torch.tensor([[[0.0, 0, 0], [1, 0, 0]]])
    b_ = torch.tensor([[[0.0, 0, 1]]])
    d1, i1, d2, i2 = nn_distance(a, b_, l1=True)
    assert d1.tolist() == [[1.0, 2.0]] and d2.tolist() == [[1.0]] and i2.tolist() == [[0]]


SHIPPED = Path(__file__).resolve().parents[2] / "data" / "votenet_synthetic.pt"


def _official_tar(path: Path, cfg, seed: int = 0) -> dict:
    """A file in the released checkpoints' format: {'epoch', 'model_state_dict', 'optimizer_state_dict',
    'loss'} with the reference's keys and shapes (written down from its code in test_votenet.py), random
    weights (a randomly initialised model)."""
    torch.manual_seed(seed)
    net = VoteNet.from_dataset_config(cfg, input_feature_dim=1, num_proposal=256, sampling="seed_fps")
    sd = net.state_dict()
    want = reference_state_dict_shapes(1, cfg.num_heading_bin, cfg.num_size_cluster, cfg.num_class)
    assert {k: tuple(v.shape) for k, v in sd.items()} == want
    for k, v in sd.items():  # non-trivial batch-norm statistics, so eval mode differs from a fresh model
        if k.endswith("running_var"):
            v.uniform_(0.5, 2.0)
        elif k.endswith("running_mean"):
            v.normal_(0, 0.1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    torch.save({"epoch": 180, "model_state_dict": sd, "optimizer_state_dict": opt.state_dict(), "loss": 1.5}, path)
    return sd


def test_official_tar_loads_strict_with_inferred_head(tmp_path, device):
    sd = _official_tar(tmp_path / "pretrained_votenet_on_sunrgbd.tar", sunrgbd_config())
    net, cfg, info = load_votenet(tmp_path / "pretrained_votenet_on_sunrgbd.tar")
    assert info["kind"] == "official" and cfg.name == "sunrgbd" and info["num_points"] == 20000
    assert (net.num_proposal, net.pnet.sampling, net.input_feature_dim) == (256, "seed_fps", 1)
    assert all(torch.equal(v, sd[k]) for k, v in net.state_dict().items())
    # same outputs as the network built the reference demo's way with the state dict loaded directly
    ref = VoteNet.from_dataset_config(sunrgbd_config(), input_feature_dim=1, num_proposal=256,
                                      sampling="seed_fps")
    ref.load_state_dict(sd, strict=True)
    pc = torch.rand(1, 4096, 4, generator=torch.Generator().manual_seed(2)) * torch.tensor([4.0, 4.0, 2.0, 1.0])
    with torch.no_grad():
        a, b = net.to(device)(pc.to(device)), ref.eval().to(device)(pc.to(device))
    for k in ("center", "objectness_scores", "sem_cls_scores", "size_residuals"):
        assert torch.equal(a[k], b[k]), k
    # ScanNet's head is recognised too; a wrong --dataset is a clear error
    _official_tar(tmp_path / "scannet.tar", scannet_config())
    with pytest.warns(UserWarning, match="placeholders"):
        _, cfg, _ = load_votenet(tmp_path / "scannet.tar")
    assert cfg.name == "scannet" and cfg.num_heading_bin == 1
    with pytest.raises(CheckpointError, match="proposal head has 79 outputs"):
        load_votenet(tmp_path / "pretrained_votenet_on_sunrgbd.tar", dataset="scannet")


def test_official_tar_through_detect_and_eval(tmp_path, run_cli):
    ckpt = tmp_path / "pretrained_votenet_on_sunrgbd.tar"
    _official_tar(ckpt, sunrgbd_config())
    from depth3d.sim.dataset import ScanOptions, write_scans

    scans = tmp_path / "scans"
    write_scans(scans, 2, seed=5, options=ScanOptions(width=160, height=120, num_points=3000, min_points=20),
                val_fraction=0.5, progress=False)
    p = run_cli("detect", scans / "000000_pc.npz", "-o", tmp_path / "det", "--checkpoint", ckpt, "--dataset",
                "sunrgbd", "--num-points", "4096", "--threshold", "0.0")
    assert p.returncode == 0, p.stderr
    boxes = json.loads((tmp_path / "det" / "000000_pc_boxes.json").read_text())["boxes"]
    assert boxes and all(len(b["corners"]) == 8 and b["class"] in sunrgbd_config().classes for b in boxes)
    p = run_cli("eval", "det", ckpt, "--data", scans, "--split", "all", "--num-points", "4096", "-o",
                tmp_path / "m.json")
    assert p.returncode == 0, p.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["scans"] == 2 and 0.0 <= m["mAP@0.25"] <= 1.0


class _Payload:
    """Unpickling this runs ``Path(marker).touch()``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_file_that_runs_code_on_load_is_refused(tmp_path, run_cli):
    marker = tmp_path / "payload_ran"
    bad = tmp_path / "evil.tar"
    torch.save({"model_state_dict": {"x": torch.zeros(1)}, "epoch": _Payload(str(marker))}, bad)
    # the payload is real: plain unpickling runs it
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(str(probe))))
    assert probe.exists()
    with pytest.raises(CheckpointError, match="refused"):
        load_votenet(bad)
    assert not marker.exists()
    p = run_cli("detect", tmp_path / "x.npz", "-o", tmp_path / "o", "--checkpoint", bad)
    assert p.returncode == 1 and "refused" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not marker.exists()


def test_model_file_round_trip_and_errors(tmp_path):
    torch.manual_seed(0)
    cfg = sunrgbd_config()
    net = build_votenet(cfg, "tiny").eval()
    assert net.hparams["npoints"] == list(tiny_config()["npoints"])
    assert net.num_proposal == tiny_config()["num_proposal"]
    save_checkpoint(tmp_path / "m.pt", net, cfg, {"num_points": 4096})
    back, cfg2, info = load_votenet(tmp_path / "m.pt")
    assert info["kind"] == "model" and info["num_points"] == 4096 and cfg2.classes == cfg.classes
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in back.state_dict().items())
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_votenet(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="expected a VoteNet checkpoint"):
        load_votenet(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_votenet(tmp_path / "missing.pt")


@pytest.mark.skipif(not SHIPPED.is_file(), reason="shipped weights absent")
def test_shipped_model_loads_weights_only(device):
    net, cfg, info = load_votenet(SHIPPED)
    assert info["kind"] == "model" and info["num_points"] == 4096 and cfg.name == "sunrgbd"
    pc = torch.rand(1, 2048, 4, generator=torch.Generator().manual_seed(0)) * torch.tensor([4.0, 4.0, 2.0, 1.0])
    with torch.no_grad():
        ep = net.to(device)(pc.to(device))
    assert np.isfinite(ep["center"].cpu().numpy()).all()


def _randomise_batchnorms(net: torch.nn.Module, seed: int) -> None:
    """Non-trivial eval statistics and affine parameters, so folding them is really exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            m.running_mean.copy_((torch.rand(c, generator=g) - 0.5) * 0.4)
            m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(c, generator=g))
            m.bias.data.copy_((torch.rand(c, generator=g) - 0.5) * 0.2)


def _assert_end_points_close(want: dict, got: dict) -> None:
    tensors = [k for k, v in want.items() if torch.is_tensor(v)]
    assert sorted(tensors) == sorted(k for k, v in got.items() if torch.is_tensor(v))
    for k in tensors:
        a, b = want[k], got[k]
        assert a.shape == b.shape, k
        if a.dtype.is_floating_point:
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4, msg=lambda m, k=k: f"{k}: {m}")
        else:
            assert torch.equal(a, b), k


def test_fast_inference_path_equals_plain_eval():
    """fold_batchnorm's copy (batch norms folded, channels-last matmuls, first SA layer before grouping,
    last ReLU after pooling) gives the plain eval-mode network's end points on a fixed cloud, full config."""
    from depth3d.models.votenet import fold_batchnorm

    torch.manual_seed(0)
    net = build_votenet(sunrgbd_config(), "full")
    _randomise_batchnorms(net, 1)
    net.eval()
    pc = torch.rand(1, 4096, 4, generator=torch.Generator().manual_seed(2)) * torch.tensor([5.0, 5.0, 2.5, 1.0])
    pc[..., 3] = pc[..., 2] - 0.1
    fast = fold_batchnorm(net)
    # same parameter names, less the batch norms, plus the biases that folding gives the MLP convolutions
    kept = {k for k in net.state_dict() if not any(p in k for p in (".bn.", ".bn1.", ".bn2."))}
    assert kept <= set(fast.state_dict())
    assert all(k.endswith(".conv.bias") for k in set(fast.state_dict()) - kept)
    with torch.no_grad():
        want = net(pc)
        got = fast(pc)
        folded_only = fold_batchnorm(net, fast=False)(pc)
    _assert_end_points_close(want, got)
    _assert_end_points_close(want, folded_only)
    assert not got["sa2_features"].is_contiguous()  # the fast path really ran (channels-last storage)
    assert got["sa2_features"].transpose(1, 2).is_contiguous()
    # with autograd on, the same path runs without the fused kernel (and stays differentiable)
    with torch.enable_grad():
        again = fast(pc)
    _assert_end_points_close(want, {k: v.detach() if torch.is_tensor(v) else v for k, v in again.items()})


@pytest.mark.skipif(not SHIPPED.is_file(), reason="shipped weights absent")
def test_fast_inference_path_gives_the_same_boxes():
    """Final boxes (3D NMS, empty-box removal) of the shipped model on a fixed simulated scan: plain eval ==
    the fast inference copy."""
    pytest.importorskip("open3d")
    from depth3d.detection.decode import DEMO_CONFIG, parse_predictions
    from depth3d.models.votenet import fold_batchnorm
    from depth3d.sim.dataset import ScanOptions, make_scan

    net, cfg, info = load_votenet(SHIPPED)
    net.eval()
    pts = make_scan(12345, 1, ScanOptions(width=320, height=240, num_points=info["num_points"]))["pc"][:, :3]
    h = pts[:, 2] - np.percentile(pts[:, 2], 0.99)
    pc = torch.from_numpy(np.concatenate([pts, h[:, None]], 1).astype(np.float32))[None]
    with torch.no_grad():
        a, dec_a = parse_predictions(net(pc), cfg, DEMO_CONFIG, point_clouds=pc)
        b, dec_b = parse_predictions(fold_batchnorm(net)(pc), cfg, DEMO_CONFIG, point_clouds=pc)
    np.testing.assert_array_equal(dec_a["pred_mask"], dec_b["pred_mask"])
    assert len(a[0]) == len(b[0]) > 0
    for (ca, corners_a, sa), (cb, corners_b, sb) in zip(a[0], b[0]):
        assert ca == cb
        np.testing.assert_allclose(corners_b, corners_a, atol=1e-4)
        assert abs(sa - sb) < 1e-5
    np.testing.assert_allclose(dec_b["obj_prob"], dec_a["obj_prob"], atol=1e-5)


def test_official_sampling_never_picks_origin_padding():
    """use_official_sampling: like the official CUDA FPS, points at the origin (invalid-depth padding) are
    never sampled (except the start point, index 0); depth3d's default samples them."""
    from depth3d.models.votenet import build_votenet
    from depth3d.models.votenet.config import sunrgbd_config

    torch.manual_seed(0)
    net = build_votenet(sunrgbd_config(), "micro").eval()
    pts = torch.rand(1, 600, 3) * 3
    pts[0, 1:201] = 0.0  # 200 padding points at the origin, after a valid start point
    feats = torch.cat([pts, torch.rand(1, 600, 1)], -1)
    with torch.no_grad():
        default = net({"point_clouds": feats})["fp2_inds"]
        net.use_official_sampling()
        official = net({"point_clouds": feats})["fp2_inds"]
    assert all(m.fps_skip_near_origin == 1e-3 for m in net.modules() if hasattr(m, "fps_skip_near_origin"))
    assert ((official >= 1) & (official <= 200)).sum() == 0
    assert ((default >= 1) & (default <= 200)).sum() > 0

"""``depth3d train <task>``: train a model with the generic trainer (one process or under torchrun).

Sub-verbs come from the task modules in :mod:`depth3d.train.tasks` (``cls`` here; ``det`` from VoteNet).
Multi-process: ``torchrun --nproc_per_node 2 -m depth3d train cls ...`` (gloo on CPU, nccl with
``--device cuda``); ``--batch-size`` is the global batch, split evenly over the processes.
Ctrl-C (SIGINT) or SIGTERM stops after the current step, saves RUN_DIR/last.pt and exits 130/143; running out
of ``max_minutes`` does the same and exits 0; ``--resume`` continues from the saved epoch and step.
"""

from __future__ import annotations

import argparse

from depth3d.cli import CLIError


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shared by every training task."""
    p.add_argument("--config", metavar="FILE", help="YAML/JSON config file (CLI flags override it)")
    p.add_argument("-o", "--output", metavar="RUN_DIR", required=True,
                   help="run folder: config.yaml, metrics.jsonl/.csv, curves.png, last.pt, best.pt")
    p.add_argument("--epochs", type=int, help="number of epochs")
    p.add_argument("--batch-size", type=int, help="GLOBAL batch size (split over torchrun processes)")
    p.add_argument("--lr", type=float, help="learning rate (optimizer.lr)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--workers", type=int, help="DataLoader worker processes per training process")
    p.add_argument("--threads", type=int, help="torch CPU threads per process")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu (gloo under torchrun) or cuda (nccl, one GPU per process); default cpu")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT",
                   help="continue RUN_DIR/last.pt (or the given checkpoint) from the epoch and step it was saved at")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if RUN_DIR holds a run")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, dotted (e.g. --set optimizer.lr=0.01); repeatable")


def common_overrides(args: argparse.Namespace) -> dict:
    out: dict = {}
    for key, dest in (("epochs", "epochs"), ("batch_size", "batch_size"), ("seed", "seed"),
                      ("num_workers", "workers"), ("threads", "threads")):
        v = getattr(args, dest, None)
        if v is not None:
            out[key] = v
    if getattr(args, "lr", None) is not None:
        out["optimizer"] = {"lr": args.lr}
    if getattr(args, "no_progress", False):
        out["progress"] = False
    return out


def register(sub: argparse._SubParsersAction) -> None:
    from depth3d.train.tasks import discover

    p = sub.add_parser("train", help="train a point network (cls) or detector",
                       description="Train a model. Run under torchrun for multi-process training "
                       "(DistributedDataParallel). Sub-verbs are the tasks: " + ", ".join(discover()))
    tsub = p.add_subparsers(dest="task", metavar="<task>")
    for name, mod in discover().items():
        tp = tsub.add_parser(name, help=getattr(mod, "HELP", ""), description=getattr(mod, "HELP", None))
        add_common_arguments(tp)
        mod.add_train_arguments(tp)
        tp.set_defaults(func=run, task_module=mod)
    p.set_defaults(func=_no_task, train_parser=p)


def _no_task(args: argparse.Namespace) -> int:
    args.train_parser.print_help()
    return 2


def build_config(args: argparse.Namespace) -> dict:
    """Merge: config file < common flags < task flags < --set."""
    from depth3d.train.config import load_config, merge, parse_overrides

    cfg = load_config(args.config) if args.config else {}
    cfg = merge(cfg, common_overrides(args))
    cfg = merge(cfg, args.task_module.config_from_args(args))
    return merge(cfg, parse_overrides(args.set))


def run(args: argparse.Namespace) -> int:
    from depth3d.core.device import resolve_device
    from depth3d.train.trainer import Trainer, exit_code

    resolve_device(args.device)
    cfg = build_config(args)
    task = args.task_module.make_task()
    try:
        result = Trainer(task, cfg, args.output, device=args.device, resume=args.resume,
                         overwrite=args.overwrite).fit()
    except RuntimeError as exc:
        raise CLIError(str(exc)) from exc
    import json
    import os

    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"run_dir": result["run_dir"], "best": result["best"],
                          "last": result["metrics"], "stopped": result["stopped"]}, default=float))
    return exit_code(result)  # 130/143 when stopped by SIGINT/SIGTERM (after saving last.pt)

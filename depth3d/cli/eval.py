"""``depth3d eval <task> CHECKPOINT``: evaluate a trained model (tasks from :mod:`depth3d.train.tasks`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from depth3d.train.tasks import discover

    p = sub.add_parser("eval", help="evaluate a trained model checkpoint",
                       description="Evaluate a checkpoint written by `depth3d train`.")
    tsub = p.add_subparsers(dest="task", metavar="<task>")
    for name, mod in discover().items():
        if not hasattr(mod, "run_eval"):
            continue
        tp = tsub.add_parser(name, help=getattr(mod, "EVAL_HELP", f"evaluate a {name} checkpoint"),
                             description=getattr(mod, "EVAL_HELP", None))
        tp.add_argument("checkpoint", help="checkpoint file (last.pt / best.pt) or run folder")
        tp.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default cpu")
        tp.add_argument("--batch-size", type=int, default=16)
        tp.add_argument("-o", "--output", metavar="FILE", help="write the metrics as JSON here")
        tp.add_argument("--force", "--overwrite", dest="force", action="store_true",
                        help="overwrite an existing --output file")
        if hasattr(mod, "add_eval_arguments"):
            mod.add_eval_arguments(tp)
        tp.set_defaults(func=_checked(mod.run_eval))
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _checked(run_eval):
    """Check ``--output`` (a .json file, not an existing one unless --force) before evaluating."""

    def run(args: argparse.Namespace) -> int:
        if args.output:
            from depth3d.cli._common import check_output_file

            check_output_file(args.output, (".json",), force=args.force, what="metrics file")
        return run_eval(args)

    return run

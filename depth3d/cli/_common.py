"""Helpers shared by CLI verbs: the --device flag, loading RGB-D inputs (device checks: depth3d.core.device)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from depth3d.cli import CLIError
from depth3d.core.device import DEVICES


def positive_int(text: str) -> int:
    """argparse type for counts and strides (--max-frames, --every ...): an integer >= 1; anything else is a
    usage error naming the flag (exit 2)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {v}")
    return v


def positive_float(text: str) -> float:
    """argparse type for sizes (--voxel metres ...): a finite number > 0; anything else (0, negative, nan,
    inf) is a usage error naming the flag (exit 2)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return v


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--device {cpu,cuda}`` (default cpu); check the choice with depth3d.core.device.resolve_device."""
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="where tensors and models run (default: cpu)")


def add_command_group(sub: argparse._SubParsersAction, name: str, dest: str,
                      **parser_kw) -> argparse._SubParsersAction:
    """Add a verb made of commands (``depth3d NAME <command>``; ``parser_kw`` go to its parser) and return the
    sub-parsers its commands are added to (the chosen one lands in ``args.<dest>``; each command sets its own
    ``func``). Without a command the verb prints its help and exits 2."""
    p = sub.add_parser(name, **parser_kw)
    p.set_defaults(func=lambda args: usage(p))
    return p.add_subparsers(dest=dest, metavar="<command>")


def add_command(sub: argparse._SubParsersAction, name: str, func, output_help: str, *, seed: bool = False,
                **parser_kw) -> argparse.ArgumentParser:
    """Add the parser of a command of a group (see :func:`add_command_group`) that writes an output: the flags
    such commands share, ``-o/--output`` (required; ``output_help`` says what it names), ``--seed`` (default 0)
    when ``seed``, and ``--force``; ``func`` runs it. ``parser_kw`` go to the parser (help, description)."""
    c = sub.add_parser(name, **parser_kw)
    c.add_argument("-o", "--output", required=True, help=output_help)
    if seed:
        c.add_argument("--seed", type=int, default=0)
    add_force_arg(c)
    c.set_defaults(func=func)
    return c


def usage(parser: argparse.ArgumentParser) -> int:
    """Print ``parser``'s help (the verb was given no command); returns 2, the usage-error exit code."""
    parser.print_help()
    return 2


def load_rgbd(depth_path: str | Path, intrinsics_path: str | Path | None, color_path: str | Path | None = None,
              depth_scale: float | None = None, *, color_intrinsics: str | Path | None = None,
              depth_to_color: str | Path | None = None, depth_format: str = "auto"):
    """An RGBDFrame from a depth image, its intrinsics and an optional colour image (with the colour camera's
    intrinsics and the depth->colour transform when not registered); see :func:`depth3d.io.rgbd.read_rgbd`,
    which also finds the files ``play --export`` writes beside the depth image. Notes go to stderr."""
    import sys

    from depth3d.io.rgbd import read_rgbd

    frame, notes = read_rgbd(depth_path, intrinsics_path, color_path, color_intrinsics=color_intrinsics,
                             depth_to_color=depth_to_color, depth_format=depth_format, depth_scale=depth_scale)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return frame


# ---------------------------------------------------------------------------------------------- outputs
FORCE_HELP = "overwrite existing output files (default: refuse to replace any)"


def add_force_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--force`` (alias ``--overwrite``): replace existing outputs; without it :func:`refuse_existing`
    stops before anything is computed or written."""
    parser.add_argument("--force", "--overwrite", dest="force", action="store_true", help=FORCE_HELP)


def check_output_file(path: str | Path, suffixes: tuple[str, ...] | None = None, *, force: bool = False,
                      what: str = "output") -> Path:
    """Check an output file before any work: a writable place (not a folder, not under a file), the right
    suffix (one of ``suffixes``, when given) and, unless ``force``, not an existing file. CLIError naming the
    path otherwise; returns it as a Path."""
    p = Path(path)
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise CLIError(f"{p}: {what} must end in {' or '.join(suffixes)} (the format is chosen by the suffix), "
                       f"got {p.suffix or 'no suffix'!r}", code=2)
    if p.is_dir():
        raise CLIError(f"{p}: is a folder; the {what} must be a file name")
    _check_parent(p)
    refuse_existing([p], force)
    return p


def check_output_folder(path: str | Path, *, force: bool = False, patterns: tuple[str, ...] = ("*",)) -> Path:
    """Check an output folder before any work: not a file, not under a file, and unless ``force`` holding no
    entry matching ``patterns`` (the names the command writes; default: any entry). Returns it as a Path."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CLIError(f"{p}: exists and is not a folder; the output must be a folder")
    _check_parent(p)
    if p.is_dir() and not force:
        clash = sorted({q for pat in patterns for q in p.glob(pat)})
        if clash:
            more = f" (and {len(clash) - 1} more)" if len(clash) > 1 else ""
            raise CLIError(f"{clash[0]} exists{more}; not overwriting: pass --force, or choose another output folder")
    return p


def refuse_existing(paths, force: bool = False) -> None:
    """CLIError naming the first of ``paths`` that exists, unless ``force``."""
    if force:
        return
    existing = [Path(p) for p in paths if Path(p).exists()]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise CLIError(f"{existing[0]} exists{more}; not overwriting it: pass --force, or choose another output")


def _check_parent(p: Path) -> None:
    import os

    for parent in p.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise CLIError(f"{p}: cannot write under {parent}, which is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise CLIError(f"{p}: cannot write there: {parent} is not writable")
            return


def unique_stems(specs: list[str], stem) -> list[str]:
    """Output name stems for several inputs, distinct even when inputs share a file name (``a/x.ply`` and
    ``b/x.ply`` become ``a_x`` and ``b_x``; further clashes get ``-2``, ``-3``...)."""
    names = [stem(s) for s in specs]
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    out: list[str] = []
    for s, n in zip(specs, names):
        if counts[n] > 1:
            parent = Path(s.split(":")[-1]).parent.name
            n = f"{parent}_{n}" if parent else n
        base, k = n, 2
        while n in out:
            n, k = f"{base}-{k}", k + 1
        out.append(n)
    return out

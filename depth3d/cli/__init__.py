"""The ``depth3d`` command line.

Every module ``depth3d/cli/<verb>.py`` that defines ``register(subparsers)`` contributes one verb: it adds a
sub-parser and sets ``func=run`` on it, where ``run(args) -> int`` returns the exit code (0 success,
1 runtime failure, 2 usage error). Modules are discovered, so new verbs need no change here.

Errors become one line on stderr: :class:`CLIError` (raised by the verbs only; the library never imports it)
with its exit code, and the library's :class:`~depth3d.core.errors.Depth3DError` (and the built-in
FileNotFoundError/ValueError/TypeError) with exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

from depth3d import __version__
from depth3d.core.errors import Depth3DError


class CLIError(Exception):
    """A failure to report to the user as one line, with exit code ``code`` (default 1). CLI verbs only:
    library code raises :class:`~depth3d.core.errors.Depth3DError`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-parser per discovered verb module."""
    parser = argparse.ArgumentParser(
        prog="depth3d",
        description="3D vision and depth sensing: capture, geometry, depth from stereo/ToF/structured "
        "light, point networks and 3D detection.",
    )
    parser.add_argument("--version", action="version", version=f"depth3d {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<verb>")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except CLIError as exc:
        print(f"depth3d {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except (Depth3DError, FileNotFoundError, ValueError, TypeError) as exc:
        print(f"depth3d {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"depth3d {args.command}: interrupted", file=sys.stderr)
        return 130

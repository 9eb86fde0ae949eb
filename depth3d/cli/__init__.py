"""The ``depth3d`` command line.

Every module ``depth3d/cli/<verb>.py`` that defines ``register(subparsers)`` contributes one verb: it adds a
sub-parser and sets ``func=run`` on it, where ``run(args) -> int`` returns the exit code (0 success,
1 runtime failure, 2 usage error). Modules are discovered, so new verbs need no change here.

Errors become one line on stderr, ``depth3d VERB: error: <what>``: :class:`CLIError` (raised by the verbs
only; the library never imports it) with its exit code, and ANY other exception escaping a verb with exit
code 1 (the library's :class:`~depth3d.core.errors.Depth3DError` and the built-in FileNotFoundError/
ValueError/TypeError as their message; anything else with its type name). Usage errors exit 2, Ctrl-C 130.
The global ``--debug`` flag (or ``DEPTH3D_DEBUG=1``) re-raises instead, so the traceback is shown.
"""

from __future__ import annotations

import argparse
import importlib
import os
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
    parser.add_argument("--debug", action="store_true", default=os.environ.get("DEPTH3D_DEBUG", "") not in ("", "0"),
                        help="show the full traceback of an error instead of one line (also DEPTH3D_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="<verb>")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def error_line(exc: BaseException) -> str:
    """One line saying what went wrong: the message of our own and the usual built-in errors, the file name
    and reason of an OSError, otherwise the exception's type and message (newlines folded, at most 400
    characters)."""
    if isinstance(exc, OSError) and not isinstance(exc, Depth3DError) and exc.filename is not None \
            and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
        if exc.filename2 is not None:
            text += f" (-> {exc.filename2})"
    elif isinstance(exc, (CLIError, Depth3DError, FileNotFoundError, ValueError, TypeError)) and str(exc):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, KeyError) and not isinstance(exc, Depth3DError):
        text = f"missing key {exc}"
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:397] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 success, 1 failure, 2 usage error, 130 Ctrl-C).

    Without ``--debug`` every exception escaping a verb is printed as one line ``depth3d VERB: error: ...``;
    with it the exception propagates (traceback)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else map(str, argv))
    debug = "--debug" in argv  # accepted after the verb too: no verb has an option of that name
    if debug:
        argv = [a for a in argv if a != "--debug"]
    args = parser.parse_args(argv)
    args.debug = args.debug or debug
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    verb = args.command
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"depth3d {verb}: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except CLIError as exc:
        if args.debug:
            raise
        print(f"depth3d {verb}: error: {error_line(exc)}", file=sys.stderr)
        return exc.code
    except Exception as exc:  # noqa: BLE001 - the one place that turns any failure into one line
        if args.debug:
            raise
        hint = "" if isinstance(exc, (Depth3DError, FileNotFoundError, ValueError, TypeError, OSError)) \
            else " (run with --debug for the traceback)"
        print(f"depth3d {verb}: error: {error_line(exc)}{hint}", file=sys.stderr)
        return 1

"""The library's error types: everything depth3d raises on purpose derives from :class:`Depth3DError`.

Callers (the CLI above all) catch ``Depth3DError`` to report a failure as one line instead of a traceback.
The subclasses also derive from the matching built-in exception, so ``except ValueError`` /
``except RuntimeError`` written before this hierarchy existed keeps working:

==========================  ======================  =====================================================
class                       also a                  raised for
==========================  ======================  =====================================================
:class:`InputError`         ``ValueError``          bad input: an option, spec or file that is malformed
:class:`DeviceError`        ``RuntimeError``        a requested compute device (``cuda``) is not usable
:class:`~depth3d.core.source.SourceError`  ``RuntimeError``  a frame source failed to open or stopped
==========================  ======================  =====================================================
"""

from __future__ import annotations


class Depth3DError(Exception):
    """Base class of the errors depth3d raises on purpose; the message is one line for the user."""


class InputError(Depth3DError, ValueError):
    """Bad input (an option, a spec string, a file's contents): the message names the input and what was
    expected."""


class DeviceError(Depth3DError, RuntimeError):
    """A requested compute device cannot be used (e.g. ``cuda`` without a CUDA build of torch)."""

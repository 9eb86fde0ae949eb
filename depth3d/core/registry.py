"""One registry style for everything chosen by name (frame-source schemes, stereo source kinds, ...).

A :class:`Registry` maps names to objects. An entry may be the object itself or a ``"module:attribute"``
string that is imported on first use, so a registry can name implementations in packages that sit above
the registry's own module without importing them (nothing is loaded until that name is asked for)::

    SOURCES = Registry("source scheme")
    SOURCES.register("tof", "depth3d.tof.source:open_tof_source")
    opener = SOURCES.get("tof")          # imports depth3d.tof.source now

Unknown names raise :class:`~depth3d.core.errors.InputError` (a ``ValueError``) listing the known ones.
"""

from __future__ import annotations

import importlib
from typing import Any, Generic, Iterator, TypeVar

from depth3d.core.errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object, with lazily imported ``"module:attribute"`` entries.

    ``what`` names the kind of entry in error messages (e.g. ``"source scheme"``).
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T | str] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, target: T | str, help: str = "") -> None:
        """Add ``name``; ``target`` is the object or a ``"module:attribute"`` string imported on first use.

        Raises ValueError if ``name`` is already registered (names are unique)."""
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is already registered")
        if isinstance(target, str) and ":" not in target:
            raise ValueError(f"{self.what} {name!r}: a lazy target must be 'module:attribute', got {target!r}")
        self._entries[name] = target
        self._help[name] = help

    def get(self, name: str) -> T:
        """The object registered as ``name`` (imported now if it was registered as a string).

        Raises InputError naming the known entries for an unknown name, and InputError if the
        implementing module is not part of this installation."""
        if name not in self._entries:
            raise InputError(f"unknown {self.what} {name!r}; expected one of {', '.join(self)}")
        target = self._entries[name]
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.startswith("depth3d"):
                    raise InputError(f"{self.what} {name!r} is not available in this build "
                                     f"({module_name} is missing)") from None
                raise
            target = getattr(module, attr)
            self._entries[name] = target
        return target  # type: ignore[return-value]

    def help(self, name: str) -> str:
        """The one-line description given at registration ('' if none)."""
        return self._help.get(name, "")

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {self.names()})"

"""Saving and loading the structured-light description files (pattern sets, calibrations) as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from depth3d.core.atomic import atomic_write
from depth3d.core.validate import read_json_file


_T = TypeVar("_T", bound="JsonFile")


class JsonFile:
    """Mixin of a record with ``to_dict()`` and ``from_dict(d, source=...)``: :meth:`save` writes it as JSON
    (atomically), :meth:`load` reads it back. ``json_what`` names the file's role in errors."""

    json_what = "JSON file"

    def save(self, path: str | Path) -> None:
        """Write ``to_dict()`` to ``path`` as JSON, atomically."""
        with atomic_write(path, "w") as f:
            json.dump(self.to_dict(), f, indent=1)

    @classmethod
    def load(cls: type[_T], path: str | Path) -> _T:
        """The record of a file :meth:`save` wrote. FileNotFoundError naming the file's role when ``path`` is not
        a file, ValueError naming ``path`` when it is not valid JSON or not such a record."""
        return cls.from_dict(read_json_file(path, cls.json_what), source=str(path))

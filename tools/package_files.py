"""Files shipped inside the installed packages (prompts, lexicons, demo data, eval suites), found through
importlib.resources, so they are read from wherever the package lives: a checkout, an editable install or a wheel."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from tools.core.errors import ConfigError


def package_path(package: str, *parts: str) -> Path:
    """The file-system path of a file or folder shipped in `package` (which must be installed as plain files)."""
    found = files(package).joinpath(*parts)
    if not isinstance(found, Path):
        where = "/".join((package, *parts))
        raise ConfigError(f"{where} is not a plain file on disk ({found!r}): install shopquery unzipped")
    return found

"""Import every check module of this package so that their checks register."""

import importlib
import pkgutil

from . import __path__ as _path

for _info in pkgutil.iter_modules(_path):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__package__}.{_info.name}")

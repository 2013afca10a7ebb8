"""Loads a script of the project that is not a package module (a file under target-stack/,
loadtests/ or scripts/) as a module, for the unit tests to call its functions."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from harness.config import PROJECT_ROOT


def load_script(relative: str, name: str) -> ModuleType:
    """The file at PROJECT_ROOT/`relative`, run once as module `name` (registered in
    sys.modules, where dataclasses look their module up)."""
    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / relative)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

"""The bench scripts, loaded as modules under their own names (``backends`` imports ``accuracy`` so)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _script(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def accuracy() -> ModuleType:
    return _script("accuracy")


@pytest.fixture(scope="session")
def backends(accuracy: ModuleType) -> ModuleType:
    return _script("backends")

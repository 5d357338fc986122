"""The examples in examples/agents/, importable by the tests (each run with its scripted model)."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from tests.support.cerbos_server import REPO_ROOT

AGENTS = REPO_ROOT / "examples" / "agents"


def example(name: str) -> ModuleType:
    """``examples/agents/<name>.py`` as a module (its folder on ``sys.path``, as when run as a script)."""
    if str(AGENTS) not in sys.path:
        sys.path.insert(0, str(AGENTS))
    return importlib.import_module(name)


def support_tools() -> ModuleType:
    tools = example("support_tools")
    tools.RAN.clear()
    return tools

"""The chamberlain server: Cerbos's HTTP API and AuthZEN over the compiled policies.

``chamberlain serve`` runs it; :func:`create_app` builds the ASGI app from a :class:`Config`
(:func:`load_config` reads Cerbos's configuration file format).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from chamberlain.extras import needs

if TYPE_CHECKING:
    from chamberlain.server.app import App, create_app
    from chamberlain.server.config import Config, ConfigError, load_config
    from chamberlain.server.serve import serve

# Imported on first use, so that the embedded PDP's `from_config` (chamberlain.server.config) does not
# need the server extra; the server itself without it is a MissingExtra naming `chamberlain[server]`.
_HOMES = {
    "App": "app",
    "create_app": "app",
    "Config": "config",
    "ConfigError": "config",
    "load_config": "config",
    "serve": "serve",
}

__all__ = ["App", "Config", "ConfigError", "create_app", "load_config", "serve"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with needs("server", "the chamberlain server"):
        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # over the submodule of the same name (`serve`) that the import bound
    return value

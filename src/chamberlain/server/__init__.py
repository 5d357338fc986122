"""The chamberlain server: Cerbos's HTTP API and AuthZEN over the compiled policies.

``chamberlain serve`` runs it; :func:`create_app` builds the ASGI app from a :class:`Config`
(:func:`load_config` reads Cerbos's configuration file format).
"""

from chamberlain.server.app import App, create_app
from chamberlain.server.config import Config, ConfigError, load_config
from chamberlain.server.serve import serve

__all__ = ["App", "Config", "ConfigError", "create_app", "load_config", "serve"]

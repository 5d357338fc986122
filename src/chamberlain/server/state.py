"""What a running server holds: its configuration, the PDP, metrics and the policy reload status."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from chamberlain import PDP
from chamberlain.errors import Error
from chamberlain.server.auxdata import JWTVerifier
from chamberlain.server.config import Config
from chamberlain.server.logs import LOGGER
from chamberlain.server.metrics import Metrics


@dataclass
class ReloadStatus:
    loaded_at: float = field(default_factory=time.time)
    last_error: str = ""
    failed_at: float = 0.0


class ServerState:
    """Builds the PDP from the configuration (raises PolicyError/ConfigError) and reloads it."""

    def __init__(self, config: Config):
        self.config = config
        self.metrics = Metrics()
        self.verifier = JWTVerifier(config)
        self.pdp = PDP.from_directory(config.policy_dir, verify_jwt=self.verifier, **config.engine_options)
        self.reload_status = ReloadStatus()
        self._reload_lock = threading.Lock()

    def reload(self) -> bool:
        """Recompile the policy directory; a broken set keeps the last good one serving."""
        with self._reload_lock:
            try:
                self.pdp.reload()
            except Error as exc:
                self.reload_status.last_error = str(exc)
                self.reload_status.failed_at = time.time()
                self.metrics.observe_reload(False)
                LOGGER.error("policy reload failed; the last good policies keep serving",
                             extra={"directory": str(self.config.policy_dir), "error": str(exc)})  # fmt: skip
                return False
            self.reload_status = ReloadStatus()
            self.metrics.observe_reload(True)
            LOGGER.info("policies reloaded", extra={"directory": str(self.config.policy_dir)})
            return True

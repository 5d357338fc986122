"""The real Cerbos binary (from npm) as a test oracle: install it, run ``cerbos compile``, serve a directory.

The binary ships inside the npm package ``@cerbos/cerbos-<os>-<arch>`` (file ``cerbos-<os>-<arch>``
at the package root). It is installed once into ``.cache/cerbos/`` at the repository root
(git-ignored). ``python -m tests.support.cerbos_server`` installs it (``make test`` does that first).

Tests call :func:`require_cerbos` to get the binary: it skips with the reason when npm or the
binary cannot be obtained, except under ``CI=true`` where missing Cerbos is a failure.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CERBOS_VERSION = "0.55.0"
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "cerbos"
_STARTUP_TIMEOUT = 30.0


class CerbosUnavailable(RuntimeError):
    """The Cerbos binary could not be installed or run here (the message says why)."""


def _package_name() -> str:
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system())
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower()
    )
    if system is None or arch is None:
        raise CerbosUnavailable(f"no Cerbos npm binary for {platform.system()}/{platform.machine()}")
    return f"cerbos-{system}-{arch}"


def binary_path(cache_dir: Path = CACHE_DIR) -> Path:
    """Where the binary lives once installed into ``cache_dir``."""
    name = _package_name()
    return cache_dir / "node_modules" / "@cerbos" / name / name


def _installed_version(binary: Path) -> str | None:
    if not binary.is_file():
        return None
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return out.stdout.split("\n", 1)[0].strip() if out.returncode == 0 else None


def ensure_cerbos(cache_dir: Path = CACHE_DIR) -> Path:
    """Install Cerbos ``CERBOS_VERSION`` into ``cache_dir`` unless it is there; return the binary path.

    Safe to call from several processes at once (pytest-xdist workers): a file lock serialises npm.
    """
    binary = binary_path(cache_dir)
    if _installed_version(binary) == CERBOS_VERSION:
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise CerbosUnavailable("npm is not installed: it is needed to fetch the Cerbos binary")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version(binary) == CERBOS_VERSION:
            return binary
        spec = f"@cerbos/{_package_name()}@{CERBOS_VERSION}"
        cmd = [npm, "install", "--prefix", str(cache_dir), "--no-audit", "--no-fund", "--silent", spec]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CerbosUnavailable(f"`{' '.join(cmd)}` failed: {exc}") from exc
        if proc.returncode != 0:
            raise CerbosUnavailable(
                f"`{' '.join(cmd)}` failed:\n{proc.stderr.strip() or proc.stdout.strip()}"
            )
    version = _installed_version(binary)
    if version != CERBOS_VERSION:
        raise CerbosUnavailable(f"{binary} reports version {version!r}, expected {CERBOS_VERSION}")
    return binary


def require_cerbos() -> Path:
    """The binary for a test: skip when unavailable, fail under ``CI=true``."""
    import pytest

    try:
        return ensure_cerbos()
    except CerbosUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"real Cerbos is required under CI: {exc}")
        pytest.skip(f"real Cerbos unavailable: {exc}")


def _env() -> dict[str, str]:
    return {**os.environ, "CERBOS_NO_TELEMETRY": "1"}


def run_compile(binary: Path, policy_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``cerbos compile DIR`` (validates the policies and runs their test suites)."""
    cmd = [str(binary), "compile", "--no-color", *extra, str(policy_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_env())


def against_cerbos(examples: int) -> Any:
    """Hypothesis settings for a differential test against the real server: the same examples every run
    (``derandomize``), no deadline or example database, and no health check for its slow, large examples."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_config(
    policy_dir: Path,
    http_port: int,
    grpc_port: int,
    *,
    engine: Mapping[str, Any] | None = None,
    schema_enforcement: str = "none",
) -> dict[str, Any]:
    """A Cerbos config: loopback listeners, disk store without watching, no audit, no telemetry.

    ``engine`` holds the ``engine`` block as Cerbos spells it (``globals``, ``lenientScopeSearch``,
    ``strictEvaluation``, ``defaultPolicyVersion``, ``defaultScope``).
    """
    return {
        "server": {
            "httpListenAddr": f"127.0.0.1:{http_port}",
            "grpcListenAddr": f"127.0.0.1:{grpc_port}",
            "requestLimits": {"maxActionsPerResource": 50, "maxResourcesPerRequest": 50},
        },
        "storage": {"driver": "disk", "disk": {"directory": str(policy_dir), "watchForChanges": False}},
        "engine": dict(engine or {}),
        "schema": {"enforcement": schema_enforcement},
        "audit": {"enabled": False},
        "telemetry": {"disabled": True},
    }


@dataclass
class CerbosServer:
    """A running ``cerbos server`` on loopback; use as a context manager or call start/stop."""

    binary: Path
    policy_dir: Path
    engine: Mapping[str, Any] = field(default_factory=dict)
    schema_enforcement: str = "none"
    #: Cerbos's own decision log on (the ``local`` backend, kept in the work folder), for benchmarks.
    decision_log: bool = False
    #: The ``auxData`` block as Cerbos spells it (``{"jwt": {"disableVerification": True}}``).
    aux_data: Mapping[str, Any] = field(default_factory=dict)
    #: Seconds to wait for the server to become healthy (it compiles every policy first).
    startup_timeout: float = _STARTUP_TIMEOUT
    port: int = 0
    grpc_port: int = 0  # Cerbos's gRPC API (loopback), for the gRPC differential tests
    _proc: subprocess.Popen[bytes] | None = None
    _workdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """``host:port``, as the cerbos SDK's ``CerbosClient`` takes it (with an http:// prefix)."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> CerbosServer:
        self._workdir = tempfile.TemporaryDirectory(prefix="cerbos-")
        work = Path(self._workdir.name)
        self.port, self.grpc_port = free_port(), free_port()
        config = server_config(
            Path(self.policy_dir).resolve(),
            self.port,
            self.grpc_port,
            engine=self.engine,
            schema_enforcement=self.schema_enforcement,
        )
        if self.aux_data:
            config["auxData"] = dict(self.aux_data)
        if self.decision_log:
            config["audit"] = {
                "enabled": True,
                "accessLogsEnabled": False,
                "decisionLogsEnabled": True,
                "backend": "local",
                "local": {"storagePath": str(work / "audit")},
            }
        (work / "config.yaml").write_text(yaml.safe_dump(config))
        log = open(work / "cerbos.log", "wb")  # noqa: SIM115 - closed with the process in stop()
        self._proc = subprocess.Popen(
            [str(self.binary), "server", f"--config={work / 'config.yaml'}", "--log-level=warn"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_env(),
            cwd=work,
        )
        log.close()
        try:
            self._wait_healthy()
        except Exception:
            self.stop()
            raise
        return self

    def log(self) -> str:
        if self._workdir is None:
            return ""
        path = Path(self._workdir.name) / "cerbos.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _wait_healthy(self) -> None:
        import httpx

        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise CerbosUnavailable(f"cerbos server exited with {self._proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/_cerbos/health", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        raise CerbosUnavailable(f"cerbos server not healthy after {self.startup_timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> CerbosServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: The ``cerbos_servers`` fixture: ``(policy_dir, engine=..., schema_enforcement=...) -> CerbosServer``.
ServerFactory = Callable[..., CerbosServer]


@contextlib.contextmanager
def cerbos_server(policy_dir: Path, **kwargs: Any) -> Iterator[CerbosServer]:
    """Run the real Cerbos on ``policy_dir`` (installing it if needed) for the ``with`` block."""
    with CerbosServer(ensure_cerbos(), Path(policy_dir), **kwargs) as server:
        yield server


def main(argv: list[str]) -> int:
    """``python -m tests.support.cerbos_server [install]``: install quietly; fail only under CI."""
    try:
        ensure_cerbos()
    except CerbosUnavailable as exc:
        print(f"cerbos: not installed ({exc}); tests needing it will be skipped", file=sys.stderr)
        return 1 if os.environ.get("CI", "").lower() == "true" else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

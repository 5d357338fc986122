"""Several serving processes on one port (``chamberlain.processes``), and their supervisor.

Why: one Python process decides on one core at a time (the interpreter lock). Measured on two cores with
the sync decision log (1 resource x 3 actions), two processes on one SQLite file served 1.24-1.26x one
process's checks at 16 connections and 1.48-1.59x at 64 (two runs, docs/benchmarks.md). Each serving process is a whole server (its engine, its writer for the
decision log, its event loop); what they share lives in the state database, as for replicas on one
PostgreSQL: sessions, budgets, approvals, console logins, the decision log (SQLite's write lock, handed
on promptly: :class:`chamberlain.store.sqlite.WriteLock`).

The supervisor (this process) holds the port (see :func:`bind`), starts the first serving process alone (it creates
what a first start creates: the database's tables, the log's signing key), then the others, and waits.
A serving process that exits is started again (after 1 s, doubling up to 30 s while it keeps failing);
SIGINT/SIGTERM stop them all gracefully (each finishes its requests within ``chamberlain.shutdownTimeout``).
Each serving process listens on the port with its own socket (``SO_REUSEPORT``: the kernel spreads new
connections over them) and ends itself when the supervisor is gone (a pipe it watches closes).

``/metrics`` on any process answers the sum over all of them: each also serves its own metrics on a
Unix socket in a private folder (mode 0700) the supervisor made (:mod:`chamberlain.server.process_metrics`).
With a decision log writer process (SQLite), the supervisor starts one for all serving processes
(:class:`chamberlain.audit.write.process.SharedWriter`, its socket in that folder) and keeps it running.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace

from chamberlain.audit.log import PROCESS
from chamberlain.audit.write.process import settings as writer_settings
from chamberlain.server.config import Config, load_config
from chamberlain.server.logs import LOGGER
from chamberlain.server.serve import plain
from chamberlain.store import SQLITE

#: The environment variable a serving process reads its configuration and place from.
CHILD_ENV = "CHAMBERLAIN_SERVING_PROCESS"
START_TIMEOUT = 60.0  # a serving process's first start, until it listens
_RESTART_MIN, _RESTART_MAX = 1.0, 30.0
_STABLE = 30.0  # a process that served this long is started again after the shortest delay
_CHILD = "from chamberlain.server.processes import serving_process; serving_process()"
_WRITER = "from chamberlain.audit.write.process import shared_main; shared_main()"


def bind(host: str, port: int, *, listen: bool) -> socket.socket:
    """A socket bound to ``host:port`` with ``SO_REUSEPORT`` (raises OSError saying why it cannot be).

    The supervisor binds one without listening: it holds the port (no other user's process can take it)
    and fails early when it is in use. Each serving process listens on its own, and the kernel spreads
    new connections over them. Why not one shared listening socket: measured with 16 connections opened
    at once, one process sometimes accepted all 16 (uvloop accepts all it can), leaving the other idle.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


WRITER = -1  # the slot index of the shared decision log writer


@dataclass
class _Slot:
    index: int  # a serving process's, or WRITER
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay: float = _RESTART_MIN
    restart_at: float = 0.0


class Supervisor:
    """Starts ``config.processes`` serving processes on ``sock`` and keeps them running until stopped."""

    def __init__(self, config: Config, sock: socket.socket):
        self.config = config
        self.sock = sock
        self.slots = [_Slot(i) for i in range(config.processes)]
        self.folder = tempfile.mkdtemp(prefix="chamberlain-processes-")  # 0700: ours alone
        log = config.decision_log
        self.writer: _Slot | None = None
        self.writer_listener: socket.socket | None = None
        if log is not None and log.options.writer == PROCESS and log.url.kind == SQLITE:
            # one writer process for all: one sequencer, one transaction for every process's waiting batches
            self.writer = _Slot(WRITER)
            self.writer_listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.writer_listener.bind(self.writer_socket)
            self.writer_listener.listen(config.processes * 2)
        self._alive_r, self._alive_w = os.pipe()  # children see EOF on the read end when we are gone
        self._ready_r, self._ready_w = os.pipe()
        os.set_blocking(self._ready_r, False)
        self._stopping = threading.Event()

    @property
    def writer_socket(self) -> str:
        return os.path.join(self.folder, "log-writer.sock")

    def _env(self, index: int) -> dict[str, str]:
        place = {
            "raw": plain(self.config.raw),
            "index": index,
            "count": len(self.slots),
            "port": self.sock.getsockname()[1],
            "alive": self._alive_r,
            "ready": self._ready_w,
            "folder": self.folder,
            "writer": self.writer_socket if self.writer is not None else "",
        }
        return {**os.environ, CHILD_ENV: json.dumps(place)}

    def _start(self, slot: _Slot) -> None:
        if slot.index == WRITER:
            self._start_writer(slot)
            return
        slot.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            pass_fds=(self._alive_r, self._ready_w),
            env=self._env(slot.index),
            stdin=subprocess.DEVNULL,
        )
        slot.started = time.monotonic()

    def _start_writer(self, slot: _Slot) -> None:
        log, listener = self.config.decision_log, self.writer_listener
        assert log is not None and listener is not None
        settings = writer_settings(log.url, log.options.busy_timeout, log.options.limits())
        slot.proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(listener.fileno()), str(self._alive_r)],
            pass_fds=(listener.fileno(), self._alive_r),
            stdin=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C stops the serving processes first; then the supervisor stops it
        )
        assert slot.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it exited at once: seen and started again as any exit
            slot.proc.stdin.write(settings)
            slot.proc.stdin.close()
        slot.started = time.monotonic()

    def _wait_ready(self, slots: list[_Slot]) -> None:
        """Until each of ``slots`` listens; raises RuntimeError when one exits or takes too long."""
        waiting = {s.index for s in slots}
        deadline = time.monotonic() + START_TIMEOUT
        buffer = b""
        while waiting:
            for slot in slots:
                code = slot.proc.poll() if slot.proc is not None else None
                if slot.index in waiting and code is not None:
                    raise RuntimeError(
                        f"serving process {slot.index} exited with status {code} while starting"
                    )
            left = deadline - time.monotonic()
            if left <= 0 or self._stopping.is_set():
                raise RuntimeError(
                    f"serving processes {sorted(waiting)} did not start within {START_TIMEOUT:g}s"
                )
            readable, _, _ = select.select([self._ready_r], [], [], min(left, 0.2))
            if readable:
                buffer += os.read(self._ready_r, 4096)
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    waiting.discard(int(line))

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM; the exit status (1 when the serving processes could not start)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stopping.set())
        try:
            try:
                if self.writer is not None:
                    self._start(self.writer)  # serving processes greet it as they open the log
                self._start(self.slots[0])  # alone: a first start creates the tables and keys
                self._wait_ready(self.slots[:1])
                for slot in self.slots[1:]:
                    self._start(slot)
                self._wait_ready(self.slots[1:])
            except RuntimeError as exc:
                if self._stopping.is_set():
                    return 0
                LOGGER.error("chamberlain could not start: %s", exc)
                return 1
            LOGGER.info(
                "chamberlain listening",
                extra={
                    "url": self.config.url,
                    "policies": str(self.config.policy_dir),
                    "processes": len(self.slots),
                },
            )
            while not self._stopping.wait(0.2):
                self._keep_running()
            return 0
        finally:
            self._stop_all()

    def _keep_running(self) -> None:
        now = time.monotonic()
        for slot in self.slots if self.writer is None else [self.writer, *self.slots]:
            if slot.proc is not None:
                code = slot.proc.poll()
                if code is None:
                    continue
                pid, served = slot.proc.pid, now - slot.started
                slot.delay = _RESTART_MIN if served >= _STABLE else min(_RESTART_MAX, slot.delay * 2)
                slot.restart_at = now + slot.delay
                slot.proc = None
                LOGGER.error(
                    "%s (pid %d) exited with status %s after %.0f s; starting it again in %.0f s",
                    "the decision log's writer process"
                    if slot.index == WRITER
                    else f"serving process {slot.index}",
                    pid,
                    code,
                    served,
                    slot.delay,
                )
            elif now >= slot.restart_at:
                self._start(slot)

    def _stop_all(self) -> None:
        running = [s.proc for s in self.slots if s.proc is not None and s.proc.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.config.shutdown_timeout + 10
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        writer = self.writer.proc if self.writer is not None else None
        if writer is not None and writer.poll() is None:  # after the serving processes: they flush to it
            writer.send_signal(signal.SIGTERM)
            try:
                writer.wait(self.config.shutdown_timeout + 10)
            except subprocess.TimeoutExpired:
                writer.kill()
                writer.wait()
        for fd in (self._alive_r, self._alive_w, self._ready_r, self._ready_w):
            os.close(fd)
        if self.writer_listener is not None:
            self.writer_listener.close()
        self.sock.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def serve_processes(config: Config) -> int:
    """Bind, then run ``config.processes`` serving processes under a supervisor; the exit status."""
    cores = len(os.sched_getaffinity(0))
    if config.processes > cores:
        LOGGER.warning(
            "chamberlain.processes is %d but this process may run on %d cores: measured, more serving "
            "processes than cores served fewer checks (they take turns for the decision log's write lock)",
            config.processes,
            cores,
        )
    try:
        sock = bind(config.host, config.port, listen=False)
    except OSError as exc:
        LOGGER.error("cannot listen on %s:%d: %s", config.host, config.port, exc.strerror or exc)
        return 1
    return Supervisor(config, sock).run()


# -- a serving process ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where a serving process stands among its siblings (its metrics socket and theirs)."""

    index: int
    count: int
    folder: str

    def metrics_socket(self, index: int) -> str:
        return os.path.join(self.folder, f"metrics-{index}.sock")


def serving_process() -> None:
    """A serving process's main: the configuration and sockets come from the supervisor (:data:`CHILD_ENV`)."""
    from chamberlain.server.app import create_app
    from chamberlain.server.logs import setup_logging
    from chamberlain.server.serve import exit_cleanly, relay_promptly, uvicorn_server

    place = json.loads(os.environ.pop(CHILD_ENV))
    config = load_config(None, overrides=place["raw"], env={})
    if place["writer"] and config.decision_log is not None:
        log = config.decision_log
        config = replace(
            config, decision_log=replace(log, options=replace(log.options, writer_socket=place["writer"]))
        )
    setup_logging(config.log_level, config.log_format)
    _end_with_supervisor(place["alive"])
    app = create_app(config, place=Place(place["index"], place["count"], place["folder"]))
    # listening only now: the kernel hands a listening socket its share of new connections at once,
    # and those would wait here while the policies compile (measured: p99 0.4-1 s after a start)
    sock = bind(config.host, place["port"], listen=True)
    relay_promptly(config)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, exit_cleanly)
    ready = place["ready"]

    def announce() -> None:
        os.write(ready, f"{place['index']}\n".encode())
        os.close(ready)

    uvicorn_server(app, config, on_listening=announce).run(sockets=[sock])


def _end_with_supervisor(alive: int) -> None:
    """SIGTERM this process once the supervisor's end of the ``alive`` pipe closes (it exited or died)."""

    def watch() -> None:
        try:
            while os.read(alive, 1):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="chamberlain-supervisor-watch", daemon=True).start()

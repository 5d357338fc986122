"""The decision log's writer in a process of its own (SQLite): numbering, hashing, inserting, committing.

Why: the writer thread shares the interpreter lock with the thread that decides. Measured with the
server at 16 connections (1 resource x 3 actions), the log's Python work on the writer thread cut
throughput to ~45 % of the same server without a log, though a batch's own CPU is about a third of
that: the two threads take turns for the lock. In its own process the writer runs on another core.

The request path only takes each call's plain data from the engine's objects
(:meth:`chamberlain.audit.write.decisions.Call.describe`, about a sixth of preparing it); the writer
process builds the request record and the entries from it (encoding, salting, hashing), gives them
sequence numbers and leaf hashes, inserts them with the tree's nodes and commits, then answers each
group's first index (or its error). A call whose data is not plain (an embedded caller's own types
in its attributes: see :class:`_PlainPickler`) is prepared in the serving process and crosses as bytes. The writer thread in the
serving process keeps everything else of :mod:`chamberlain.audit.write.writer` (the queue, waiting,
timeouts, outages), so an answered ALLOW in ``sync`` durability is still durable: the reply comes
after the commit.

Faults: a writer process that exits or stops answering (``reply_timeout``) fails its batch (those
checks are denied) and makes the log unavailable until :meth:`ProcessAppender.recover` has started a
new one, as for any outage. If it dies after committing but before replying, the log holds entries
whose checks were answered DENY (fail closed: never an ALLOW without its entry).

The two processes talk over private socket pairs with :mod:`pickle` (the parent's own child, no one
else can connect; plain tuples, strings and dicts pickle in C several times faster than any other
encoding of them measured here): one for the writer thread, one for an event loop that sends its batches
itself (:mod:`chamberlain.audit.write.relay`). The child ignores terminal signals and exits when its
``alive`` pipe closes (the log closed, or the parent is gone), between transactions.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import pickle
import selectors
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any, cast

from chamberlain.audit.errors import LogUnavailable
from chamberlain.audit.write.append import Appended, LocalAppender, prepare
from chamberlain.audit.write.canonical import EncodingError
from chamberlain.audit.write.content import Limits
from chamberlain.audit.write.decisions import Call, Facts, Prepared, RequestRecord
from chamberlain.audit.write.entry import Entry
from chamberlain.errors import Error
from chamberlain.store import StoreURL
from chamberlain.store import errors as store_errors
from chamberlain.store.db import open_database

#: How long the parent waits for the child's first answer (it imports and opens the database).
START_TIMEOUT = 30.0
#: How long the shared writer process waits for a new connection's greeting (it writes nothing meanwhile).
GREETING_TIMEOUT = 5.0
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_READY, _OK, _FAIL = "ready", "ok", "fail"
_CHILD = "from chamberlain.audit.write.process import main; main()"


def to_wire(group: Any, limits: Limits) -> Any:
    """A submission as the writer process takes it: a call's :class:`Facts`, or plain tuples of its
    prepared entries (raises EncodingError)."""
    if isinstance(group, Facts):
        return group
    if isinstance(group, Call):
        return group.describe()
    return _prepared_wire(group, limits)


def _prepared_wire(group: Any, limits: Limits) -> tuple[Any, ...]:
    prepared = prepare(group, limits)
    r = prepared.request
    return (
        None if r is None else (r.key, r.salt, r.body),
        [
            (e.kind, e.time, e.public, e.content, e.salt, e.digest, e.cols, e.request)
            for e in prepared.entries
        ],
    )


class _PlainPickler(pickle.Pickler):
    """Pickles plain data only (and :class:`Facts`): anything else raises ``PicklingError``.

    Why: an object of the caller's own type may pickle here and not unpickle in the writer process (its
    class defined in ``__main__``, or in a module the child cannot import), which would fail the whole
    batch there. Such a call is prepared in this process instead, as before the writer process took
    plain data. Plain builtins never reach this method (pickle's C fast path), so it costs them nothing.
    """

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is Facts:
            return obj.__reduce__()
        if obj is Facts:  # the class, by name (what Facts.__reduce__ names)
            return NotImplemented
        raise pickle.PicklingError(f"not plain data for the writer process: {type(obj).__name__}")


def plain_pickle(value: Any) -> bytes:
    """``value`` pickled if it holds only plain data (strings, numbers, bytes, lists, tuples, dicts, sets)
    and :class:`Facts`; raises ``pickle.PicklingError`` otherwise."""
    buffer = io.BytesIO()
    _PlainPickler(buffer, _PROTOCOL).dump(value)
    return buffer.getvalue()


def from_wire(item: Any) -> Facts | Prepared:
    """The group :func:`to_wire` described (Facts are prepared by the appender, each failing alone)."""
    if isinstance(item, Facts):
        return item
    request, entries = item
    return Prepared(
        None if request is None else RequestRecord(*request),
        [Entry(*fields) for fields in entries],
    )


def _error_class(name: str) -> type[Error]:
    found = getattr(store_errors, name, None)
    return found if isinstance(found, type) and issubclass(found, Error) else LogUnavailable


def settings(url: StoreURL, busy_timeout: float, limits: Limits) -> bytes:
    """A log's settings as a writer process takes them (on its stdin at start, and in each greeting)."""
    return pickle.dumps((url, busy_timeout, limits), _PROTOCOL)


def encode_batch(groups: Sequence[Any], limits: Limits) -> tuple[bytes | None, list[Appended]]:
    """A batch as the writer process takes it (pickled; None when no group could be encoded) and each
    group's result so far: its EncodingError, or None where the reply will say (see :func:`read_reply`)."""
    results: list[Appended] = []
    wire: list[Any] = []
    sent: list[Any] = []  # the group of each wire item
    for group in groups:
        try:
            wire.append(to_wire(group, limits))
            sent.append(group)
            results.append(None)
        except EncodingError as exc:
            results.append(exc)
    if not wire:
        return None, results
    try:
        return plain_pickle(wire), results
    except pickle.PicklingError:  # some call's data is not plain: those go prepared
        return _pickle_apart(wire, sent, results, limits), results


def _pickle_apart(wire: list[Any], sent: list[Any], results: list[Appended], limits: Limits) -> bytes | None:
    """``wire`` pickled when some call's data is not plain (an embedded caller's own objects in its
    attributes): such a call crosses prepared here instead (or fails alone, as in to_wire)."""
    slots = [i for i, r in enumerate(results) if r is None]  # where each wire item's result goes
    kept: list[Any] = []
    for item, group, slot in zip(wire, sent, slots, strict=True):
        if isinstance(item, Facts):
            try:
                plain_pickle(item)
            except pickle.PicklingError:
                try:
                    item = _prepared_wire(group, limits)
                except EncodingError as exc:
                    results[slot] = exc
                    continue
        kept.append(item)
    return pickle.dumps(kept, _PROTOCOL) if kept else None


def read_reply(reply: tuple[Any, ...], results: list[Appended]) -> list[Appended]:
    """``results`` (from :func:`encode_batch`) completed by the writer process's reply; raises the store
    error it reports when the batch was not written."""
    if reply[0] == _FAIL:
        raise _error_class(reply[1])(reply[2])
    written = iter(reply[1])
    for i, result in enumerate(results):
        if result is None:
            got = next(written)
            results[i] = got if type(got) is int else EncodingError(got)
    return results


class ProcessAppender:
    """The parent's side: :meth:`append` has the writer process write the groups in one transaction."""

    def __init__(
        self, url: StoreURL, busy_timeout: float, limits: Limits, reply_timeout: float, shared: str = ""
    ):
        self.url = url
        self.busy_timeout = busy_timeout
        self.limits = limits
        self.reply_timeout = reply_timeout
        self.shared = shared  # the Unix socket of a writer process serving several processes ("": our own)
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._pid: int | None = None
        self._alive: int | None = None  # the pipe a writer process of our own watches
        self._loop_sock: socket.socket | None = None  # its second connection, not yet taken (loop_connection)
        self._lock = threading.Lock()
        self.started = 0  # writer processes started or connected to (more than one: some were lost)
        self.start()

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def alive(self) -> bool:
        if self.shared:
            return self._conn is not None
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start a writer process (or connect to the shared one) and wait until it has opened the
        database; raises a store error if not."""
        self.stop()
        if self.shared:
            self._greet(Connection(self._connect_shared().detach()))
            return
        main_ours, main_theirs = socket.socketpair()
        loop_ours, loop_theirs = socket.socketpair()
        alive_r, alive_w = os.pipe()  # it ends when this closes: on stop, or when this process is gone
        fds = (alive_r, main_theirs.fileno(), loop_theirs.fileno())
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, *map(str, fds)],
                pass_fds=fds,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C stops the server, which then closes the log: not the child
            )
        except OSError as exc:
            for sock in (main_ours, loop_ours):
                sock.close()
            os.close(alive_w)
            raise store_errors.StoreUnavailable(
                f"cannot start the decision log's writer process: {exc}"
            ) from None
        finally:
            main_theirs.close()
            loop_theirs.close()
            os.close(alive_r)
        self._proc, self._pid, self._alive = proc, proc.pid, alive_w
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it exited at once: the greeting says so
            proc.stdin.write(self._settings())
            proc.stdin.close()
        self._greet(Connection(main_ours.detach()))
        try:
            self._hello(Connection(os.dup(loop_ours.fileno())))
        except BaseException:
            loop_ours.close()
            self.stop()
            raise
        self._loop_sock = loop_ours

    def _settings(self) -> bytes:
        return settings(self.url, self.busy_timeout, self.limits)

    def _connect_shared(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.shared)
        except OSError as exc:
            sock.close()
            raise store_errors.StoreUnavailable(
                f"cannot reach the decision log's shared writer process at {self.shared}: {exc.strerror or exc}"
            ) from None
        return sock

    def _greet(self, conn: Connection) -> None:
        """Greet on the connection the writer thread appends over."""
        self._conn = conn
        self.started += 1
        try:
            self._pid = self._hello(conn)
        except BaseException:
            self.stop()
            raise

    def _hello(self, conn: Connection) -> int:
        """Send the log's settings; the writer process answers (its pid) once it has opened the database."""
        try:
            conn.send_bytes(self._settings())
            reply = self._receive(START_TIMEOUT, conn)
        except OSError:
            raise store_errors.StoreUnavailable(self.gone()) from None
        finally:
            if conn is not self._conn:
                conn.close()  # a duplicate of a relay's socket, only for the greeting
        if reply[0] != _READY:
            raise _error_class(reply[1])(reply[2])
        return cast(int, reply[1])

    def loop_connection(self) -> socket.socket | None:
        """A greeted connection for an event loop to send its batches over itself
        (:class:`~chamberlain.audit.write.relay.LoopRelay`); None when there is none to give (a writer
        process of our own has one, for the first loop that asks). Raises a store error."""
        if self.shared:
            sock = self._connect_shared()
            try:
                self._hello(Connection(os.dup(sock.fileno())))
            except BaseException:
                sock.close()
                raise
            return sock
        with self._lock:
            given, self._loop_sock = self._loop_sock, None
        return given

    def append(self, groups: Sequence[Any]) -> list[Appended]:
        """Write the groups (each a Call, an Entry or a list of entries) in one transaction in the writer
        process; each group's first index or its :class:`EncodingError`. Raises a store error when nothing
        was written (the writer process failed, exited or did not answer)."""
        data, results = encode_batch(groups, self.limits)
        if data is None:
            return results
        with self._lock:
            if self._conn is None or not self.alive:
                raise store_errors.StoreUnavailable(self.gone())
            try:
                try:
                    self._conn.send_bytes(data)
                except OSError:  # it is gone (a shared writer process is not our child: no exit status)
                    raise store_errors.StoreUnavailable(self.gone()) from None
                reply = self._receive(self.reply_timeout)
            except store_errors.StoreUnavailable:
                self.stop(kill=True)  # gone, or hung: its transaction (if any) rolls back
                raise
        return read_reply(reply, results)

    def _receive(self, timeout: float, conn: Connection | None = None) -> tuple[Any, ...]:
        conn = conn or self._conn
        assert conn is not None
        try:
            if not conn.poll(timeout):
                raise store_errors.StoreUnavailable(
                    f"the decision log's writer process (pid {self.pid}) did not answer within {timeout:g}s"
                )
            reply: tuple[Any, ...] = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            raise store_errors.StoreUnavailable(self.gone()) from None
        return reply

    def gone(self) -> str:
        """Why the writer process cannot be reached (for the error of what it did not write)."""
        code = self._proc.poll() if self._proc is not None else None
        how = f"exited with status {code}" if code is not None else "closed its connection"
        which = "shared writer process" if self.shared else "writer process"
        return f"the decision log's {which} (pid {self.pid}) {how}"

    def abandon(self) -> None:
        """Kill a writer process that stopped answering (an event loop's relay waited in vain); the
        writer thread's next probe starts a new one."""
        with self._lock:
            self.stop(kill=True)

    def recover(self) -> None:
        """After an outage: a new writer process when the last one is gone (raises while it cannot start)."""
        with self._lock:
            if not self.alive or self._conn is None:
                self.start()

    def stop(self, timeout: float = 10.0, *, kill: bool = False) -> None:
        """Close the connection (the writer process exits once its transaction is done) and reap it;
        ``kill``: at once (it stopped answering)."""
        conn, proc, loop_sock, alive = self._conn, self._proc, self._loop_sock, self._alive
        self._conn = self._proc = self._pid = self._loop_sock = self._alive = None
        if conn is not None:
            conn.close()
        if loop_sock is not None:
            loop_sock.close()
        if alive is not None:
            os.close(alive)
        if proc is not None:
            if kill:
                proc.kill()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    close = stop


# -- the writer process -------------------------------------------------------------------------------


def write_together(appender: LocalAppender, batches: Sequence[bytes]) -> list[tuple[Any, ...]]:
    """Write the pickled ``batches`` (from one or several processes) in one transaction; each one's reply."""
    replies: list[tuple[Any, ...] | None] = [None] * len(batches)
    read: list[tuple[int, list[Any]]] = []
    for i, data in enumerate(batches):
        try:
            read.append((i, [from_wire(item) for item in pickle.loads(data)]))
        except Exception as exc:  # a batch that cannot be read fails alone
            replies[i] = (_FAIL, "LogUnavailable", f"decision log write failed: unreadable batch: {exc!r}")
    try:
        written = appender.append([group for _, groups in read for group in groups]) if read else []
    except Error as exc:
        failed: tuple[Any, ...] = (_FAIL, type(exc).__name__, str(exc))
        return [reply or failed for reply in replies]
    except Exception as exc:  # a bug must not end the writer: its batch fails, the next may not
        failed = (_FAIL, "LogUnavailable", f"decision log write failed: {exc!r}")
        return [reply or failed for reply in replies]
    at = 0
    for i, groups in read:
        mine = written[at : at + len(groups)]
        at += len(groups)
        replies[i] = (_OK, [w if type(w) is int else str(w) for w in mine])
    return cast(list[tuple[Any, ...]], replies)  # every one set above


def main() -> None:
    """A serving process's own writer process: the ``alive`` pipe and its connections' descriptors in argv
    (the writer thread's, then an event loop's), settings on stdin."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # the parent decides when the log closes
    alive, *connections = (int(arg) for arg in sys.argv[1:])
    url, busy_timeout, limits = pickle.loads(sys.stdin.buffer.read())
    SharedWriter(None, url, busy_timeout, limits).run(alive, [Connection(fd) for fd in connections])


# -- a writer process shared by several serving processes (chamberlain.processes) -------------------


class SharedWriter:
    """A writer process's loop over its connections: every batch waiting on any of them goes into one
    transaction, each connection answered on its own.

    Under ``chamberlain.processes`` one such process serves every serving process of a supervisor (one
    sequencer for their log). Why: serving processes each with a writer of their own took turns for
    SQLite's write lock, each committing its own smaller batches (measured: three or four processes served
    fewer checks than two). A serving process's own writer process (:func:`main`) is one too, with two
    connections given at start: its writer thread's and an event loop's
    (:class:`~chamberlain.audit.write.relay.LoopRelay`).

    Connections come from ``listener`` (a Unix socket in the supervisor's private folder) or are given to
    :meth:`run`; each greets with the log's settings, which must be this writer's. The database is opened
    at the first greeting (and again after it could not be). It ends when the ``alive`` pipe closes (its
    parent is gone or closed the log) or on SIGTERM, between transactions. A connection that does not
    greet within :data:`GREETING_TIMEOUT` is closed.
    """

    def __init__(self, listener: socket.socket | None, url: StoreURL, busy_timeout: float, limits: Limits):
        self.listener = listener
        self.url, self.busy_timeout, self.limits = url, busy_timeout, limits
        self.appender: LocalAppender | None = None
        self.selector = selectors.DefaultSelector()
        self.stopping = False

    def run(self, alive: int, connections: Sequence[Connection] = ()) -> None:
        if self.listener is not None:
            self.selector.register(self.listener, selectors.EVENT_READ, "listener")
        self.selector.register(alive, selectors.EVENT_READ, "alive")
        for conn in connections:
            self._greet(conn)
        # What is alive now (modules, the open database) is never garbage: out of the collector's reach, its
        # passes walk only the batches' objects. Measured: collections took 5 % of this process's time.
        gc.freeze()
        try:
            while not self.stopping:
                ready: list[Connection] = []
                for key, _ in self.selector.select(0.5):
                    if key.data == "listener":
                        self._accept()
                    elif key.data == "alive":
                        if not os.read(alive, 1):
                            return
                    else:
                        ready.append(key.data)
                self._write(ready)
        finally:
            if self.appender is not None:
                self.appender.db.close()

    def _write(self, ready: list[Connection]) -> None:
        batches: list[tuple[Connection, bytes]] = []
        for conn in ready:
            try:
                batches.append((conn, conn.recv_bytes()))
            except (EOFError, OSError):
                self._drop(conn)
        if not batches:
            return
        # the database could not be opened at the last greeting: try again
        error = self._open() if self.appender is None else None
        if self.appender is None:
            replies = [(_FAIL, type(error).__name__, str(error))] * len(batches)
        else:
            replies = write_together(self.appender, [data for _, data in batches])
        for (conn, _), reply in zip(batches, replies, strict=True):
            try:
                conn.send_bytes(pickle.dumps(reply, _PROTOCOL))
            except OSError:
                self._drop(conn)

    def _open(self) -> Error | None:
        try:
            self.appender = LocalAppender(
                open_database(self.url, busy_timeout=self.busy_timeout), self.limits
            )
        except Error as exc:
            return exc
        return None

    def _accept(self) -> None:
        assert self.listener is not None
        sock, _ = self.listener.accept()
        self._greet(Connection(sock.detach()))

    def _greet(self, conn: Connection) -> None:
        try:
            if not conn.poll(GREETING_TIMEOUT):  # the loop waits meanwhile: a serving process greets at once
                raise OSError("no greeting")
            url, _, limits = pickle.loads(conn.recv_bytes())
            if (url, limits) != (self.url, self.limits):
                error: Error | None = store_errors.StoreError(
                    f"the shared writer process writes {self.url.display}, not {url.display} "
                    "(or with other limits): the serving processes' configurations differ"
                )
            else:
                error = self._open() if self.appender is None else None
            if error is not None:
                conn.send_bytes(pickle.dumps((_FAIL, type(error).__name__, str(error)), _PROTOCOL))
                conn.close()
                return
            conn.send_bytes(pickle.dumps((_READY, os.getpid()), _PROTOCOL))
        except (EOFError, OSError, pickle.UnpicklingError, ValueError, TypeError):
            conn.close()
            return
        self.selector.register(conn, selectors.EVENT_READ, conn)

    def _drop(self, conn: Connection) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn)
        conn.close()


def shared_main() -> None:
    """The shared writer process's main: ``listener`` and ``alive`` descriptors in argv, settings on stdin."""
    listener = socket.socket(fileno=int(sys.argv[1]))
    alive = int(sys.argv[2])
    url, busy_timeout, limits = pickle.loads(sys.stdin.buffer.read())
    writer = SharedWriter(listener, url, busy_timeout, limits)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the supervisor decides
    signal.signal(signal.SIGTERM, lambda *_: setattr(writer, "stopping", True))
    writer.run(alive)

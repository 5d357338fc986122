"""TLS for ``chamberlain serve``: Cerbos's ``server.tls`` keys, certificates reloaded when their files change.

``cert`` and ``key`` turn HTTPS on (no plain HTTP on the same listener); ``caCert`` names
the CA client certificates must chain to, and a client certificate is then *required* (mutual TLS;
Cerbos verifies one only if given). TLS 1.2 at least. A certificate that cannot be used (unreadable,
not PEM, a key that does not match, expired or not yet valid, a CA file without certificates) stops
start-up with an error naming the key and the problem; Cerbos logs it and serves plain HTTP.

Reloading: the files are checked every ``chamberlain.tlsReloadInterval`` (their modification time,
size and inode, so a Kubernetes secret swapped by symlink is seen too). A change builds a complete
new ``SSLContext``; when that fails (a half-written file, a bad certificate) the last good one keeps
serving and the failure is logged and counted. Why not uvicorn's ``ssl_certfile`` options: they build
one context at start and cannot reload. Why not ``load_cert_chain`` again on the live context: OpenSSL
does not allow changing an ``SSL_CTX`` while the event loop creates connections from it. Instead the
listener's context has an SNI callback (OpenSSL calls it for every ClientHello, with or without a
server name) that points each new connection at the newest good context, swapped in by one
reference assignment. Connections already open keep the certificate they were made with.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from chamberlain.errors import Error
from chamberlain.files import MAX_CONFIG_BYTES, FileRefused, read_bounded
from chamberlain.server.logs import LOGGER


class TLSError(Error):
    """A certificate, key or CA file that cannot be used; the message names the configuration key."""


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """``server.tls``: the certificate (with its chain), its key, and the CA of client certificates."""

    cert_file: Path
    key_file: Path
    ca_file: Path | None = None


def build_context(files: TLSFiles) -> ssl.SSLContext:
    """A server ``SSLContext`` for ``files``; raises :class:`TLSError` naming the file and the problem."""
    _check_certificate(files.cert_file)
    try:
        read_bounded(files.key_file, MAX_CONFIG_BYTES, "key file")
    except FileRefused as exc:
        raise TLSError(f"server.tls.key {files.key_file}: {exc}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert_file, files.key_file)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise TLSError(
                f"server.tls.key {files.key_file}: the key does not match the certificate "
                f"in cert {files.cert_file}"
            ) from None
        raise TLSError(
            f"server.tls.key {files.key_file}: not a usable private key (PEM): {exc.reason or exc}"
        ) from None
    except OSError as exc:
        raise TLSError(f"server.tls: cannot read the certificate or key: {exc.strerror or exc}") from None
    if files.ca_file is not None:
        try:
            read_bounded(files.ca_file, MAX_CONFIG_BYTES, "CA file")
            context.load_verify_locations(cafile=files.ca_file)
        except (FileRefused, ssl.SSLError, OSError) as exc:
            raise TLSError(f"server.tls.caCert {files.ca_file}: no usable CA certificate: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _check_certificate(path: Path) -> None:
    try:
        data = read_bounded(path, MAX_CONFIG_BYTES, "certificate file")
    except FileRefused as exc:
        raise TLSError(f"server.tls.cert {path}: {exc}") from None
    try:
        cert = x509.load_pem_x509_certificates(data)[0]
    except ValueError:
        raise TLSError(f"server.tls.cert {path}: not a PEM certificate") from None
    now = dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc <= now:
        raise TLSError(
            f"server.tls.cert {path}: the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )
    if cert.not_valid_before_utc > now:
        raise TLSError(
            f"server.tls.cert {path}: the certificate is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )


def files_signature(files: TLSFiles) -> tuple[tuple[int, int, int], ...]:
    out = []
    for path in (files.cert_file, files.key_file, files.ca_file):
        if path is not None:
            try:
                info = os.stat(path)
                out.append((info.st_mtime_ns, info.st_size, info.st_ino))
            except OSError:
                out.append((0, 0, 0))
    return tuple(out)


class ReloadingTLS:
    """The listener's ``SSLContext`` (:attr:`listening`) and the thread that reloads what it serves."""

    def __init__(self, files: TLSFiles, interval: float, on_reload: Callable[[bool], None] = lambda ok: None):
        self.files = files
        self.interval = interval
        self.on_reload = on_reload
        self._seen = files_signature(files)
        self.current = build_context(files)  # raises TLSError: refuse to start
        self.listening = build_context(files)
        self.listening.sni_callback = self._select
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _select(self, connection: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
        current = self.current
        if current is not context:
            connection.context = current  # this new connection uses the newest good certificate

    def reload_if_changed(self) -> bool | None:
        """Rebuild when the files changed: True (swapped), False (refused, the old one serves), None (same)."""
        seen = files_signature(self.files)
        if seen == self._seen:
            return None
        self._seen = seen
        try:
            context = build_context(self.files)
        except TLSError as exc:
            LOGGER.error(
                "TLS certificate reload failed; the last good certificate keeps serving",
                extra={"error": str(exc)},
            )
            self.on_reload(False)
            return False
        self.current = context
        LOGGER.info("TLS certificate reloaded", extra={"cert": str(self.files.cert_file)})
        self.on_reload(True)
        return True

    def start(self) -> ReloadingTLS:
        self._thread = threading.Thread(target=self._run, name="chamberlain-tls-reload", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.reload_if_changed()
            except Exception:  # nothing may end the reloads
                LOGGER.exception("TLS certificate check failed")

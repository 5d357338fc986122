"""TLS as Cerbos serves it (``server.tls``: cert, key, caCert), with real certificates made in the test
and a real TLS client (httpx verifying with the test CA): HTTPS only, client certificates required when
caCert is set, certificates reloaded when their files change (new connections get the new one), and a
bad certificate refuses start-up with a clear error (Cerbos logs it and serves plain HTTP)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chamberlain.server.config import ConfigError, load_config
from tests.server.certs import authority, leaf
from tests.server.support import STORE, ThreadServer, _read_all

HEALTH = "/_cerbos/health"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = authority()
    ca.write(directory, "ca")
    leaf(ca, "pdp-1").write(directory, "server")
    leaf(ca, "agent-7", server=False).write(directory, "client")
    leaf(authority("someone else"), "intruder", server=False).write(directory, "stranger")
    return directory, ca


def client(directory: Path, cert: str | None = None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(directory / "ca.pem"))
    if cert is not None:
        context.load_cert_chain(directory / f"{cert}.pem", directory / f"{cert}.key")
    return httpx.Client(verify=context, timeout=10)


def served_cn(port: int, directory: Path) -> str:
    """The common name of the certificate a new connection is served."""
    context = ssl.create_default_context(cafile=str(directory / "ca.pem"))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        subject = dict(x[0] for x in sock.getpeercert()["subject"])
    return subject["commonName"]


def tls(directory: Path, *, ca: bool = False, **extra) -> dict:
    settings = {"cert": str(directory / "server.pem"), "key": str(directory / "server.key")}
    if ca:
        settings["caCert"] = str(directory / "ca.pem")
    return {"server": {"tls": {**settings, **extra}}, "chamberlain": {"tlsReloadInterval": "100ms"}}


def test_https_with_the_configured_certificate(pki):
    directory, _ = pki
    with ThreadServer(STORE, tls(directory)) as srv:
        url = f"https://127.0.0.1:{srv.port}"
        with client(directory) as c:
            assert c.get(url + HEALTH).json() == {"status": "SERVING"}
        assert served_cn(srv.port, directory) == "pdp-1"
        plain = _plain_http(srv.port)
        assert not plain.startswith(b"HTTP/1.1 200")  # no plain HTTP on a TLS listener
        with client(directory) as c:
            meta = c.get(url + "/.well-known/authzen-configuration").json()
        assert meta["policy_decision_point"] == url  # the default public URL says https


def _plain_http(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /_cerbos/health HTTP/1.1\r\nHost: x\r\n\r\n")
        return _read_all(sock)


def test_a_client_certificate_is_required_when_cafile_is_set(pki):
    directory, _ = pki
    with ThreadServer(STORE, tls(directory, ca=True)) as srv:
        url = f"https://127.0.0.1:{srv.port}{HEALTH}"
        with client(directory, "client") as c:
            assert c.get(url).status_code == 200
        for cert in (None, "stranger"):
            with client(directory, cert) as c, pytest.raises(httpx.HTTPError):
                c.get(url)


def test_certificates_reload_when_their_files_change(pki, tmp_path):
    directory, ca = pki
    live = tmp_path / "live"
    live.mkdir()
    for name in ("ca.pem", "server.pem", "server.key"):
        (live / name).write_bytes((directory / name).read_bytes())
    with ThreadServer(STORE, tls(live)) as srv:
        assert served_cn(srv.port, live) == "pdp-1"
        with client(live) as kept:  # a connection opened before the change keeps working
            kept.get(f"https://127.0.0.1:{srv.port}{HEALTH}")
            leaf(ca, "pdp-2").write(live, "server")
            deadline = time.monotonic() + 15
            while served_cn(srv.port, live) != "pdp-2":
                assert time.monotonic() < deadline, "the new certificate was not served"
                time.sleep(0.05)
            assert kept.get(f"https://127.0.0.1:{srv.port}{HEALTH}").status_code == 200
        # a broken replacement is refused: the last good certificate keeps serving
        (live / "server.pem").write_text("not a certificate")
        time.sleep(0.5)
        assert served_cn(srv.port, live) == "pdp-2"
        with client(live) as c:
            assert (
                'chamberlain_tls_reloads_total{result="failure"}'
                in c.get(f"https://127.0.0.1:{srv.port}/metrics").text
            )


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("garbage-cert", "server.tls.cert"),
        ("mismatched-key", "does not match"),
        ("expired", "expired"),
        ("not-yet-valid", "not valid before"),
        ("missing-key", "server.tls.key"),
        ("only-cert", "cert and key go together"),
        ("bad-ca", "server.tls.caCert"),
    ],
)
def test_a_bad_certificate_refuses_to_start(pki, tmp_path, breakage, message):
    directory, ca = pki
    cert, key = directory / "server.pem", directory / "server.key"
    settings: dict = {"cert": str(cert), "key": str(key)}
    if breakage == "garbage-cert":
        (tmp_path / "bad.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
        settings["cert"] = str(tmp_path / "bad.pem")
    elif breakage == "mismatched-key":
        settings["key"] = str(leaf(ca, "other").write(tmp_path, "other")[1])
    elif breakage == "expired":
        settings["cert"], settings["key"] = map(
            str, leaf(ca, "old", days=1, starts_in=-3).write(tmp_path, "old")
        )
    elif breakage == "not-yet-valid":
        settings["cert"], settings["key"] = map(str, leaf(ca, "new", starts_in=2).write(tmp_path, "new"))
    elif breakage == "missing-key":
        settings["key"] = str(tmp_path / "missing.key")
    elif breakage == "only-cert":
        del settings["key"]
    elif breakage == "bad-ca":
        (tmp_path / "ca.pem").write_text("nothing here")
        settings["caCert"] = str(tmp_path / "ca.pem")
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides={"server": {"tls": settings}}, env={})
    config = tmp_path / "config.yaml"
    import yaml

    config.write_text(
        yaml.safe_dump({"server": {"tls": settings}, "storage": {"disk": {"directory": str(STORE)}}})
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "chamberlain"),
            "serve",
            "--config",
            str(config),
            "--http",
            "127.0.0.1:0",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and message in result.stderr, result.stderr

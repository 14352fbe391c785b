"""`shelfguard serve`: TLS, the trusted proxy, and refusing to serve a network in clear."""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.test import override_settings

from shelfguard.core import tls, webserver
from shelfguard.core.management.commands import serve as serve_command

NO_TRANSPORT_ENV = {name: "" for name in (tls.ENV_TLS, tls.ENV_CERT, tls.ENV_KEY, tls.ENV_PROXY)}


@pytest.fixture
def served(monkeypatch) -> Iterator[list[dict]]:
    """Run `serve` in this process without starting gunicorn; yields what it was asked.

    `serve` changes the live settings and environment for its workers; both
    are put back after the test.
    """
    calls: list[dict] = []
    for name, value in NO_TRANSPORT_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(
        serve_command,
        "run_gunicorn",
        lambda **kwargs: calls.append({**kwargs, "settings": _transport_settings()}),
    )
    with override_settings():
        yield calls


def _transport_settings() -> dict:
    return {name: getattr(settings, name) for name in tls.django_settings(tls.Transport())}


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "library.example.org"])
def test_refuses_a_network_address_without_tls(home, run_cli, served, host):
    result = run_cli("serve", "--host", host)

    assert result.code != 0
    assert f"Refusing to serve {host} without TLS" in result.err
    assert "--tls-cert" in result.err and "--behind-proxy" in result.err
    assert served == []


def test_loopback_without_tls_serves_plain_http_without_hsts(home, run_cli, served):
    result = run_cli("serve", "--port", "8123", "--workers", "1")

    assert result.code == 0, result.err
    [call] = served
    assert (call["host"], call["port"], call["context"]) == ("127.0.0.1", 8123, None)
    assert call["settings"]["SECURE_HSTS_SECONDS"] == 0
    assert call["settings"]["SESSION_COOKIE_SECURE"] is False
    assert "Serving http://127.0.0.1:8123/ (plain HTTP)" in result.out


def test_behind_proxy_serves_a_network_address_trusting_only_that_proxy(home, run_cli, served):
    with override_settings(ALLOWED_HOSTS=["127.0.0.1", "localhost", "[::1]"]):
        result = run_cli("serve", "--host", "0.0.0.0", "--behind-proxy", "10.0.0.5")

    assert result.code == 0, result.err
    [call] = served
    assert call["transport"].proxy == ipaddress.ip_address("10.0.0.5")
    assert call["context"] is None
    assert call["settings"]["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert call["settings"]["SESSION_COOKIE_SECURE"] is True
    assert call["settings"]["SECURE_HSTS_SECONDS"] == tls.HSTS_SECONDS
    assert os.environ[tls.ENV_TLS] == "1"
    assert os.environ[tls.ENV_PROXY] == "10.0.0.5"
    assert "allowed_hosts" in result.err  # only localhost names are allowed yet


@pytest.mark.parametrize("proxy", ["proxy.example.org", "10.0.0.0/24", "*", "0.0.0.0"])
def test_behind_proxy_needs_one_real_address(home, run_cli, served, proxy):
    result = run_cli("serve", "--host", "0.0.0.0", "--behind-proxy", proxy)

    assert result.code != 0
    assert "address" in result.err
    assert served == []


def test_tls_flags_give_gunicorn_a_checked_context(home, run_cli, served, tmp_path):
    pair = tls.make_self_signed(tmp_path / "tls", ["localhost"], days=5, now=_now())

    result = run_cli(
        "serve", "--host", "0.0.0.0", "--tls-cert", str(pair.cert), "--tls-key", str(pair.key)
    )

    assert result.code == 0, result.err
    [call] = served
    assert isinstance(call["context"], ssl.SSLContext)
    assert call["context"].minimum_version == ssl.TLSVersion.TLSv1_2
    assert call["transport"].cert == pair.cert
    assert call["settings"]["SESSION_COOKIE_NAME"] == "__Host-sessionid"
    assert "Serving https://0.0.0.0:8000/" in result.out


def test_tls_from_toml_is_used_without_flags(home, run_cli, served, tmp_path):
    pair = tls.make_self_signed(home / "tls", ["localhost"], days=5, now=_now())
    web = {"tls_cert": "tls/" + pair.cert.name, "tls_key": "tls/" + pair.key.name}

    with override_settings(CONFIG={**settings.CONFIG, "web": web}):
        result = run_cli("serve", "--host", "::")

    assert result.code == 0, result.err
    assert served[0]["transport"].cert == pair.cert
    assert "Serving https://[::]:8000/" in result.out


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda p, o: ["--tls-cert", str(p.cert)], "--tls-cert and --tls-key go together"),
        (lambda p, o: ["--tls-cert", str(p.cert), "--tls-key", str(o.key)], "Cannot use"),
        (lambda p, o: ["--tls-cert", str(p.cert) + ".no", "--tls-key", str(p.key)], "not a file"),
    ],
)
def test_unusable_tls_files_are_refused(home, run_cli, served, tmp_path, make_args, message):
    pair = tls.make_self_signed(tmp_path / "tls", ["localhost"], days=5, now=_now())
    other = tls.make_self_signed(tmp_path / "other", ["localhost"], days=5, now=_now())

    result = run_cli("serve", "--host", "0.0.0.0", *make_args(pair, other))

    assert result.code != 0
    assert message in result.err
    assert served == []


def test_a_key_others_can_read_is_refused(home, run_cli, served, tmp_path):
    pair = tls.make_self_signed(tmp_path / "tls", ["localhost"], days=5, now=_now())
    os.chmod(pair.key, 0o640)

    result = run_cli("serve", "--tls-cert", str(pair.cert), "--tls-key", str(pair.key))

    assert result.code != 0
    assert f"run `chmod 600 {pair.key}`" in result.err


# --- what gunicorn is told, and the scheme header ---------------------------------


@pytest.fixture
def gunicorn_options(monkeypatch) -> list[dict]:
    seen: list[dict] = []

    class Recorder:
        def __init__(self, options, proxy):
            seen.append({**options, "proxy": proxy})

        def run(self):
            pass

    monkeypatch.setattr(webserver, "_ShelfguardApplication", Recorder)
    return seen


def test_gunicorn_trusts_no_forwarded_scheme_without_a_proxy(gunicorn_options):
    webserver.run_gunicorn(host="127.0.0.1", port=8000, workers=1)

    [options] = gunicorn_options
    assert options["forwarded_allow_ips"] == ""
    assert options["secure_scheme_headers"] == {}
    assert "certfile" not in options


def test_gunicorn_trusts_exactly_the_named_proxy(gunicorn_options):
    transport = tls.Transport(proxy=ipaddress.ip_address("10.0.0.5"))
    webserver.run_gunicorn(host="0.0.0.0", port=8000, workers=1, transport=transport)

    [options] = gunicorn_options
    assert options["forwarded_allow_ips"] == "10.0.0.5,::ffff:10.0.0.5"
    assert options["secure_scheme_headers"] == {"X-FORWARDED-PROTO": "https"}


@pytest.mark.parametrize(
    ("peer", "kept"),
    [("10.0.0.5", True), ("::ffff:10.0.0.5", True), ("10.0.0.6", False), ("127.0.0.1", False)],
)
def test_only_the_proxy_may_send_the_scheme_header(peer, kept):
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return []

    wrapped = webserver.only_proxy_sets_scheme(app, ipaddress.ip_address("10.0.0.5"))
    wrapped({"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_PROTO": "https"}, None)

    assert ("HTTP_X_FORWARDED_PROTO" in seen) is kept


# --- real servers in subprocesses ------------------------------------------------


def _now():
    from shelfguard.core import clock

    return clock.now()


@contextlib.contextmanager
def fresh_database_url() -> Iterator[str | None]:
    """A database of its own for a subprocess: None on SQLite (the home holds it).

    On PostgreSQL the test database belongs to pytest's own connection and the
    keystore must match the subprocess's own master key, so each server gets
    a new, empty database, dropped afterwards.
    """
    url = os.environ.get("DATABASE_URL")
    if not url:
        yield None
        return
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = f"shelfguard_sub_{secrets.token_hex(6)}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def subprocess_env(home: Path, database_url: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SHELFGUARD_") and k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env["SHELFGUARD_HOME"] = str(home)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def shelfguard(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "shelfguard", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"shelfguard {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(env: dict[str, str], *args: str) -> Iterator[int]:
    """`shelfguard serve ARGS` on a free loopback port, until the block ends."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "shelfguard", "serve", "--port", str(port), "--workers", "1", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{process.stdout.read()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                pytest.fail("serve did not start listening within 60 seconds")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    """An initialised home served over TLS with a self-signed certificate."""
    location = tmp_path_factory.mktemp("tls-server") / "home"
    with fresh_database_url() as database_url:
        env = subprocess_env(location, database_url)
        shelfguard(env, "init")
        shelfguard(env, "tls", "self-signed", "--host", "127.0.0.1", "--host", "localhost")
        cert = location / "tls" / tls.SELF_SIGNED_CERT_NAME
        key = location / "tls" / tls.SELF_SIGNED_KEY_NAME
        with running_server(env, "--tls-cert", str(cert), "--tls-key", str(key)) as port:
            yield port, cert


def _client(cert: Path, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    if version is not None:
        with warnings.catch_warnings():
            # Old protocol versions are deprecated in `ssl`; offering one is the point.
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = version
            context.maximum_version = version
        # OpenSSL's default security level would not even offer TLS 1.1.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def test_https_round_trip_with_hsts_over_tls13(tls_server):
    port, cert = tls_server
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=_client(cert), timeout=30)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, body[:500]
        assert response.getheader("Strict-Transport-Security") == (
            "max-age=31536000; includeSubDomains"
        )
        assert connection.sock.version() == "TLSv1.3"
    finally:
        connection.close()


def test_tls12_is_accepted_with_an_aead_suite(tls_server):
    port, cert = tls_server
    context = _client(cert, ssl.TLSVersion.TLSv1_2)
    with (
        socket.create_connection(("127.0.0.1", port), 10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as conn,
    ):
        assert conn.version() == "TLSv1.2"
        name = conn.cipher()[0]
    assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name), name


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_tls10_and_tls11_are_refused_by_the_server(tls_server, version):
    port, cert = tls_server
    context = _client(cert, getattr(ssl.TLSVersion, version))
    with (
        socket.create_connection(("127.0.0.1", port), 10) as raw,
        pytest.raises(ssl.SSLError) as refused,
    ):
        context.wrap_socket(raw, server_hostname="localhost")
    if refused.value.reason == "NO_PROTOCOLS_AVAILABLE":
        pytest.skip(f"this machine's OpenSSL cannot offer {version} at all")
    # The server's alert, not a failure on our side.
    assert refused.value.reason in {"TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL"}


def test_tls12_cbc_suite_is_refused(tls_server):
    port, cert = tls_server
    context = _client(cert)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA")
    with socket.create_connection(("127.0.0.1", port), 10) as raw, pytest.raises(ssl.SSLError):
        context.wrap_socket(raw, server_hostname="localhost")


def test_plain_http_to_the_tls_port_gets_no_page(tls_server):
    port, _ = tls_server
    with socket.create_connection(("127.0.0.1", port), 10) as raw:
        raw.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        raw.settimeout(10)
        try:
            answer = raw.recv(4096)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"HTTP/")


def test_behind_proxy_round_trip(tmp_path):
    """Plain HTTP from the proxy: HTTPS only when the proxy says so."""
    location = tmp_path / "home"
    with fresh_database_url() as database_url:
        env = subprocess_env(location, database_url)
        shelfguard(env, "init")
        with running_server(env, "--behind-proxy", "127.0.0.1") as port:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("GET", "/", headers={"X-Forwarded-Proto": "https"})
                secure = connection.getresponse()
                secure.read()
                connection.request("GET", "/", headers={"X-Forwarded-Proto": "http"})
                plain = connection.getresponse()
                plain.read()
            finally:
                connection.close()
    assert secure.status == 200
    assert secure.getheader("Strict-Transport-Security", "").startswith("max-age=31536000")
    # Forwarded from plain HTTP: sent to HTTPS, never answered in clear.
    assert plain.status == 301
    assert plain.getheader("Location", "").startswith("https://")

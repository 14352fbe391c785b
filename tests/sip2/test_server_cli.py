"""`shelfguard sip2 serve`: the start-up line, the refusal without TLS, a graceful SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from shelfguard.core.home import create_home


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    create_home(home)  # settings and keys; these runs never touch the database
    values = {**os.environ, "SHELFGUARD_HOME": str(home)}
    for name in ("DATABASE_URL", "SHELFGUARD_TLS_CERT", "SHELFGUARD_TLS_KEY"):
        values.pop(name, None)
    return values


def shelfguard(*args: str) -> list[str]:
    return [sys.executable, "-m", "shelfguard", "sip2", "serve", *args]


def test_a_non_loopback_address_without_tls_is_refused_in_one_line(env):
    run = subprocess.run(
        shelfguard("--host", "0.0.0.0", "--port", "0"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "without TLS" in lines[0] and "--tls-cert" in lines[0]


def test_tls_cert_without_key_is_refused(env):
    run = subprocess.run(
        shelfguard("--tls-cert", "server.crt", "--port", "0"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode != 0 and "go together" in run.stderr


def test_json_start_line_then_a_graceful_stop_on_sigterm(env):
    child = subprocess.Popen(
        shelfguard("--port", "0", "--json", "--idle-timeout", "30"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        started = json.loads(child.stdout.readline())
        assert started["protocol"] == "sip2" and started["tls"] is False
        assert started["host"] == "127.0.0.1" and started["port"] > 0
        with socket.create_connection(("127.0.0.1", started["port"]), timeout=10) as sock:
            sock.sendall(b"9900802.00\r")  # status before login: answered, "offline"
            assert sock.recv(200).startswith(b"98N")
            child.send_signal(signal.SIGTERM)
            out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    assert out == ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_shelfguard_serve_runs_sip2_beside_the_web_when_enabled(env):
    config = Path(env["SHELFGUARD_HOME"]) / "shelfguard.toml"
    config.write_text(config.read_text() + "\n[sip2]\nenabled = true\nport = 0\n")
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shelfguard",
            "serve",
            "--port",
            str(_free_port()),
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = ""
        for _ in range(5):
            line = child.stdout.readline()
            if line.startswith("SIP2 server listening"):
                break
        assert line.startswith("SIP2 server listening on 127.0.0.1:"), line
        port = int(line.split()[4].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"9900802.00\r")
            assert sock.recv(200).startswith(b"98N")
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    with pytest.raises(OSError):  # stopped with the web server
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# --- where the certificate comes from (in this process) -------------------------------


def _pair(directory: Path):
    import datetime as dt

    from shelfguard.core import tls

    return tls.make_self_signed(directory, ["127.0.0.1"], days=2, now=dt.datetime.now(dt.UTC))


def test_the_sip2_certificate_in_the_toml_is_relative_to_the_data_home(home, settings, monkeypatch):
    from shelfguard.sip2.server import resolve_config

    monkeypatch.delenv("SHELFGUARD_TLS_CERT", raising=False)
    monkeypatch.delenv("SHELFGUARD_TLS_KEY", raising=False)
    made = _pair(home / "sip2-tls")
    settings.CONFIG = {
        "sip2": {
            "tls_cert": f"sip2-tls/{made.cert.name}",
            "tls_key": f"sip2-tls/{made.key.name}",
            "host": "0.0.0.0",
            "idle_timeout": 120,
        }
    }
    config = resolve_config({})
    assert config.ssl_context is not None and config.cert == str(made.cert)
    assert config.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert (config.host, config.port, config.limits.idle_timeout) == ("0.0.0.0", 6001, 120)


def test_without_its_own_certificate_sip2_uses_the_webs(home, settings, monkeypatch):
    from shelfguard.sip2.server import resolve_config

    made = _pair(home / "web-tls")
    monkeypatch.setenv("SHELFGUARD_TLS_CERT", str(made.cert))
    monkeypatch.setenv("SHELFGUARD_TLS_KEY", str(made.key))
    settings.CONFIG = {}
    config = resolve_config({"host": "192.0.2.10", "port": 0})
    assert config.cert == str(made.cert) and config.port == 0


def test_a_key_others_can_read_is_refused(home, settings, monkeypatch):
    from shelfguard.core.tls import TransportError
    from shelfguard.sip2.server import resolve_config

    made = _pair(home / "loose")
    made.key.chmod(0o644)
    settings.CONFIG = {}
    with pytest.raises(TransportError, match="chmod 600"):
        resolve_config({"tls_cert": str(made.cert), "tls_key": str(made.key)})

"""`shelfguard tls self-signed`, the transport settings and the server's TLS context."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from shelfguard.core import tls


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_self_signed_writes_private_key_and_certificate_to_home(home, run_cli):
    result = run_cli("tls", "self-signed", "--host", "library.example.org", "--json")

    assert result.code == 0, result.err
    made = result.json()
    cert, key = Path(made["certificate"]), Path(made["key"])
    assert cert.parent == home / "tls"
    assert mode(home / "tls") == 0o700
    assert mode(key) == 0o600
    assert made["names"] == ["library.example.org"]
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    assert isinstance(loaded.public_key(), ec.EllipticCurvePublicKey)
    assert loaded.public_key().curve.name == "secp256r1"
    assert made["sha256_fingerprint"] == tls.certificate_info(cert).fingerprint
    assert len(made["sha256_fingerprint"].split(":")) == 32
    # The pair loads into the context `serve` uses.
    tls.server_context(cert, key)


def test_self_signed_names_validity_and_extensions(tmp_path):
    made = tls.make_self_signed(
        tmp_path / "out", ["Library.Example.org", "10.1.2.3", "::1"], days=30, now=NOW
    )

    cert = x509.load_pem_x509_certificate(made.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["library.example.org"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.1.2.3"),
        ipaddress.ip_address("::1"),
    ]
    assert cert.not_valid_after_utc == NOW + dt.timedelta(days=30)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert tls.certificate_info(made.cert).self_signed


def test_self_signed_default_covers_loopback_and_prints_fingerprint(home, run_cli):
    result = run_cli("tls", "self-signed")

    assert result.code == 0, result.err
    assert "For:         localhost, 127.0.0.1, ::1" in result.out
    assert "SHA-256:" in result.out
    assert "shelfguard serve --tls-cert" in result.out


def test_self_signed_never_replaces_a_key_without_force(home, run_cli):
    first = run_cli("tls", "self-signed", "--json")
    assert first.code == 0, first.err
    key = Path(first.json()["key"])
    before = key.read_bytes()

    again = run_cli("tls", "self-signed")
    assert again.code != 0
    assert "already exists; pass --force" in again.err
    assert key.read_bytes() == before

    forced = run_cli("tls", "self-signed", "--force", "--json")
    assert forced.code == 0, forced.err
    assert key.read_bytes() != before
    assert mode(key) == 0o600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "not a host"], "neither an IP address nor a valid host name"),
        (["--host=bad-.example.org"], "neither an IP address"),
        (["--host=" + "x" * 64 + ".example.org"], "neither an IP address"),
        (["--days", "0"], "--days must be between 1 and 825"),
        (["--days", "9000"], "--days must be between 1 and 825"),
    ],
)
def test_self_signed_refuses_bad_input(home, run_cli, args, message):
    result = run_cli("tls", "self-signed", *args)

    assert result.code != 0
    assert message in result.err
    assert not (home / "tls" / tls.SELF_SIGNED_KEY_NAME).exists()


def test_self_signed_refuses_a_directory_open_to_others(tmp_path):
    out = tmp_path / "open"
    out.mkdir(mode=0o755)
    os.chmod(out, 0o755)

    with pytest.raises(tls.TransportError, match="chmod 700"):
        tls.make_self_signed(out, ["localhost"], days=1, now=NOW)
    assert list(out.iterdir()) == []


# --- the server's context ---------------------------------------------------------


@pytest.fixture
def pair(tmp_path):
    return tls.make_self_signed(tmp_path / "pair", ["localhost"], days=10, now=NOW)


def test_server_context_is_tls12_minimum_with_aead_suites_only(pair):
    context = tls.server_context(pair.cert, pair.key)

    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    tls12 = [c for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12, "no TLS 1.2 suite left"
    for cipher in tls12:
        assert cipher["aead"], cipher["name"]
        assert cipher["kea"] == "kx-ecdhe", cipher["name"]
    assert context.options & ssl.OP_NO_COMPRESSION


def test_server_context_refuses_a_key_others_can_read(pair):
    os.chmod(pair.key, 0o644)

    with pytest.raises(tls.TransportError, match=r"mode 644.*chmod 600"):
        tls.server_context(pair.cert, pair.key)


def test_server_context_refuses_a_key_of_another_certificate(pair, tmp_path):
    other = tls.make_self_signed(tmp_path / "other", ["localhost"], days=10, now=NOW)

    with pytest.raises(tls.TransportError, match="key belongs to the certificate"):
        tls.server_context(pair.cert, other.key)


def test_server_context_refuses_missing_files(pair, tmp_path):
    with pytest.raises(tls.TransportError, match="does not exist"):
        tls.server_context(tmp_path / "missing.crt", pair.key)


# --- transport configuration ------------------------------------------------------


def test_plain_http_sets_no_hsts_and_no_secure_cookies():
    values = tls.django_settings(tls.transport_from({}, {}))

    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert values["SESSION_COOKIE_NAME"] == "sessionid"


def test_tls_in_toml_turns_on_hsts_and_secure_host_only_cookies(tmp_path):
    web = {"tls_cert": "tls/a.crt", "tls_key": "tls/a.key"}
    transport = tls.transport_from({}, web, home=tmp_path)
    values = tls.django_settings(transport)

    assert transport.cert == tmp_path / "tls" / "a.crt"
    assert values["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is False
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SESSION_COOKIE_NAME"] == "__Host-sessionid"
    assert values["CSRF_COOKIE_NAME"] == "__Host-csrftoken"
    assert values["SECURE_PROXY_SSL_HEADER"] is None


def test_environment_wins_and_serve_signal_forces_https(tmp_path):
    env = {"SHELFGUARD_TLS_CERT": "/etc/c.pem", "SHELFGUARD_TLS_KEY": "/etc/k.pem"}
    transport = tls.transport_from(env, {"tls_cert": "x", "tls_key": "y"}, home=tmp_path)
    assert transport.cert == Path("/etc/c.pem")

    assert tls.transport_from({"SHELFGUARD_TLS": "1"}, {}).https
    assert not tls.transport_from({"SHELFGUARD_TLS": ""}, {}).https


def test_behind_proxy_trusts_exactly_one_address():
    transport = tls.transport_from({}, {"behind_proxy": "10.0.0.5"})
    values = tls.django_settings(transport)

    assert transport.proxy == ipaddress.ip_address("10.0.0.5")
    assert values["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] > 0


@pytest.mark.parametrize("value", ["proxy.example.org", "10.0.0.0/8", "*", "10.0.0.5,10.0.0.6"])
def test_behind_proxy_refuses_names_networks_and_wildcards(value):
    with pytest.raises(tls.TransportError, match="proxy's own IP address"):
        tls.transport_from({}, {"behind_proxy": value})


def test_certificate_without_key_is_refused(tmp_path):
    with pytest.raises(tls.TransportError, match="set both"):
        tls.transport_from({}, {"tls_cert": "a.crt"}, home=tmp_path)


def test_hsts_flags_must_be_booleans():
    with pytest.raises(tls.TransportError, match="true or false"):
        tls.transport_from({}, {"tls_cert": "a", "tls_key": "b", "hsts_preload": "yes"})

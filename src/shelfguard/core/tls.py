"""Transport security: how Shelfguard is reached, and the TLS it serves.

Three ways to serve, decided in one place (`transport_from`) for the
settings module, `shelfguard serve` and `shelfguard check --deploy` alike:

* **plain HTTP on loopback** (the demo and a proxy on the same machine that
  talks to the loopback port): no HSTS, no Secure cookies, since a browser
  talking plain HTTP would drop them;
* **direct TLS**: gunicorn terminates TLS with the certificate and key given
  by `--tls-cert`/`--tls-key`, `[web] tls_cert`/`tls_key` or
  `SHELFGUARD_TLS_CERT`/`SHELFGUARD_TLS_KEY`;
* **behind a trusted proxy**: another server terminates TLS and forwards to
  Shelfguard; only that one address may say "this request came over HTTPS".

This module is imported by `settings.py` before Django is set up: it must not
import Django or anything that needs settings.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelfguard.core.home import HomeError

# One year: long enough that a browser which has seen the site once never
# tries plain HTTP again between visits, the value HSTS preload lists ask for.
HSTS_SECONDS = 365 * 24 * 60 * 60

# TLS 1.2 suites allowed: forward-secret (ECDHE) and authenticated encryption
# (AES-GCM, ChaCha20-Poly1305) only. CBC suites (padding-oracle history), RSA
# key exchange (no forward secrecy) and finite-field DHE (weak groups, slow)
# are all left out. TLS 1.3 suites are all AEAD and are not affected by this.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"

# The header a trusted proxy sets; Django and gunicorn are told the same one.
PROXY_SCHEME_HEADER = "X-Forwarded-Proto"
PROXY_SCHEME_META = "HTTP_X_FORWARDED_PROTO"

SELF_SIGNED_CERT_NAME = "shelfguard-self-signed.crt"
SELF_SIGNED_KEY_NAME = "shelfguard-self-signed.key"
SELF_SIGNED_MAX_DAYS = 825

# Environment variables, which win over `[web]` in shelfguard.toml.
ENV_TLS = "SHELFGUARD_TLS"
ENV_CERT = "SHELFGUARD_TLS_CERT"
ENV_KEY = "SHELFGUARD_TLS_KEY"
ENV_PROXY = "SHELFGUARD_BEHIND_PROXY"

ProxyAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TransportError(HomeError):
    """TLS or proxy configuration that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class Transport:
    """How clients reach this installation."""

    cert: Path | None = None
    key: Path | None = None
    proxy: ProxyAddress | None = None
    # `SHELFGUARD_TLS=1` without files or proxy: `serve` tells its workers
    # that they answer HTTPS; settings then fail safe towards Secure cookies.
    forced: bool = False
    hsts_include_subdomains: bool = True
    hsts_preload: bool = False

    @property
    def direct_tls(self) -> bool:
        return self.cert is not None and self.key is not None

    @property
    def https(self) -> bool:
        """Whether browsers reach this site over HTTPS (directly or through the proxy)."""
        return self.direct_tls or self.proxy is not None or self.forced

    def describe(self) -> str:
        if self.direct_tls and self.proxy is not None:
            return f"TLS with {self.cert}, behind the trusted proxy {self.proxy}"
        if self.direct_tls:
            return f"TLS with {self.cert}"
        if self.proxy is not None:
            return f"plain HTTP from the trusted TLS proxy {self.proxy}"
        return "plain HTTP"


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def parse_proxy_address(value: str) -> ProxyAddress:
    """One IP address: the proxy that terminates TLS. Names and networks are refused.

    A host name could resolve differently tomorrow, and a network or `*`
    would let every machine in it claim that a request came over HTTPS.
    """
    text = value.strip().strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise TransportError(
            f"--behind-proxy / behind_proxy must be the proxy's own IP address (for example "
            f"10.0.0.5 or ::1), not {value!r}: a host name or network would let other "
            "machines claim that a request arrived over HTTPS."
        ) from None


def _path(value: str, base: Path | None) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return path


def transport_from(
    env: Mapping[str, str], web: Mapping[str, Any], *, home: Path | None = None
) -> Transport:
    """The transport configured by the environment and `[web]` of shelfguard.toml.

    Relative paths in the toml are relative to the data home `home`; relative
    paths in the environment are relative to the working directory.
    """
    cert_env, key_env = _text(env.get(ENV_CERT)), _text(env.get(ENV_KEY))
    if cert_env or key_env:
        cert_text, key_text, base = cert_env, key_env, None
        source = f"{ENV_CERT} and {ENV_KEY}"
    else:
        cert_text, key_text, base = _text(web.get("tls_cert")), _text(web.get("tls_key")), home
        source = "[web] tls_cert and tls_key in shelfguard.toml"
    if bool(cert_text) != bool(key_text):
        raise TransportError(f"TLS needs both a certificate and its key: set both {source}.")
    proxy_text = _text(env.get(ENV_PROXY)) or _text(web.get("behind_proxy"))
    for name in ("hsts_include_subdomains", "hsts_preload"):
        if name in web and not isinstance(web[name], bool):
            raise TransportError(f"[web] {name} in shelfguard.toml must be true or false.")
    return Transport(
        cert=_path(cert_text, base) if cert_text else None,
        key=_path(key_text, base) if key_text else None,
        proxy=parse_proxy_address(proxy_text) if proxy_text else None,
        forced=_text(env.get(ENV_TLS)).lower() in {"1", "true", "yes", "on"},
        hsts_include_subdomains=web.get("hsts_include_subdomains", True),
        hsts_preload=web.get("hsts_preload", False),
    )


def django_settings(transport: Transport) -> dict[str, Any]:
    """The Django settings that follow from the transport.

    Over plain HTTP none of the HTTPS-only protections are set: HSTS sent over
    HTTP is ignored by browsers at best and, on a loopback address shared by
    other programs, would pin them all to HTTPS; Secure cookies would never
    come back over HTTP, so nobody could sign in.
    """
    https = transport.https
    return {
        "SECURE_HSTS_SECONDS": HSTS_SECONDS if https else 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": https and transport.hsts_include_subdomains,
        "SECURE_HSTS_PRELOAD": https and transport.hsts_preload,
        # With direct TLS there is no plain-HTTP listener, so this never fires;
        # behind a proxy it sends a request the proxy forwarded from plain HTTP
        # back to HTTPS instead of answering it in clear.
        "SECURE_SSL_REDIRECT": https,
        # Only set behind a proxy: Django then believes this header, and the
        # WSGI wrapper in `webserver` removes it from every other peer.
        "SECURE_PROXY_SSL_HEADER": (
            (PROXY_SCHEME_META, "https") if transport.proxy is not None else None
        ),
        "SESSION_COOKIE_SECURE": https,
        "CSRF_COOKIE_SECURE": https,
        # The __Host- prefix makes browsers refuse the cookie unless it is
        # Secure, host-only and for path /: a neighbouring subdomain cannot
        # plant or overwrite a session or CSRF cookie.
        "SESSION_COOKIE_NAME": "__Host-sessionid" if https else "sessionid",
        "CSRF_COOKIE_NAME": "__Host-csrftoken" if https else "csrftoken",
    }


def environment_for_workers(transport: Transport) -> dict[str, str]:
    """Variables `serve` sets so that every process it starts sees the same transport."""
    env = {ENV_TLS: "1" if transport.https else ""}
    env[ENV_CERT] = str(transport.cert) if transport.cert else ""
    env[ENV_KEY] = str(transport.key) if transport.key else ""
    env[ENV_PROXY] = str(transport.proxy) if transport.proxy else ""
    return env


# --- the server's TLS context --------------------------------------------------


def loose_mode(path: Path) -> int | None:
    """The file's mode if group or others may read or write it, else None."""
    mode = stat.S_IMODE(path.stat().st_mode)
    return mode if mode & 0o077 else None


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context: TLS 1.2 or 1.3 only, AEAD suites only.

    Refuses a private key that other accounts can read, as key files in
    `keys/` are refused: a key others can read is no longer a secret.
    """
    for label, path in (("certificate", cert), ("private key", key)):
        if not path.is_file():
            raise TransportError(f"TLS {label} {path} does not exist or is not a file.")
    if (mode := loose_mode(key)) is not None:
        raise TransportError(
            f"TLS private key {key} is readable by other accounts (mode {mode:o}); "
            f"run `chmod 600 {key}`."
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
    context.set_ciphers(TLS12_CIPHERS)
    # Clients choose among what is left: every remaining suite is strong, and
    # letting a phone without AES hardware pick ChaCha20 is faster for it.
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.verify_mode = ssl.CERT_NONE  # browsers do not present client certificates
    try:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except ssl.SSLError as exc:
        raise TransportError(
            f"Cannot use {cert} with {key}: {exc.reason or exc}. Check that both are PEM files "
            "and that the key belongs to the certificate."
        ) from None
    except OSError as exc:
        raise TransportError(f"Cannot read {cert} or {key}: {exc.strerror or exc}.") from None
    return context


# --- certificates ----------------------------------------------------------------


@dataclass(frozen=True)
class CertificateInfo:
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    self_signed: bool
    names: tuple[str, ...]
    fingerprint: str


def fingerprint(der: bytes) -> str:
    """SHA-256 fingerprint in the colon-separated form browsers show."""
    from cryptography.hazmat.primitives import hashes

    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return ":".join(f"{byte:02X}" for byte in digest.finalize())


def certificate_info(path: Path) -> CertificateInfo:
    """What an operator needs to know about the first certificate in a PEM file."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise TransportError(f"{path} is not a readable PEM certificate ({exc}).") from None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(
            [*san.get_values_for_type(x509.DNSName)]
            + [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        )
    except x509.ExtensionNotFound:
        names = ()
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        self_signed=cert.issuer == cert.subject,
        names=names,
        fingerprint=fingerprint(cert.public_bytes(Encoding.DER)),
    )


@dataclass(frozen=True)
class SelfSigned:
    cert: Path
    key: Path
    fingerprint: str
    names: tuple[str, ...]
    not_after: dt.datetime


def _san_entry(name: str):
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        pass
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise TransportError(f"{name!r} is neither an IP address nor a valid host name.") from None
    labels = ascii_name.rstrip(".").split(".")
    if not ascii_name or any(
        not label
        or len(label) > 63
        or label.startswith("-")
        or label.endswith("-")
        or not all(c.isalnum() or c == "-" for c in label)
        for label in labels
    ):
        raise TransportError(f"{name!r} is neither an IP address nor a valid host name.")
    return x509.DNSName(ascii_name.rstrip("."))


def _write_private(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` through a temporary file, so a reader never sees half a key."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def make_self_signed(
    out_dir: Path, hosts: list[str], *, days: int, now: dt.datetime, replace: bool = False
) -> SelfSigned:
    """A new EC P-256 key and a certificate for `hosts`, signed by that key.

    For trials only: browsers warn about it until each one is told to trust
    it. The key file is mode 0600 in a directory of mode 0700.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not hosts:
        raise TransportError("Name at least one host (--host NAME).")
    if not 1 <= days <= SELF_SIGNED_MAX_DAYS:
        raise TransportError(f"--days must be between 1 and {SELF_SIGNED_MAX_DAYS}.")
    entries = []
    for host in hosts:
        entry = _san_entry(host)
        if entry not in entries:
            entries.append(entry)
    cert_path, key_path = out_dir / SELF_SIGNED_CERT_NAME, out_dir / SELF_SIGNED_KEY_NAME
    if not replace:
        for path in (cert_path, key_path):
            if path.exists():
                raise TransportError(
                    f"{path} already exists; pass --force to replace it (a running server "
                    "keeps the old certificate until it is restarted)."
                )
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (mode := loose_mode(out_dir)) is not None:
        raise TransportError(
            f"{out_dir} is open to other accounts (mode {mode:o}); run `chmod 700 {out_dir}` "
            "or choose another --out."
        )

    key = ec.generate_private_key(ec.SECP256R1())
    first = str(entries[0].value)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, first[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Shelfguard self-signed (trial)"),
        ]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        # A little back-dating tolerates clients whose clocks run slightly slow.
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(entries), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # The key first: a certificate without its key is useless, a key without
    # its certificate is harmless and replaced by the next run.
    _write_private(key_path, key_pem, 0o600)
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return SelfSigned(
        cert=cert_path,
        key=key_path,
        fingerprint=fingerprint(cert.public_bytes(serialization.Encoding.DER)),
        names=tuple(str(entry.value) for entry in entries),
        not_after=cert.not_valid_after_utc,
    )

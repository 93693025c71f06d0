"""TLS for upsd (STARTTLS server side) and for clients/upsmon, configured from the same
directives as C NUT: upsd.conf ``CERTFILE``/``CERTPATH``/``CERTIDENT``/``CERTREQUEST``/
``DISABLE_WEAK_SSL`` and upsmon.conf ``CERTPATH``/``CERTIDENT``/``CERTHOST``/``CERTVERIFY``/
``FORCESSL``/``CERTFILE``.

Both of C's back-ends' configurations are accepted:

* OpenSSL style: ``CERTFILE`` is a PEM file holding the certificate (chain) and its key;
  ``CERTPATH`` is a CA directory (``<hash>.0`` files, as ``c_rehash`` makes them) or a
  PEM bundle.
* NSS style (Debian's C NUT is an NSS build): ``CERTPATH`` is an NSS database directory
  (``cert9.db`` + ``key4.db``, or legacy ``cert8.db``) and ``CERTIDENT <nickname>
  <password>`` names the certificate. Certificate and key are exported with NSS's own
  ``pk12util`` into a private temporary file only for the moment the context loads them;
  trusted CAs are exported with ``certutil``.

Misconfiguration fails closed: ``TLSConfigError`` with a message that says what to fix.
Build contexts before chroot and privilege drop (NSS tools and key files are outside the
jail; the context keeps what it loaded).
"""

from __future__ import annotations

import os
import ssl
import subprocess
import warnings
from contextlib import contextmanager
from typing import Iterable, Mapping, Sequence

# Timeouts for callers (never block a daemon on a peer): seconds.
HANDSHAKE_TIMEOUT = 10.0      # whole TLS handshake after "OK STARTTLS"
STARTTLS_REPLY_TIMEOUT = 10.0  # client waiting for the reply to STARTTLS
STARTTLS_OK = b"OK STARTTLS\n"

CERTREQ_NO, CERTREQ_REQUEST, CERTREQ_REQUIRE = 0, 1, 2

# DISABLE_WEAK_SSL: TLS >= 1.2 with forward-secret AEAD suites only (TLS 1.3 suites are
# all strong and not affected by this string).
STRONG_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS"
# Without it: C's "HIGH" selection (CBC and SHA-1 MAC suites included, for old clients).
COMPAT_CIPHERS = "HIGH:!aNULL:!eNULL:!MD5:!3DES:!DSS:@STRENGTH"

_NSS_TOOL_TIMEOUT = 30.0


class TLSConfigError(Exception):
    """TLS is configured but cannot be set up as configured."""


# ----------------------------------------------------------------------------- NSS


def nss_db_kind(path: str | None) -> str | None:
    """``"sql"`` (cert9.db) or ``"dbm"`` (cert8.db) when ``path`` is an NSS database."""
    if not path:
        return None
    path = _strip_nss_prefix(path)
    if os.path.isfile(os.path.join(path, "cert9.db")):
        return "sql"
    if os.path.isfile(os.path.join(path, "cert8.db")):
        return "dbm"
    return None


def _strip_nss_prefix(path: str) -> str:
    for prefix in ("sql:", "dbm:"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


# No tempfile/shutil/secrets here: upsd loads this module at start-up whether or not TLS
# is configured (it must be in memory before chroot), and those three with what they pull
# in (random, bz2, lzma, hmac) cost upsd close to a megabyte of resident memory.
@contextmanager
def _private_dir():
    """A fresh 0700 directory for key material, removed with its files afterwards."""
    base = os.environ.get("TMPDIR") or "/tmp"
    while True:
        path = os.path.join(base, "nutpy-tls-" + os.urandom(8).hex())
        try:
            os.mkdir(path, 0o700)
            break
        except FileExistsError:
            continue
    try:
        yield path
    finally:
        for name in os.listdir(path):
            try:
                os.unlink(os.path.join(path, name))
            except OSError:
                pass
        try:
            os.rmdir(path)
        except OSError:
            pass


def _which(name: str) -> str | None:
    dirs = os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/local/bin"]
    for d in dirs:
        path = os.path.join(d or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _nss_tool(name: str) -> str:
    tool = _which(name)
    if tool is None:
        raise TLSConfigError(
            f"{name} (package libnss3-tools) is needed to read the NSS database; install "
            f"it, or convert the database once: pk12util -o upsd.p12 -n <nickname> -d "
            f"sql:<CERTPATH>, then openssl pkcs12 -in upsd.p12 -out upsd.pem -nodes and "
            f"use CERTFILE upsd.pem")
    return tool


def _run_nss(argv: list[str], what: str) -> bytes:
    try:
        r = subprocess.run(argv, capture_output=True, timeout=_NSS_TOOL_TIMEOUT,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise TLSConfigError(f"{what}: {e}") from None
    if r.returncode != 0:
        detail = (r.stderr or r.stdout).decode("utf-8", "replace").strip().splitlines()
        raise TLSConfigError(f"{what}: {detail[-1] if detail else f'exit {r.returncode}'}")
    return r.stdout


def nss_export_identity(dbdir: str, nickname: str, password: str | None) -> tuple[bytes, bytes]:
    """(certificate chain PEM, unencrypted private key PEM) of ``nickname`` in an NSS
    database, via ``pk12util`` and ``cryptography``'s PKCS#12 reader."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    kind = nss_db_kind(dbdir)
    if kind is None:
        raise TLSConfigError(f"{dbdir} is not an NSS database (no cert9.db or cert8.db)")
    tool = _nss_tool("pk12util")
    p12_password = os.urandom(16).hex()
    with _private_dir() as tmp:
        out = os.path.join(tmp, "identity.p12")
        pwfile, p12pwfile = os.path.join(tmp, "db.pw"), os.path.join(tmp, "p12.pw")
        for path, secret in ((pwfile, password or ""), (p12pwfile, p12_password)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secret + "\n")
        # passwords go through files, not argv (visible in ps)
        _run_nss([tool, "-o", out, "-n", nickname, "-d", f"{kind}:{_strip_nss_prefix(dbdir)}",
                  "-w", p12pwfile, "-k", pwfile],
                 f"cannot export certificate '{nickname}' from NSS database {dbdir} "
                 f"(check CERTIDENT name and password)")
        with open(out, "rb") as f:
            data = f.read()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pk12util writes BER, which is fine here
            key, cert, extra = pkcs12.load_key_and_certificates(data, p12_password.encode())
    except ValueError as e:
        raise TLSConfigError(f"cannot read certificate '{nickname}' exported from {dbdir}: {e}")
    if cert is None or key is None:
        raise TLSConfigError(f"NSS database {dbdir} has no private key for certificate "
                             f"'{nickname}' (CERTIDENT must name a certificate with its key)")
    chain = cert.public_bytes(serialization.Encoding.PEM) + b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in extra or ()
        if c.subject != c.issuer)  # the server sends its chain, not the root
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return chain, key_pem


def nss_trusted_cas(dbdir: str, purpose: str = "server") -> str:
    """PEM bundle of the certificates an NSS database trusts: CAs with trust flag ``C``
    (issuing server certificates) for ``purpose="server"``, ``T`` (client certificates)
    for ``purpose="client"``, and trusted peers (``P``, e.g. a self-signed upsd
    certificate) for both."""
    kind = nss_db_kind(dbdir)
    if kind is None:
        raise TLSConfigError(f"{dbdir} is not an NSS database (no cert9.db or cert8.db)")
    tool = _nss_tool("certutil")
    db = f"{kind}:{_strip_nss_prefix(dbdir)}"
    listing = _run_nss([tool, "-L", "-d", db], f"cannot list NSS database {dbdir}")
    flag = "C" if purpose == "server" else "T"
    pems = []
    for line in listing.decode("utf-8", "replace").splitlines():
        # "<nickname with spaces>    <ssl>,<email>,<objsign>" after a 2-line header
        parts = line.rstrip().rsplit(None, 1)
        if len(parts) != 2 or parts[1].count(",") != 2:
            continue
        nickname, trust = parts[0].strip(), parts[1].split(",")[0]
        if flag in trust or "P" in trust:
            pems.append(_run_nss([tool, "-L", "-d", db, "-n", nickname, "-a"],
                                 f"cannot export '{nickname}' from {dbdir}").decode())
    return "".join(pems)


# ----------------------------------------------------------------------------- helpers


def _load_identity(ctx: ssl.SSLContext, certfile: str, password: str | None) -> None:
    if not os.path.isfile(certfile):
        raise TLSConfigError(f"CERTFILE {certfile}: no such file")
    try:
        with open(certfile, "rb") as f:
            text = f.read()
    except OSError as e:
        raise TLSConfigError(f"CERTFILE {certfile}: {e.strerror}") from None
    if b"PRIVATE KEY-----" not in text:
        raise TLSConfigError(f"CERTFILE {certfile} has no private key: it must hold the "
                             f"certificate followed by its key (cat upsd.crt upsd.key)")
    try:
        # a callable, never None: OpenSSL would otherwise prompt on the terminal
        ctx.load_cert_chain(certfile, password=lambda: password or "")
    except ssl.SSLError as e:
        raise TLSConfigError(f"CERTFILE {certfile}: cannot use certificate and key "
                             f"({e.reason or e}); is the key encrypted (give its "
                             f"password with CERTIDENT) or not the certificate's?") from None


def _load_identity_pem(ctx: ssl.SSLContext, chain: bytes, key: bytes, what: str) -> None:
    # ssl can only load keys from files: a private file that lives for this call only
    with _private_dir() as tmp:
        path = os.path.join(tmp, "identity.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(chain + key)
        try:
            ctx.load_cert_chain(path)
        except ssl.SSLError as e:
            raise TLSConfigError(f"{what}: cannot use certificate and key ({e})") from None


def _load_cas(ctx: ssl.SSLContext, certpath: str, purpose: str) -> None:
    """Trust anchors from CERTPATH: an NSS database, a PEM bundle, or a CA directory."""
    if nss_db_kind(certpath):
        cas = nss_trusted_cas(certpath, purpose)
        if not cas:
            flag = "C" if purpose == "server" else "T"
            raise TLSConfigError(
                f"NSS database {certpath} trusts no CA for this purpose: import one with "
                f"certutil -A -d sql:{certpath} -n \"My Root CA\" -t \"{flag},,\" -a -i "
                f"rootca.crt")
        ctx.load_verify_locations(cadata=cas)
        # NSS trusts a peer certificate marked "P" by itself, without its issuer
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        return
    try:
        if os.path.isfile(certpath):
            ctx.load_verify_locations(cafile=certpath)
        elif os.path.isdir(certpath):
            ctx.load_verify_locations(capath=certpath)
            for name in sorted(os.listdir(certpath)):
                # convenience beyond c_rehash names: plain CA files dropped in the directory
                if name.endswith((".pem", ".crt")):
                    ctx.load_verify_locations(cafile=os.path.join(certpath, name))
        else:
            raise TLSConfigError(f"CERTPATH {certpath}: no such file or directory")
    except ssl.SSLError as e:
        raise TLSConfigError(f"CERTPATH {certpath}: cannot load CA certificates ({e})") from None


def _harden(ctx: ssl.SSLContext, disable_weak: bool) -> None:
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    # TLS 1.0/1.1 stay off even without DISABLE_WEAK_SSL (C allows them; OpenSSL 3's
    # default security level refuses them anyway)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(STRONG_CIPHERS if disable_weak else COMPAT_CIPHERS)


# ----------------------------------------------------------------------------- contexts


def server_context(certfile=None, certpath: str | None = None,
                   certident: tuple[str, str] | None = None, certrequest: int = CERTREQ_NO,
                   disable_weak: bool = False) -> ssl.SSLContext:
    """The upsd STARTTLS context.

    ``certfile``: PEM with certificate (chain) and key (CERTIFICATE's password, if the key
    is encrypted, is CERTIDENT's second word). Without it, ``certpath`` must be an NSS
    database and ``certident`` (nickname, password) names the server certificate.
    ``certrequest``: 0 no client certificate; 1 ask for one and verify it if sent;
    2 require a valid one. Client certificates are verified against ``certpath`` (CA
    directory, bundle or NSS database: CAs trusted for clients, flag ``T``)."""
    if certrequest not in (CERTREQ_NO, CERTREQ_REQUEST, CERTREQ_REQUIRE):
        raise TLSConfigError(f"invalid CERTREQUEST {certrequest!r}: use NO, REQUEST or REQUIRE")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(ctx, disable_weak)
    password = certident[1] if certident else None
    if certfile:
        _load_identity(ctx, os.fspath(certfile), password)
    elif certpath and nss_db_kind(certpath):
        if not certident or not certident[0]:
            raise TLSConfigError(f"CERTPATH {certpath} is an NSS database: CERTIDENT "
                                 f"<certificate nickname> <database password> must name "
                                 f"upsd's certificate")
        chain, key = nss_export_identity(certpath, certident[0], password)
        _load_identity_pem(ctx, chain, key, f"certificate '{certident[0]}' in {certpath}")
    elif certpath:
        raise TLSConfigError(f"CERTPATH {certpath} is not an NSS database (no cert9.db or "
                             f"cert8.db) and no CERTFILE is set: give upsd its "
                             f"certificate and key with CERTFILE <pem>")
    else:
        raise TLSConfigError("no server certificate: set CERTFILE <pem> (certificate + "
                             "key) or CERTPATH <NSS database> with CERTIDENT")
    if certrequest == CERTREQ_NO:
        ctx.verify_mode = ssl.CERT_NONE
    else:
        if not certpath:
            raise TLSConfigError("CERTREQUEST needs CERTPATH: the CA certificates that "
                                 "client certificates are checked against")
        _load_cas(ctx, certpath, "client")
        ctx.verify_mode = ssl.CERT_REQUIRED if certrequest == CERTREQ_REQUIRE \
            else ssl.CERT_OPTIONAL
    return ctx


def client_context(certpath: str | None, verify: bool, certfile: str | None = None,
                   certident: tuple[str, str] | None = None,
                   disable_weak: bool = False) -> ssl.SSLContext:
    """The client/upsmon context. ``verify`` (CERTVERIFY or CERTHOST's flag) checks the
    server's certificate against ``certpath`` (CA directory, bundle or NSS database) and
    its name against the ``server_hostname`` the caller wraps with (CERTHOST's certificate
    name, else the host name). Without ``verify`` the server is not authenticated, as in
    C. ``certfile`` (PEM cert+key) or ``certident`` (nickname in the ``certpath`` NSS
    database, password) is the client's own certificate for CERTREQUEST servers."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _harden(ctx, disable_weak)
    if verify:
        if not certpath:
            raise TLSConfigError("CERTVERIFY is set but CERTPATH is not: the CA "
                                 "certificates to verify upsd with are needed")
        _load_cas(ctx, certpath, "server")
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.check_hostname = True
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if certfile:
        _load_identity(ctx, certfile, certident[1] if certident else None)
    elif certident and certident[0] and certpath and nss_db_kind(certpath):
        chain, key = nss_export_identity(certpath, certident[0], certident[1])
        _load_identity_pem(ctx, chain, key, f"certificate '{certident[0]}' in {certpath}")
    return ctx


def certhost_lookup(certhosts: Mapping[str, Sequence] | Iterable[Sequence], host: str,
                    port: int | None = None, default_verify: bool = False,
                    default_forcessl: bool = False) -> tuple[str, bool, bool]:
    """(certificate name, verify, forcessl) for a connection to ``host``.

    ``certhosts`` is upsmon.conf's CERTHOST lines in file order, as a list of
    ``(host, certname, certverify, forcessl)`` or a mapping host -> (certname, certverify,
    forcessl). C compares the host exactly (case-sensitive) and the last line for a host
    wins; a ``host:port`` entry (HEAD syntax) is preferred for that port. Without an
    entry: the host name itself, CERTVERIFY and FORCESSL."""
    if isinstance(certhosts, Mapping):
        entries = [(k, *v) for k, v in certhosts.items()]
    else:
        entries = [tuple(e) for e in certhosts]
    wanted = [f"{host}:{port}", f"[{host}]:{port}"] if port is not None else []
    for key in (*wanted, host):
        for entry in reversed(entries):
            if entry[0] == key:
                return str(entry[1]), _flag(entry[2]), _flag(entry[3])
    return host, bool(default_verify), bool(default_forcessl)


def _flag(v) -> bool:
    if isinstance(v, str):
        v = v.strip()
        digits = len(v) - len(v.lstrip("+-0123456789"))
        try:
            return int(v[:digits] or 0) != 0  # atoi, as C reads the CERTHOST flags
        except ValueError:
            return False
    return bool(v)


def describe(sslobj) -> str:
    """``TLSv1.3 TLS_AES_256_GCM_SHA384`` for logs."""
    try:
        cipher = sslobj.cipher()
        return f"{sslobj.version()} {cipher[0] if cipher else ''}".strip()
    except (AttributeError, ValueError):
        return "TLS"

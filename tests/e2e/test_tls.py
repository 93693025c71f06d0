"""nutpy.security.tls: server_context/client_context interoperating over loopback, CERTREQUEST,
DISABLE_WEAK_SSL, fail-closed configuration errors, NSS databases (made with NSS's own
certutil/pk12util), and real C NUT 2.8.0 (an NSS build) on both ends of STARTTLS."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading

import pytest

from nutpy.security import tls
from support import certs
from support.harness import IN_CI, c_prog, require_c_nut

HOST = "ups.example.com"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca, other_ca = certs.make_ca(), certs.make_ca("some other CA")
    server = certs.issue(ca, HOST, [HOST, "localhost"], ["127.0.0.1"])
    client = certs.issue(ca, "upsmon client", client=True)
    stranger = certs.issue(other_ca, HOST, [HOST])
    stranger_client = certs.issue(other_ca, "stranger", client=True)

    class P:
        pass

    p = P()
    p.dir, p.ca, p.server, p.client = d, ca, server, client
    p.ca_pem = d / "ca.pem"
    p.ca_pem.write_bytes(ca.cert_pem)
    p.server_pem = server.write_pem(d / "upsd.pem")
    p.client_pem = client.write_pem(d / "client.pem")
    p.stranger_pem = stranger.write_pem(d / "stranger.pem")
    p.stranger_client_pem = stranger_client.write_pem(d / "stranger-client.pem")
    p.encrypted_pem = server.write_pem(d / "upsd-enc.pem", password=b"keypass")
    p.cert_only = server.write_pem(d / "cert-only.pem", with_key=False)
    mismatched = d / "mismatched.pem"
    mismatched.write_bytes(server.cert_pem + client.key_pem())
    p.mismatched = mismatched
    # CA directory the way the NUT docs say: <subject hash>.0
    p.ca_dir = d / "certs"
    p.ca_dir.mkdir()
    h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(p.ca_pem)],
                       capture_output=True, text=True, check=True).stdout.strip()
    (p.ca_dir / f"{h}.0").write_bytes(ca.cert_pem)
    return p


def handshake(server_ctx, client_ctx, server_hostname=HOST):
    """TLS over a socketpair; returns (server error, client error), None for success."""
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    result = {}

    def serve():
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                s.sendall(b"OK\n")
                result["server_peer"] = s.getpeercert()
                s.recv(10)
            result["server"] = None
        except (ssl.SSLError, OSError) as e:
            result["server"] = e

    t = threading.Thread(target=serve)
    t.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname=server_hostname) as c:
            data = c.recv(10)
            if data != b"OK\n":  # TLS 1.3: a refused client cert shows up at first read
                raise ssl.SSLError(f"no data: {data!r}")
            c.sendall(b"x")
        client_err = None
    except (ssl.SSLError, OSError) as e:
        client_err = e
    finally:
        b.close()
        t.join(10)
        a.close()
    return result.get("server"), client_err


# ----------------------------------------------------------------------------- PEM


def test_verified_connection_with_ca_file_and_ca_dir(pki):
    srv = tls.server_context(str(pki.server_pem), None, None, 0, False)
    for certpath in (pki.ca_pem, pki.ca_dir):
        assert handshake(srv, tls.client_context(str(certpath), True)) == (None, None)
    # IP address SAN, as a client connecting to 127.0.0.1 without CERTHOST would check
    assert handshake(srv, tls.client_context(str(pki.ca_pem), True), "127.0.0.1") == \
        (None, None)


def test_self_signed_certificate_as_the_nut_docs_make_it(tmp_path):
    """openssl req -x509 (CN only, no SAN), upsd.pem = crt + key, and the client's
    CERTPATH holding <hash>.0: CERTVERIFY works with the CN as certificate name."""
    crt, key = tmp_path / "upsd.crt", tmp_path / "upsd.key"
    subprocess.run(["openssl", "req", "-new", "-x509", "-nodes", "-days", "2", "-newkey",
                    "rsa:2048", "-out", str(crt), "-keyout", str(key), "-subj",
                    "/CN=ups1.example.com"], check=True, capture_output=True)
    pem = tmp_path / "upsd.pem"
    pem.write_bytes(crt.read_bytes() + key.read_bytes())
    certdir = tmp_path / "certs"
    certdir.mkdir()
    h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(crt)],
                       capture_output=True, text=True, check=True).stdout.strip()
    (certdir / f"{h}.0").write_bytes(crt.read_bytes())
    srv = tls.server_context(str(pem), None, None, 0, False)
    cli = tls.client_context(str(certdir), True)
    assert handshake(srv, cli, "ups1.example.com") == (None, None)
    _, err = handshake(srv, cli, "ups2.example.com")
    assert isinstance(err, ssl.SSLCertVerificationError)


def test_wrong_host_name_is_refused(pki):
    srv = tls.server_context(str(pki.server_pem), None, None, 0, False)
    _, err = handshake(srv, tls.client_context(str(pki.ca_pem), True), "other.example.com")
    assert isinstance(err, ssl.SSLCertVerificationError)
    assert "mismatch" in str(err) or "match" in str(err)


def test_untrusted_ca_is_refused_unless_verification_is_off(pki):
    srv = tls.server_context(str(pki.stranger_pem), None, None, 0, False)
    _, err = handshake(srv, tls.client_context(str(pki.ca_pem), True))
    assert isinstance(err, ssl.SSLCertVerificationError)
    # CERTVERIFY 0: encrypted but unauthenticated, as C does it
    assert handshake(srv, tls.client_context(None, False)) == (None, None)


def test_certrequest_require(pki):
    srv = tls.server_context(str(pki.server_pem), str(pki.ca_pem), None,
                             tls.CERTREQ_REQUIRE, False)
    s_err, c_err = handshake(srv, tls.client_context(str(pki.ca_pem), True))
    assert s_err is not None and c_err is not None  # no client certificate: refused
    assert handshake(srv, tls.client_context(str(pki.ca_pem), True,
                                             certfile=str(pki.client_pem))) == (None, None)
    s_err, _ = handshake(srv, tls.client_context(str(pki.ca_pem), True,
                                                 certfile=str(pki.stranger_client_pem)))
    assert s_err is not None  # certificate from an untrusted CA


def test_certrequest_request(pki):
    srv = tls.server_context(str(pki.server_pem), str(pki.ca_pem), None,
                             tls.CERTREQ_REQUEST, False)
    assert handshake(srv, tls.client_context(str(pki.ca_pem), True)) == (None, None)
    assert handshake(srv, tls.client_context(str(pki.ca_pem), True,
                                             certfile=str(pki.client_pem))) == (None, None)
    s_err, _ = handshake(srv, tls.client_context(str(pki.ca_pem), True,
                                                 certfile=str(pki.stranger_client_pem)))
    assert s_err is not None  # a certificate that is sent must be valid


def test_client_certificate_is_seen_by_server(pki):
    srv = tls.server_context(str(pki.server_pem), str(pki.ca_pem), None,
                             tls.CERTREQ_REQUIRE, False)
    a, b = socket.socketpair()
    seen = {}

    def serve():
        with srv.wrap_socket(a, server_side=True) as s:
            seen["peer"] = s.getpeercert()
            s.sendall(b"OK\n")

    t = threading.Thread(target=serve)
    t.start()
    cli = tls.client_context(str(pki.ca_pem), True, certfile=str(pki.client_pem))
    with cli.wrap_socket(b, server_hostname=HOST) as c:
        c.recv(3)
    t.join(5)
    subject = dict(x[0] for x in seen["peer"]["subject"])
    assert subject["commonName"] == "upsmon client"


def test_disable_weak_ssl(pki):
    weak = tls.server_context(str(pki.server_pem), None, None, 0, False)
    strong = tls.server_context(str(pki.server_pem), None, None, 0, True)
    assert strong.minimum_version == weak.minimum_version == ssl.TLSVersion.TLSv1_2
    old_client = tls.client_context(None, False)
    old_client.maximum_version = ssl.TLSVersion.TLSv1_2
    old_client.set_ciphers("ECDHE-ECDSA-AES128-SHA")  # CBC with SHA-1 MAC: weak
    assert handshake(weak, old_client) == (None, None)
    s_err, c_err = handshake(strong, old_client)
    assert s_err is not None and c_err is not None
    modern = tls.client_context(None, False)
    modern.maximum_version = ssl.TLSVersion.TLSv1_2
    assert handshake(strong, modern) == (None, None)


def test_encrypted_key_uses_certident_password(pki):
    ctx = tls.server_context(str(pki.encrypted_pem), None, ("upsd", "keypass"), 0, False)
    assert handshake(ctx, tls.client_context(str(pki.ca_pem), True)) == (None, None)
    with pytest.raises(tls.TLSConfigError, match="encrypted"):
        tls.server_context(str(pki.encrypted_pem), None, ("upsd", "wrong"), 0, False)
    # no password configured: an error, never a pass-phrase prompt on the terminal
    with pytest.raises(tls.TLSConfigError, match="encrypted"):
        tls.server_context(str(pki.encrypted_pem), None, None, 0, False)


@pytest.mark.parametrize("kwargs,message", [
    (dict(certfile="/nonexistent/upsd.pem"), "no such file"),
    (dict(certfile="CERT_ONLY"), "no private key"),
    (dict(certfile="MISMATCHED"), "cannot use certificate and key"),
    (dict(certpath="CA_DIR"), "not an NSS database"),
    (dict(), "no server certificate"),
    (dict(certfile="SERVER", certrequest=2), "CERTREQUEST needs CERTPATH"),
    (dict(certfile="SERVER", certrequest=3), "invalid CERTREQUEST"),
    (dict(certfile="SERVER", certpath="/nonexistent", certrequest=1), "no such file"),
])
def test_server_misconfiguration_fails_closed(pki, kwargs, message):
    files = {"CERT_ONLY": pki.cert_only, "MISMATCHED": pki.mismatched,
             "CA_DIR": pki.ca_dir, "SERVER": pki.server_pem}
    kwargs = {k: str(files.get(v, v)) if isinstance(v, str) else v
              for k, v in kwargs.items()}
    with pytest.raises(tls.TLSConfigError, match=message):
        tls.server_context(**kwargs)


def test_client_misconfiguration_fails_closed(pki):
    with pytest.raises(tls.TLSConfigError, match="CERTPATH"):
        tls.client_context(None, True)
    with pytest.raises(tls.TLSConfigError, match="no such file"):
        tls.client_context("/nonexistent/certs", True)


def test_upsd_builds_its_context_from_upsd_conf(pki):
    from nutpy.common import parseconf
    from nutpy.upsd import config, main

    text = f"CERTFILE {pki.server_pem}\nCERTREQUEST NO\nDISABLE_WEAK_SSL true\n"
    conf, msgs = config.parse_upsd_conf(parseconf.parse_text(text.encode()), "upsd.conf")
    assert msgs == []
    ctx = main._tls_context(conf)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert handshake(ctx, tls.client_context(str(pki.ca_pem), True)) == (None, None)


# ----------------------------------------------------------------------------- CERTHOST


def test_certhost_lookup():
    hosts = [("ups1", "ups1 cert", "1", "0"), ("ups2", "ups2.lan", 1, 1),
             ("ups1", "ups1 new cert", "1", "1"), ("ups3:3494", "ups3 on 3494", "1", "1"),
             ("ups3", "ups3 any port", "0", "0")]
    assert tls.certhost_lookup(hosts, "ups1", 3493) == ("ups1 new cert", True, True)
    assert tls.certhost_lookup(hosts, "ups2") == ("ups2.lan", True, True)
    assert tls.certhost_lookup(hosts, "UPS2") == ("UPS2", False, False)  # exact, like C
    assert tls.certhost_lookup(hosts, "ups3", 3494) == ("ups3 on 3494", True, True)
    assert tls.certhost_lookup(hosts, "ups3", 3493) == ("ups3 any port", False, False)
    assert tls.certhost_lookup(hosts, "other", 3493, default_verify=True,
                               default_forcessl=True) == ("other", True, True)
    assert tls.certhost_lookup({"ups9": ("name9", "1x", "0")}, "ups9") == ("name9", True, False)


# ----------------------------------------------------------------------------- NSS

# in CI a missing tool is not skipped: the test runs and fails
needs_nss = pytest.mark.skipif(not certs.have_nss_tools() and not IN_CI,
                               reason=certs.NSS_MISSING)


@pytest.fixture(scope="module")
def nss(pki):
    certs.require_nss_tools()
    d = pki.dir
    server_db = certs.make_nss_db(d / "server-db", {"My nut server": pki.server},
                                  {"My Root CA": (pki.ca, "CT,C,C")}, password="dbpass",
                                  issuer=pki.ca)
    open_db = certs.make_nss_db(d / "open-db", {"My nut server": pki.server}, {},
                                issuer=pki.ca)
    client_db = certs.make_nss_db(d / "client-db", {"upsmon": pki.client},
                                  {"My Root CA": (pki.ca, "CT,C,C")}, password="cpass",
                                  issuer=pki.ca)
    os.chmod(server_db, 0o700)
    return type("N", (), dict(server_db=server_db, open_db=open_db, client_db=client_db))


def test_server_context_from_nss_database(pki, nss, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # other processes' files are not ours to count
    ctx = tls.server_context(None, str(nss.server_db), ("My nut server", "dbpass"), 0, True)
    assert handshake(ctx, tls.client_context(str(pki.ca_pem), True)) == (None, None)
    ctx = tls.server_context(None, str(nss.open_db), ("My nut server", ""), 0, False)
    assert handshake(ctx, tls.client_context(str(pki.ca_pem), True)) == (None, None)
    # NSS's own "sql:" prefix in CERTPATH is understood too
    ctx = tls.server_context(None, f"sql:{nss.open_db}", ("My nut server", ""), 0, False)
    assert handshake(ctx, tls.client_context(str(pki.ca_pem), True)) == (None, None)
    # the exported key file does not outlive the call
    assert list(tmp_path.iterdir()) == []


def test_nss_database_errors(nss):
    with pytest.raises(tls.TLSConfigError, match="CERTIDENT name and password"):
        tls.server_context(None, str(nss.server_db), ("My nut server", "wrong"), 0, False)
    with pytest.raises(tls.TLSConfigError, match="could not be found|CERTIDENT"):
        tls.server_context(None, str(nss.server_db), ("no such cert", "dbpass"), 0, False)
    with pytest.raises(tls.TLSConfigError, match="CERTIDENT <certificate nickname>"):
        tls.server_context(None, str(nss.server_db), None, 0, False)
    with pytest.raises(tls.TLSConfigError, match="trusts no CA"):
        tls.client_context(str(nss.open_db), True)


def test_client_context_from_nss_database(pki, nss):
    """upsmon.conf CERTPATH pointing at an NSS db: trusted CAs verify upsd, and CERTIDENT
    supplies the client certificate that CERTREQUEST REQUIRE asks for; the server
    checks it against the CAs its NSS db trusts for clients ("T")."""
    srv = tls.server_context(None, str(nss.server_db), ("My nut server", "dbpass"),
                             tls.CERTREQ_REQUIRE, False)
    cli = tls.client_context(str(nss.client_db), True, certident=("upsmon", "cpass"))
    assert handshake(srv, cli) == (None, None)
    s_err, _ = handshake(srv, tls.client_context(str(nss.client_db), True))
    assert s_err is not None


def test_nss_trusted_peer_without_its_ca(pki, nss):
    """A client database that trusts upsd's own certificate ("P,,") and not the CA."""
    peer_db = certs.make_nss_db(pki.dir / "peer-db", {}, {"ups1": (pki.server, "P,,")})
    srv = tls.server_context(str(pki.server_pem), None, None, 0, False)
    assert handshake(srv, tls.client_context(str(peer_db), True)) == (None, None)
    stranger = tls.server_context(str(pki.stranger_pem), None, None, 0, False)
    _, err = handshake(stranger, tls.client_context(str(peer_db), True))
    assert isinstance(err, ssl.SSLCertVerificationError)


# ----------------------------------------------------------------------------- C NUT


def _starttls(port: int, ctx: ssl.SSLContext, hostname: str) -> ssl.SSLSocket:
    s = socket.create_connection(("127.0.0.1", port), timeout=tls.STARTTLS_REPLY_TIMEOUT)
    s.sendall(b"STARTTLS\n")
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = s.recv(1)  # byte by byte: nothing of the handshake may be consumed here
        if not chunk:
            break
        reply += chunk
    assert reply == tls.STARTTLS_OK
    s.settimeout(tls.HANDSHAKE_TIMEOUT)
    return ctx.wrap_socket(s, server_hostname=hostname)


@pytest.mark.interop
@needs_nss
def test_client_context_verifies_c_upsd_over_starttls(pki, nss, nutenv):
    """C upsd 2.8.0 (NSS) serving the certificate from its NSS database."""
    require_c_nut()
    nutenv.write("upsd.conf", f"LISTEN 127.0.0.1 {nutenv.port}\nCERTPATH {nss.server_db}\n"
                              f"CERTIDENT \"My nut server\" dbpass\nALLOW_NO_DEVICE true\n")
    nutenv.write("ups.conf", "")
    nutenv.write("upsd.users", "[admin]\n  password = x\n")
    p = nutenv.start([c_prog("upsd"), "-u", "root", "-F"])
    nutenv.wait_port()
    with _starttls(nutenv.port, tls.client_context(str(pki.ca_pem), True), HOST) as t:
        t.sendall(b"VER\n")
        assert t.recv(200).startswith(b"Network UPS Tools upsd")
    with pytest.raises(ssl.SSLCertVerificationError):
        _starttls(nutenv.port, tls.client_context(str(pki.ca_pem), True), "wrong.example.com")
    other = certs.make_ca("unrelated CA")
    (pki.dir / "unrelated.pem").write_bytes(other.cert_pem)
    with pytest.raises(ssl.SSLCertVerificationError):
        _starttls(nutenv.port, tls.client_context(str(pki.dir / "unrelated.pem"), True), HOST)
    assert p.poll() is None


@pytest.mark.interop
def test_c_upsc_speaks_tls_to_server_context(pki, nutenv):
    """C upsc 2.8.0 (NSS client, 'try SSL') against a minimal STARTTLS responder that
    uses server_context: upsc must get the variable over TLS."""
    require_c_nut()
    ctx = tls.server_context(str(pki.server_pem), None, None, 0, False)
    lsock = socket.create_server(("127.0.0.1", nutenv.port))
    lsock.settimeout(10)
    seen = []

    def serve():
        conn, _ = lsock.accept()
        conn.settimeout(10)
        f = conn.makefile("rb")
        line = f.readline()
        seen.append(line)
        conn.sendall(tls.STARTTLS_OK)
        with ctx.wrap_socket(conn, server_side=True) as t:
            seen.append(tls.describe(t))
            tf = t.makefile("rb")
            for req in tf:
                seen.append(req)
                if req.startswith(b"GET VAR"):
                    t.sendall(b'VAR dummy ups.status "OL"\n')
                elif req.startswith(b"LOGOUT"):
                    t.sendall(b"OK Goodbye\n")
                    break
                else:
                    t.sendall(b"ERR UNKNOWN-COMMAND\n")

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    r = nutenv.run([c_prog("upsc"), f"dummy@127.0.0.1:{nutenv.port}", "ups.status"],
                   timeout=20)
    th.join(10)
    lsock.close()
    assert r.stdout.strip() == "OL", r.stderr
    assert seen[0] == b"STARTTLS\n"
    assert seen[1].startswith("TLSv1.")
    assert b"GET VAR dummy ups.status\n" in seen[2:]

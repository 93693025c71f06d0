"""The security building blocks inside nutpy's own upsd: STARTTLS with a PEM CERTFILE and
with an NSS database (checked by our client_context and by C upsc 2.8.0), hashed
upsd.users passwords, and tcp-wrappers rules (upsd's NUTPY_HOSTS_ALLOW/DENY test
overrides), all on one upsd behind a C dummy-ups."""

from __future__ import annotations

import shutil
import socket
import ssl

import pytest

from nutpy.security import passwords, tls
from support import certs
from support.harness import (
    MANY_VARS_DEV,
    NutEnv,
    c_prog,
    dump_complete,
    our_prog,
    wait_for,
)

HOST = "ups.example.com"


class Session:
    def __init__(self, port: int, ctx: ssl.SSLContext | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if ctx is not None:
            self.sock.sendall(b"STARTTLS\n")
            assert self._line_raw() == tls.STARTTLS_OK
            self.sock = ctx.wrap_socket(self.sock, server_hostname=HOST)
        self.buf = b""

    def _line_raw(self) -> bytes:
        out = b""
        while not out.endswith(b"\n"):
            c = self.sock.recv(1)
            if not c:
                break
            out += c
        return out

    def ask(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\n")
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError("closed")
            self.buf += data
        out, self.buf = self.buf.split(b"\n", 1)
        return out.decode()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("secure-upsd")
    env = NutEnv(root)
    ca = certs.make_ca()
    server = certs.issue(ca, HOST, [HOST], ["127.0.0.1"])
    (root / "ca.pem").write_bytes(ca.cert_pem)
    pem = server.write_pem(root / "upsd.pem")
    shutil.copy(MANY_VARS_DEV, env.etc / "eaton.dev")
    env.write("ups.conf", f"[eaton]\n  driver = dummy-ups\n  port = {env.etc}/eaton.dev\n")
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\nCERTFILE {pem}\n"
                           f"DISABLE_WEAK_SSL true\n")
    hashed = passwords.hash_password("mon-secret", iterations=5_000)
    env.write("upsd.users", f"[mon]\n  password = {hashed}\n  upsmon secondary\n"
                            f"[admin]\n  password = admin-secret\n  actions = SET\n")
    allow, deny = root / "hosts.allow", root / "hosts.deny"
    allow.write_text("")
    deny.write_text("")
    env.start([our_prog("dummy-ups"), "-a", "eaton", "-u", "root", "-F"])
    env.wait_socket("dummy-ups", "eaton")
    env.start([our_prog("upsd"), "-F", "-u", "root"], NUTPY_HOSTS_ALLOW=str(allow),
              NUTPY_HOSTS_DENY=str(deny))
    env.wait_port()

    def served():
        s = Session(env.port)
        try:
            return dump_complete(s.ask("GET VAR eaton ups.status"))
        finally:
            s.close()

    wait_for(served, 15, what="upsd serving eaton")
    yield type("S", (), dict(env=env, port=env.port, ca=root / "ca.pem", allow=allow,
                             deny=deny, root=root, ca_obj=ca, server=server))
    env.close()


@pytest.mark.interop
def test_starttls_verified_and_login_with_hashed_password(stack):
    s = Session(stack.port, tls.client_context(str(stack.ca), True))
    try:
        assert s.ask("USERNAME mon") == "OK"
        assert s.ask("PASSWORD mon-secret") == "OK"
        assert s.ask("LOGIN eaton") == "OK"
    finally:
        s.close()
    s = Session(stack.port)
    try:
        s.ask("USERNAME mon")
        s.ask("PASSWORD mon-secreT")
        assert s.ask("LOGIN eaton") == "ERR ACCESS-DENIED"
    finally:
        s.close()


def test_starttls_refused_by_client_for_wrong_ca(stack):
    other = certs.make_ca("not upsd's CA")
    path = stack.root / "other-ca.pem"
    path.write_bytes(other.cert_pem)
    with pytest.raises(ssl.SSLCertVerificationError):
        Session(stack.port, tls.client_context(str(path), True))


@pytest.mark.interop
def test_c_upsc_uses_tls_with_our_upsd(stack):
    r = stack.env.run([c_prog("upsc"), f"eaton@127.0.0.1:{stack.port}", "ups.status"],
                      NUT_DEBUG_LEVEL="1")
    assert r.returncode == 0, r.stderr
    s = Session(stack.port)
    try:
        expected = s.ask("GET VAR eaton ups.status").split('"')[1]
    finally:
        s.close()
    assert r.stdout.strip() == expected
    assert "Connected to NUT server 127.0.0.1 in SSL" in r.stderr


def test_tcp_wrappers_rules_apply_to_auth_commands(stack):
    def tracking(user: str, pw: str) -> str:
        s = Session(stack.port)
        try:
            s.ask(f"USERNAME {user}")
            s.ask(f"PASSWORD {pw}")
            assert s.ask("GET VAR eaton ups.status").startswith("VAR")  # never checked
            return s.ask("SET TRACKING ON")
        finally:
            s.close()

    try:
        stack.deny.write_text("upsd: ALL EXCEPT mon@127.0.0.1\n")
        assert tracking("mon", "mon-secret") == "OK"
        assert tracking("admin", "admin-secret") == "ERR ACCESS-DENIED"
        stack.allow.write_text("upsd: admin@127.0.0.0/8\n")
        assert tracking("admin", "admin-secret") == "OK"
    finally:
        stack.allow.write_text("")
        stack.deny.write_text("")


def test_nss_database_certpath(stack, tmp_path):
    certs.require_nss_tools()
    db = certs.make_nss_db(tmp_path / "nssdb", {"ups1": stack.server},
                           {"CA": (stack.ca_obj, "CT,,")}, password="dbpw",
                           issuer=stack.ca_obj)
    env = NutEnv(tmp_path / "nss-upsd")
    try:
        env.write("ups.conf", "")
        env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\nCERTPATH {db}\n"
                               f"CERTIDENT ups1 dbpw\nALLOW_NO_DEVICE true\n")
        env.write("upsd.users", "[admin]\n  password = x\n")
        env.start([our_prog("upsd"), "-F", "-u", "root"])
        env.wait_port()
        s = Session(env.port, tls.client_context(str(stack.ca), True))
        try:
            assert s.ask("VER").startswith("Network UPS Tools upsd")
        finally:
            s.close()
    finally:
        env.close()

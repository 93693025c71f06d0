"""The client library: sans-IO core, sync Client, PyNUTClient compatibility, AsyncClient,
TLS refusal before credentials, and no delayed-ACK stall on multi-line replies."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nutpy.client.aio import AsyncClient
from nutpy.client.blocking import Client
from nutpy.client.core import (
    ConnectionFailure,
    ListReply,
    ProtocolError,
    PyNUTError,
    ServerError,
    TLSError,
    build_request,
    split_addr,
    split_name,
    tokenize,
)
from nutpy.client.pynut import PyNUTClient
from nutpy.common.parseconf import Tokenizer
from support.client_env import FakeUpsd
from support.harness import wait_for

# -- sans-IO core -----------------------------------------------------------------------

def test_build_request_quotes_like_build_cmd():
    assert build_request("GET", "VAR", "ups", "x.y") == b"GET VAR ups x.y\n"
    assert build_request("SET", "VAR", "u", "v", 'a "b"') == b'SET VAR u v "a \\"b\\""\n'
    assert build_request("X", "a#b", "c\\d") == b"X a\\#b c\\\\d\n"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=60))
def test_tokenize_fast_path_agrees_with_parseconf(value):
    line = f'VAR ups some.var "{value}"'
    lines = Tokenizer().feed(line.encode("latin-1") + b"\n")
    if lines:
        assert tokenize(line) == lines[0].words


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0xFF).filter(
    lambda c: c != "\n"), max_size=80))
def test_tokenize_any_line_agrees_with_parseconf(line):
    """Every shortcut of ``tokenize`` (quoted value, plain words) gives the tokenizer's words."""
    lines = Tokenizer().feed(line.encode("latin-1") + b"\n")
    if lines and lines[0].error is None and line.count('"') % 2 == 0:
        assert tokenize(line) == lines[0].words


@pytest.mark.parametrize("line", ["BEGIN LIST VAR ups", "END LIST VAR ups", "OK", "",
                                  "TYPE ups input.transfer.low RW STRING:10",
                                  "  spaced   out  ", "a=b", "x " * 40, "w" * 600])
def test_tokenize_plain_lines_agree_with_parseconf(line):
    assert tokenize(line) == Tokenizer().feed(line.encode() + b"\n")[0].words


def test_tokenize_keeps_words_before_parse_error_and_unterminated_quote():
    assert tokenize('VAR u x "a#b"') == ["VAR", "u", "x", "a"]
    assert tokenize('VAR u x "abc') == ["VAR", "u", "x", "abc"]


def test_default_port_is_the_protocol_port():
    from nutpy.client import core
    from nutpy.proto import netproto
    assert core.DEFAULT_PORT == netproto.PORT


def test_server_error_carries_code_and_libupsclient_message():
    e = ServerError("ERR DATA-STALE")
    assert (e.code, str(e), e.reply) == ("DATA-STALE", "Data stale", "ERR DATA-STALE")
    assert str(ServerError("ERR INVALID-ARGUMENT")) == "Unknown error"


def test_list_reply_framing_and_errors():
    reply = ListReply(("VAR", "u"))
    assert not reply.feed("BEGIN LIST VAR u")
    assert not reply.feed('VAR u a.b "1"')
    assert reply.feed("END LIST VAR u")
    assert reply.items == [["VAR", "u", "a.b", "1"]]
    with pytest.raises(ServerError):
        ListReply(("VAR", "u")).feed("ERR UNKNOWN-UPS")
    with pytest.raises(ProtocolError):
        ListReply(("VAR", "u")).feed("BEGIN LIST VAR other")


@pytest.mark.parametrize("text,expected", [
    ("ups", ("ups", "localhost", 3493)),
    ("ups@host", ("ups", "host", 3493)),
    ("ups@host:1234", ("ups", "host", 1234)),
    ("ups@[::1]:99", ("ups", "::1", 99)),
    ("ups@[::1]", ("ups", "::1", 3493)),
    ("@host", ("host", "host", 3493)),  # C strtok quirk
    ("ups@host:080", ("ups", "host", 80)),
    ("ups@host: +12x", ("ups", "host", 12)),  # strtol: blanks, sign, digits, then anything
    ("ups@host:00000000001234", ("ups", "host", 1234)),
])
def test_split_name(text, expected):
    assert split_name(text) == expected


@pytest.mark.parametrize("text", ["u@h:", "u@h:0", "u@h:70000", "u@[::1", "u@h:x1",
                                  "u@h:65536", "u@h:-1"])
def test_split_name_errors(text):
    with pytest.raises(ValueError):
        split_name(text)
    assert split_addr("h:1") == ("h", 1)


# -- against a real upsd ----------------------------------------------------------------

@pytest.mark.interop
def test_client_reads_what_c_upsc_reads(server):
    with Client("127.0.0.1", server.port) as nut:
        c_lines = server.c_upsc("bench").stdout.splitlines()
        assert nut.list_vars("bench") == dict(line.split(": ", 1) for line in c_lines)
        assert nut.get_var("dummy", "ups.status") == "OL"
        assert list(nut.list_ups()) == ["dummy", "bench", "stale", "down", "killed"]
        assert nut.list_ups()["dummy"] == 'Test "dummy" UPS'
        assert nut.list_cmds("dummy") == ["load.off"]
        assert nut.get_cmddesc("dummy", "load.off") == "Turn off the load immediately"
        assert nut.get_type("dummy", "ups.mfr") == ["RW", "STRING:32"]
        assert nut.get_desc("dummy", "battery.charge") == "Battery charge (percent of full)"
        assert "battery.charge" in nut.list_rw("dummy")
        assert nut.ver().startswith("Network UPS Tools upsd")
        with pytest.raises(ServerError) as e:
            nut.get_var("nope", "ups.status")
        assert (e.value.code, e.value.message) == ("UNKNOWN-UPS", "Unknown UPS")
        with pytest.raises(ServerError) as e:
            nut.list_vars("down")
        assert e.value.code == "DRIVER-NOT-CONNECTED"


def test_client_login_numlogins_clients_and_tracking(server):
    with Client("127.0.0.1", server.port) as nut, Client("127.0.0.1", server.port) as obs:
        before = obs.num_logins("dummy")
        nut.authenticate("admin", "secret")
        nut.login("dummy")
        assert obs.num_logins("dummy") == before + 1
        assert "127.0.0.1" in obs.list_clients("dummy")
        assert nut.primary("dummy").startswith("OK")
        assert nut.set_var("dummy", "ups.mfr", "Tracked", wait=True) == "SUCCESS"
        assert nut.instcmd("dummy", "load.off", wait=True) == "ERR UNKNOWN"
        with pytest.raises(ServerError) as e:
            nut.set_var("dummy", "ups.mfr", "x" * 40)
        assert e.value.code == "TOO-LONG"
    with Client("127.0.0.1", server.port) as weak:
        weak.authenticate("weak", "weakpw")
        with pytest.raises(ServerError) as e:
            weak.instcmd("dummy", "load.off")
        assert e.value.message == "Access denied"


# The delayed-ACK stall: C upsd writes a LIST one line per write(); with Nagle's algorithm
# the rest of the reply waits for the client's ACK of the first line, and a client that
# leaves ACKs delayed sends it only when its delayed-ACK timer fires, at least 40 ms later
# on Linux. So a stalled client takes >= 40 ms on every LIST after its first (the first
# ones run in the kernel's quick-ACK mode), however fast the machine; a busy machine only
# makes LISTs slower. What tells is therefore the fastest LIST of a series: under FAST
# only for a client that does not wait for the timer. No speed is assumed beyond "one
# LIST out of up to a hundred finishes in 30 ms".
FAST = 0.030


def fastest_list(list_once, warmup: int = 3, tries: int = 100, budget: float = 20.0,
                 stop_when_fast: bool = True) -> float:
    for _ in range(warmup):
        list_once()
    fastest = float("inf")
    end = time.monotonic() + budget
    for _ in range(tries):
        t0 = time.perf_counter()
        list_once()
        fastest = min(fastest, time.perf_counter() - t0)
        if (stop_when_fast and fastest < FAST) or time.monotonic() > end:
            break
    return fastest


def _whole_bench_dump(list_vars) -> None:
    """upsd may still be receiving bench's dump (C serves what it has so far, ours WAIT):
    wait until LIST VAR shows all of it."""
    wait_for(lambda: len(list_vars()) >= 30, 30, interval=0.1, what="bench's whole dump")


def naive_list_once(port: int):
    """A plain socket client, no TCP_NODELAY, no quick ACKs: the control."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)

    def once() -> None:
        s.sendall(b"LIST VAR bench\n")
        data = b""
        while not data.endswith(b"END LIST VAR bench\n"):
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
    return s, once


def test_list_var_has_no_delayed_ack_stall(server):
    with Client("127.0.0.1", server.port) as nut:
        _whole_bench_dump(lambda: nut.list_vars("bench"))
        fastest = fastest_list(lambda: nut.list_vars("bench"))
    assert fastest < FAST, f"every LIST VAR took {fastest * 1000:.1f} ms or more"


def test_async_list_var_has_no_delayed_ack_stall(server):
    async def fastest() -> float:
        async with await AsyncClient.open("127.0.0.1", server.port) as nut:
            await nut.list_vars("bench")
            for _ in range(300):  # bounded: 30 s
                if len(await nut.list_vars("bench")) >= 30:
                    break
                await asyncio.sleep(0.1)
            quickest = float("inf")
            for i in range(103):
                t0 = time.perf_counter()
                await nut.list_vars("bench")
                if i >= 3:  # after the quick-ACK start, as fastest_list
                    quickest = min(quickest, time.perf_counter() - t0)
                    if quickest < FAST:
                        break
            return quickest
    quickest = asyncio.run(fastest())
    assert quickest < FAST, f"every async LIST VAR took {quickest * 1000:.1f} ms or more"


def test_delayed_ack_control_a_plain_client_stalls_on_c_upsd(server):
    """The check above can fail: a client that leaves ACKs delayed never gets a LIST from
    C upsd under 30 ms after the first few; from ours (one write per reply) it does."""
    s, once = naive_list_once(server.port)
    with s:
        with Client("127.0.0.1", server.port) as nut:
            _whole_bench_dump(lambda: nut.list_vars("bench"))
        fastest = fastest_list(once, tries=10, stop_when_fast=server.kind != "c")
    if server.kind == "c":
        assert fastest >= FAST, f"a plain client got a LIST in {fastest * 1000:.1f} ms"
    else:
        assert fastest < FAST, f"every LIST VAR took {fastest * 1000:.1f} ms or more"


def test_connection_errors_carry_c_messages():
    with pytest.raises(ConnectionFailure) as e:
        Client("127.0.0.1", 1)
    assert str(e.value) == "Connection failure: Connection refused"
    with pytest.raises(ConnectionFailure) as e:
        Client("no-such-host.invalid", 3493)
    assert str(e.value) == "No such host"


def test_pynut_compatible_api(server):
    nut = PyNUTClient("127.0.0.1", server.port, login="admin", password="secret")
    assert nut.GetUPSList()[b"dummy"] == b'Test "dummy" UPS'
    assert "bench" in nut.GetUPSNames()
    assert nut.GetUPSVars("dummy")[b"ups.status"] == b"OL"
    assert nut.GetUPSCommands("dummy") == {b"load.off": b"Turn off the load immediately"}
    assert b"ups.mfr" in nut.GetRWVars("dummy")
    assert nut.GetVariableType("dummy", "ups.mfr") == "RW STRING:32"
    assert nut.CheckUPSAvailable("dummy") and not nut.CheckUPSAvailable("down")
    assert nut.SetRWVar("dummy", "ups.mfr", "PyNUT") == "OK"
    assert nut.RunUPSCommand("dummy", "load.off") == "OK"
    assert nut.ver().startswith(b"Network UPS Tools upsd") and nut.ver().endswith(b"\n")
    with pytest.raises(PyNUTError) as e:
        nut.GetUPSVars("nope")
    assert str(e.value) == "ERR UNKNOWN-UPS"
    assert nut.SetRWVar("dummy", "ups.mfr", "Waited", 1, 5) == "OK"
    tid = nut.RunUPSCommand("dummy", "load.off")
    assert tid == "OK" or len(tid) == 36  # tracking stays on after a waited action
    with pytest.raises(PyNUTError) as e:  # dummy-ups answers load.off with "unknown"
        nut.RunUPSCommand("dummy", "load.off", 1, 5)
    assert str(e.value) == "ERR UNKNOWN"
    assert nut.isValidProtocolVersion()
    nut.DeviceLogin("dummy")
    assert nut.ListClients("dummy")[b"dummy"] == [b"127.0.0.1"]
    nut.disconnect()


def test_async_client(server):
    async def scenario():
        async with await AsyncClient.open("127.0.0.1", server.port) as nut:
            vars_, status, ups = await asyncio.gather(
                nut.list_vars("bench"), nut.get_var("dummy", "ups.status"), nut.list_ups())
            await nut.authenticate("admin", "secret")
            result = await nut.set_var("dummy", "ups.mfr", "Async", wait=True)
            with pytest.raises(ServerError):
                await nut.get_var("nope", "x.y")
            return vars_, status, ups, result
    vars_, status, ups, result = asyncio.run(scenario())
    assert len(vars_) >= 30 and status == "OL" and "dummy" in ups and result == "SUCCESS"


# -- TLS --------------------------------------------------------------------------------

def test_forced_tls_refused_before_any_credential():
    fake = FakeUpsd({"STARTTLS": b"ERR FEATURE-NOT-CONFIGURED\n"}, default=b"OK\n")
    try:
        with pytest.raises(TLSError):
            Client("127.0.0.1", fake.port, tls="force")
        with pytest.raises(PyNUTError):
            PyNUTClient("127.0.0.1", fake.port, login="admin", password="secret",
                        force_ssl=True)
        time.sleep(0.1)
        assert fake.requests == ["STARTTLS", "STARTTLS"]
        # "try" carries on in clear text.
        nut = Client("127.0.0.1", fake.port, tls="try")
        assert not nut.tls_active
        nut.authenticate("admin", "secret")
        nut.close()
    finally:
        fake.close()


def test_starttls_with_certificate_checks(tmp_path):
    ssl = pytest.importorskip("ssl")
    ca_pem, cert_pem, key_pem = make_certs(tmp_path)
    server = TlsFakeUpsd(cert_pem, key_pem)
    try:
        nut = Client("localhost", server.port, tls="force", certverify=True,
                     certpath=str(ca_pem))
        assert nut.tls_active and nut.ver() == "Network UPS Tools upsd TLS"
        nut.close()
        with pytest.raises(TLSError):  # certificate for localhost, asked for another name
            Client("127.0.0.1", server.port, tls="force", certverify=True,
                   certpath=str(ca_pem), certname="other.example")
        with pytest.raises(TLSError):  # chain not trusted
            Client("localhost", server.port, tls="force", certverify=True,
                   certpath=str(cert_pem.parent / "nothing.pem"))
    finally:
        server.close()
    assert ssl is not None


def make_certs(tmp_path):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem, cert_pem, key_pem = (tmp_path / "ca.pem", tmp_path / "cert.pem",
                                 tmp_path / "key.pem")
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "nothing.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return ca_pem, cert_pem, key_pem


class TlsFakeUpsd:
    """Answers STARTTLS with ``OK STARTTLS``, then VER inside TLS."""

    def __init__(self, cert_pem, key_pem) -> None:
        import socket
        import ssl
        import threading
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert_pem), str(key_pem))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.requests: list[bytes] = []
        self.replies = {b"VER": b"Network UPS Tools upsd TLS\n",
                        b"GET VAR u ups.status": b'VAR u ups.status "OL"\n'}
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(5)
                if conn.recv(100) == b"STARTTLS\n":
                    conn.sendall(b"OK STARTTLS\n")
                    tls = self.ctx.wrap_socket(conn, server_side=True)
                    buf = b""
                    while True:
                        data = tls.recv(100)
                        if not data:
                            break
                        buf += data
                        while b"\n" in buf:
                            line, buf = buf.split(b"\n", 1)
                            self.requests.append(line)
                            tls.sendall(self.replies.get(line, b"ERR UNKNOWN-COMMAND\n"))
                    tls.close()
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join(2)
        self.sock.close()


def test_async_starttls_and_certhost_rule(tmp_path):
    ca_pem, cert_pem, key_pem = make_certs(tmp_path)
    server = TlsFakeUpsd(cert_pem, key_pem)
    try:
        async def scenario():
            nut = await AsyncClient.open("localhost", server.port, tls="force",
                                         certverify=True, certpath=str(ca_pem))
            try:
                return nut.tls_active, await nut.ver()
            finally:
                await nut.close()
        assert asyncio.run(scenario()) == (True, "Network UPS Tools upsd TLS")
        # A CERTHOST rule (name, verify, forcessl) for this host turns verification on:
        # the certificate is for "localhost", the rule expects "ups.example".
        with pytest.raises(TLSError):
            Client("localhost", server.port, tls="try", certpath=str(ca_pem),
                   certhost={"localhost": ("ups.example", True, True)})
    finally:
        server.close()


def test_silent_server_reads_as_disconnected_like_c():
    fake = FakeUpsd({}, default=b"")  # reads requests, never answers
    try:
        nut = Client("127.0.0.1", fake.port, timeout=0.3)
        t0 = time.monotonic()
        with pytest.raises(ConnectionFailure) as e:
            nut.ver()
        assert str(e.value) == "Server disconnected"
        assert 0.25 < time.monotonic() - t0 < 3
    finally:
        fake.close()


def test_programs_use_starttls_when_offered(tmp_path):
    """Like libupsclient 2.8.5 (TRYSSL in every client): STARTTLS first, TLS when upsd
    offers it, clear text when refused (the other tests)."""
    import subprocess

    from support.harness import our_prog
    _, cert_pem, key_pem = make_certs(tmp_path)
    server = TlsFakeUpsd(cert_pem, key_pem)
    try:
        r = subprocess.run([our_prog("upsc"), f"u@127.0.0.1:{server.port}", "ups.status"],
                           capture_output=True, text=True, timeout=20)
    finally:
        server.close()
    assert (r.stdout, r.stderr, r.returncode) == ("OL\n", "", 0)
    assert server.requests[0] == b"GET VAR u ups.status"  # read inside TLS

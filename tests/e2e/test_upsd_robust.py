"""Bad input and the places where our upsd does better than C: random and malformed lines
get C's answers, binary junk / overlong lines / idle and half-closed sockets crash nothing
and stall nobody; a client that never reads is dropped; a SET burst that outruns the
driver loses nothing answered OK; MAXCONN refusals are explicit; bad-input logs are
rate-limited."""

from __future__ import annotations

import random
import socket
import subprocess
import threading
import time

import pytest

from nutpy.common.parseconf import Tokenizer
from support.harness import NutEnv, our_prog, require_c_nut, wait_for
from support.upsd_support import SENTINEL, SENTINEL_REPLY, FakeDriver, LineClient, Stack, normalize


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_c_nut()
    s = Stack(tmp_path_factory.mktemp("upsd-robust"))
    yield s
    s.close()


VOCAB = ["GET", "get", "LIST", "list", "VAR", "var", "TYPE", "DESC", "CMDDESC", "UPSDESC",
         "NUMLOGINS", "RW", "CMD", "ENUM", "RANGE", "UPS", "CLIENT", "TRACKING", "VER",
         "NETVER", "PROTVER", "HELP", "USERNAME", "PASSWORD", "LOGIN", "PRIMARY", "MASTER",
         "FSD", "SET", "INSTCMD", "STARTTLS", "fake", "FAKE", "zeta", "nodrv", "nope",
         "ups.status", "UPS.STATUS", "battery.charge", "input.transfer.low", "both",
         "ups.delay.shutdown", "server.info", "server.version", "server.x", "load.off",
         "ON", "OFF", "=", '"', '""', '"a b"', "\\", "\\\\", "x" * 520, "\t", "\r", "\x01",
         "\xe9", "mon", "mpw", "95", "abc"]


def random_lines(rng: random.Random, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        k = rng.choice([0, 1, 2, 3, 3, 4, 4, 5, 8, 40])
        words = [rng.choice(VOCAB) for _ in range(k)]
        sep = rng.choice([" ", "  ", "\t"])
        out.append(sep.join(words).encode("latin-1") + b"\n")
    return out


def converse_bulk(port: int, data: bytes, timeout: float = 60) -> bytes:
    """Send everything at once while a reader thread drains the replies."""
    c = LineClient(port)
    out = bytearray()
    done = threading.Event()

    def reader():
        c.sock.settimeout(timeout)
        try:
            while SENTINEL_REPLY not in out[-200:]:
                chunk = c.sock.recv(1 << 16)
                if not chunk:
                    break
                out.extend(chunk)
        except OSError:
            pass
        done.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    c.sock.sendall(data + SENTINEL)
    done.wait(timeout)
    c.close()
    return bytes(out).split(SENTINEL_REPLY)[0]


def _no_parse_error(line: bytes) -> bool:
    return all(x.error is None for x in Tokenizer().feed(line))


@pytest.mark.interop
def test_random_lines_same_answers_as_c(stack):
    """10,000 random request lines (no # in quotes, no LOGOUT: those depend on read()
    boundaries) give byte-identical replies from C upsd and ours."""
    rng = random.Random(1234)
    lines = [x for x in random_lines(rng, 12000)
             if _no_parse_error(x) and b"LOGOUT" not in x.upper()][:10000]
    assert len(lines) == 10000
    data = b"".join(lines)
    c_out = converse_bulk(stack.c_port, data)
    our_out = converse_bulk(stack.our_port, data)
    assert c_out.count(b"\n") > 5000  # quoted words may span several lines
    assert normalize(our_out) == normalize(c_out)


@pytest.mark.interop
def test_binary_and_overlong_input_does_not_hurt_others(stack):
    rng = random.Random(99)
    watcher = LineClient(stack.our_port)
    junk = LineClient(stack.our_port)
    try:
        for i in range(20):
            junk.send(bytes(rng.getrandbits(8) for _ in range(4096)))
            watcher.send("GET VAR fake ups.status\n")
            assert watcher.read_lines(1) == [b'VAR fake ups.status "OL"\n']
        junk.send(b"x" * 200_000)  # one overlong line
        junk.send(b"\nNETVER\n")
        tail = junk.read_quiet(0.5)
        assert tail.endswith(b"1.3\n")
    finally:
        junk.close()
    watcher.send("NETVER\n")
    assert watcher.read_lines(1) == [b"1.3\n"]
    watcher.close()
    assert stack.our_upsd.poll() is None


@pytest.mark.interop
def test_half_closed_socket_gets_answers_then_closed(stack):
    for port in (stack.c_port, stack.our_port):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"NETVER\nGET VAR fake ups.status\n")
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        assert data == b'1.3\nVAR fake ups.status "OL"\n'


@pytest.mark.interop
def test_parse_errors_drop_the_chunk_without_reply(stack):
    """# inside quotes: no reply and the rest of that read is lost, as in C; the daemon
    goes on with the next read."""
    for port in (stack.c_port, stack.our_port):
        c = LineClient(port)
        c.send(b'GET VAR fake "x#y"\nNETVER\n')
        time.sleep(0.2)
        c.send(b"PROTVER\n")
        assert c.read_lines(1) == [b"1.3\n"]
        assert c.read_quiet(0.2) == b""
        c.close()


# -- our own daemon with test timeouts --------------------------------------------------


class OurUpsd:
    """Our upsd alone behind a fake driver, with stderr in a file (SET bursts log a lot)."""

    def __init__(self, root, extra_conf: str = "", **env_extra: str) -> None:
        self.env = NutEnv(root)
        self.fake = FakeDriver(str(self.env.state / "fake-fake"))
        self.env.write("ups.conf", "[fake]\n driver = fake\n port = none\n")
        self.env.write("upsd.conf", f"LISTEN 127.0.0.1 {self.env.port}\n{extra_conf}")
        self.env.write("upsd.users", "[admin]\n password = secret\n actions = SET\n")
        self.logpath = root / "upsd.log"
        self.logfile = open(self.logpath, "wb")
        self.proc = subprocess.Popen([our_prog("upsd"), "-F", "-u", "root"],
                                     env=self.env.env(**env_extra), stdin=subprocess.DEVNULL,
                                     stdout=self.logfile, stderr=self.logfile)
        self.port = self.env.port
        self.env.wait_port()
        wait_for(self._ready, 10, what="data")

    def _ready(self) -> bool:
        c = LineClient(self.port)
        try:
            return c.request("GET VAR fake ups.status") == [b'VAR fake ups.status "OL"\n']
        finally:
            c.close()

    def log(self) -> str:
        return self.logpath.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logfile.close()
        self.fake.close()
        self.env.close()


@pytest.fixture
def ours(tmp_path):
    servers = []

    def make(extra_conf: str = "", **env_extra: str) -> OurUpsd:
        s = OurUpsd(tmp_path / f"u{len(servers)}", extra_conf, **env_extra)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def test_idle_client_is_dropped_active_kept(ours):
    srv = ours(NUTPY_UPSD_IDLE_TIMEOUT="1.5")
    idle = LineClient(srv.port)
    idle.send("GET VAR fake")  # no LF: not a command, does not count as activity
    active = LineClient(srv.port)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 4:
        active.send("NETVER\n")
        assert active.read_lines(1) == [b"1.3\n"]
        time.sleep(0.3)
    idle.sock.settimeout(2)
    assert idle.sock.recv(100) == b""  # closed by the server
    idle.close()
    active.close()


def test_client_that_never_reads_is_dropped_others_unaffected(ours):
    srv = ours(NUTPY_UPSD_STUCK_TIMEOUT="2")
    hog = socket.create_connection(("127.0.0.1", srv.port))
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.setblocking(False)
    request = b"LIST VAR fake\n" * 1000
    sent = 0
    deadline = time.monotonic() + 10
    dropped = False
    other = LineClient(srv.port)
    worst = 0.0
    while time.monotonic() < deadline and not dropped:
        try:
            sent += hog.send(request)
        except BlockingIOError:
            time.sleep(0.05)
        except OSError:
            dropped = True
        t = time.monotonic()
        other.send("GET VAR fake ups.status\n")
        assert other.read_lines(1) == [b'VAR fake ups.status "OL"\n']
        worst = max(worst, time.monotonic() - t)
    if not dropped:  # the kernel still holds what we sent; the server side is gone
        try:
            hog.setblocking(True)
            hog.settimeout(5)
            while hog.recv(1 << 20):
                pass
            dropped = True
        except ConnectionResetError:
            dropped = True
        except OSError:
            pass
    hog.close()
    assert dropped
    assert worst < 0.5
    assert "not reading replies" in srv.log()
    # memory stayed bounded: the hog's output never piled up
    rss_kb = int(open(f"/proc/{srv.proc.pid}/status").read().split("VmRSS:")[1].split()[0])
    assert rss_kb < 100_000
    other.close()


def test_set_burst_outrunning_driver_loses_nothing(ours):
    """The driver stops reading while a client sends 20,000 SETs: every one is answered OK
    and every one reaches the driver, in order, once it reads again."""
    srv = ours()
    n = 20000
    srv.fake.paused.set()
    c = LineClient(srv.port)
    c.send("USERNAME admin\nPASSWORD secret\n")
    c.read_lines(2)
    body = b"".join(b"SET VAR fake ups.status v%d\n" % i for i in range(n))
    replies = bytearray()

    def reader():
        c.sock.settimeout(60)
        while replies.count(b"\n") < n:
            chunk = c.sock.recv(1 << 16)
            if not chunk:
                break
            replies.extend(chunk)

    t = threading.Thread(target=reader)
    t.start()
    c.sock.sendall(body)
    t.join(60)
    assert replies.count(b"OK\n") == n
    srv.fake.paused.clear()

    def driver_sets():
        with srv.fake.lock:
            return [x for x in srv.fake.received if x.startswith("SET ups.status")]
    wait_for(lambda: len(driver_sets()) >= n, 30, what="driver to receive every SET")
    assert driver_sets() == [f'SET ups.status "v{i}"' for i in range(n)]
    c.close()


def test_maxconn_refusal_is_explicit(ours):
    srv = ours("MAXCONN 5\n")  # 1 listener + 1 driver + 3 clients
    clients = [LineClient(srv.port) for _ in range(3)]
    for c in clients:
        assert c.request("NETVER") == [b"1.3\n"]
    extra = LineClient(srv.port)
    extra.sock.settimeout(5)
    assert extra.sock.recv(100) == b"ERR MAX-CONNECTIONS\n"
    assert extra.sock.recv(100) == b""
    extra.close()
    clients.pop().close()
    time.sleep(0.2)
    again = LineClient(srv.port)
    assert again.request("NETVER") == [b"1.3\n"]
    for c in clients + [again]:
        c.close()


def test_bad_input_logging_is_rate_limited(ours):
    srv = ours()
    c = LineClient(srv.port)
    for _ in range(200):
        c.send(b'GET "#"\n')
        time.sleep(0.002)
    c.send("NETVER\n")
    assert c.read_lines(1)[-1] == b"1.3\n"
    c.close()
    logged = srv.log().count("Parse error on sock")
    assert 1 <= logged <= 12


def test_each_reply_is_one_write():
    """Pipelined requests in one read produce exactly one transport write."""
    from nutpy.upsd.config import UpsdConf, Users
    from nutpy.upsd.protocol import Server
    from nutpy.upsd.server import ClientConn, Daemon

    class FakeTransport:
        def __init__(self):
            self.writes = []

        def get_extra_info(self, name):
            return ("127.0.0.1", 5555) if name == "peername" else None

        def set_write_buffer_limits(self, high=None):
            pass

        def write(self, data):
            self.writes.append(data)

        def get_write_buffer_size(self):
            return 0

        def close(self):
            pass

    d = Daemon(UpsdConf(), Users(), Server(), [])
    d.maxconn = 100
    conn = ClientConn(d)
    t = FakeTransport()
    conn.connection_made(t)
    conn.data_received(b"NETVER\nVER\nHELP\nLIST UPS\nGET VAR x server.version\n")
    assert len(t.writes) == 1
    assert t.writes[0].count(b"\n") == 6


def test_driver_staleness_ping_and_reconnect(ours):
    """MAXAGE 3: PINGs every MAXAGE/3 s; a silent driver goes DATA-STALE and recovers;
    DATASTALE/DATAOK switch at once; a lost driver is DRIVER-NOT-CONNECTED, then
    reconnected (WAIT until its dump is done) with the FSD latch kept."""
    srv = ours("MAXAGE 3\n")
    c = LineClient(srv.port)

    def status() -> bytes:
        return c.request("GET VAR fake ups.status")[0]

    c.send("USERNAME admin\nPASSWORD secret\n")
    c.read_lines(2)
    srv.fake.broadcast("DATASTALE\n")
    wait_for(lambda: status() == b"ERR DATA-STALE\n", 3, what="DATASTALE")
    srv.fake.broadcast("DATAOK\n")
    wait_for(lambda: status() == b'VAR fake ups.status "OL"\n', 3, what="DATAOK")
    srv.fake.answer_ping = False
    with srv.fake.lock:
        srv.fake.received.clear()
    wait_for(lambda: status() == b"ERR DATA-STALE\n", 10, what="silence -> stale")
    with srv.fake.lock:
        assert srv.fake.received.count("PING") >= 2
    srv.fake.answer_ping = True
    wait_for(lambda: status() == b'VAR fake ups.status "OL"\n', 5, what="fresh again")
    assert "Data for UPS [fake] is stale - check driver" in srv.log()
    assert "UPS [fake] data is no longer stale" in srv.log()

    path = srv.fake.path
    srv.fake.close()
    wait_for(lambda: status() == b"ERR DRIVER-NOT-CONNECTED\n", 5, what="disconnect")
    dump_held = FakeDriver(path, dump=[])  # connects, but no dump yet
    try:
        wait_for(lambda: status() == b'VAR fake ups.status "WAIT"\n', 5, what="WAIT")
        assert c.request("GET VAR fake battery.charge") == [b"ERR VAR-NOT-SUPPORTED\n"]
        from support.upsd_support import FAKE_DUMP
        dump_held.broadcast("".join(x + "\n" for x in FAKE_DUMP))
        wait_for(lambda: status() == b'VAR fake ups.status "OL"\n', 5, what="dump")
    finally:
        dump_held.close()
    srv.fake = FakeDriver(path)  # for the fixture's cleanup
    c.close()

"""Fuzz targets: one function per parser, ``check(data: bytes)``, that feeds arbitrary bytes
to the parser the way the program does and raises only on a bug (an exception the program
would not survive or catch, or a broken invariant). The same targets serve the short
hypothesis runs of the test suite (tests/fuzz/) and the long coverage-guided runs with
atheris (tests/fuzz/atheris_main.py).

Each ``Target`` carries:
  * ``check``: the target itself;
  * ``vocabulary``: the words the parser reacts to (hypothesis builds lines from them,
    atheris gets them as its dictionary);
  * ``seeds``: a few well-formed inputs to start from.

Everything here is pure or in-process: no sockets, no files outside a private temp
directory, no DNS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import tempfile
from dataclasses import dataclass, field
from typing import Callable

from nutpy.common import parseconf
from nutpy.common.log import log
from nutpy.common.parseconf import HASH_IN_QUOTES, Tokenizer, parse_text
from nutpy.proto import sockproto


@dataclass
class Target:
    name: str
    check: Callable[[bytes], None]
    vocabulary: tuple[str, ...] = ()
    seeds: tuple[bytes, ...] = ()
    extra: dict = field(default_factory=dict)


TARGETS: dict[str, Target] = {}


def target(name: str, vocabulary: tuple[str, ...] = (), seeds: tuple[bytes, ...] = (),
           **extra):
    """Register ``check`` as a fuzz target. ``sparse=True``: the input mostly passes a
    device's replies unharmed (zero bytes), so inputs with a few damaged places go deepest."""
    def register(fn):
        TARGETS[name] = Target(name, fn, vocabulary, seeds, extra)
        return fn
    return register


@contextlib.contextmanager
def quiet_log():
    """Parsers log through nutpy's C-style logger; keep fuzz runs off stderr."""
    saved = (log.to_stderr, log.to_syslog, log.debug_level, log.debug_min)
    log.to_stderr = log.to_syslog = False
    try:
        yield
    finally:
        log.to_stderr, log.to_syslog, log.debug_level, log.debug_min = saved


_TMP = None


def private_dir() -> str:
    """One temp directory per process for the targets that must read a file."""
    global _TMP
    if _TMP is None:
        _TMP = tempfile.TemporaryDirectory(prefix="nutpy-fuzz-")
    return _TMP.name


def _unsafe_path(data: bytes) -> bool:
    """Config lines may name files that get read (INCLUDE, hosts.allow '/file' patterns):
    keep the fuzzer away from devices and kernel files that never end or block."""
    low = data.lower()
    return any(p in low for p in (b"/dev", b"/proc", b"/sys", b"/run", b"/tmp/",
                                  b"/var", b"fifo"))


def _tokenized(data: bytes) -> list[parseconf.Line]:
    tok = Tokenizer()
    lines = tok.feed(data)
    last = tok.finish()
    return lines + ([last] if last is not None else [])


# =========================================================================================
# The tokenizer (every file and both protocols go through it)

def _check_line_limits(line: parseconf.Line) -> None:
    assert len(line.words) <= parseconf.DEFAULT_ARG_LIMIT, line
    for w in line.words:
        assert isinstance(w, str) and len(w) <= parseconf.DEFAULT_WORDLEN_LIMIT, line
        assert all(0x20 <= ord(c) <= 0x7F for c in w), line


@target("tokenizer", vocabulary=('"', "\\", "#", "=", "\\\n", '\\"', "\\#", " ", "\t", "\r"),
        seeds=(b'SET VAR ups x "a \\"b\\" c"\nGET VAR ups ups.status\n',
               b'desc = "Zeta # desc"\nnext = 1\n', b"a b\\\nc\n\"x\ny\" z\n"))
def check_tokenizer(data: bytes) -> None:
    """Whole-text and streaming (any split) give the same lines; limits hold; a line
    without error survives re-quoting (what ``quote`` writes, the tokenizer reads back)."""
    whole_tok = Tokenizer()
    whole = whole_tok.feed(data)
    whole_last = whole_tok.finish()
    # the same bytes in pieces: sizes from a generator seeded by the input itself
    rnd = random.Random(len(data) * 2654435761 + (data[0] if data else 0))
    stream_tok = Tokenizer()
    streamed: list[parseconf.Line] = []
    pos = 0
    while pos < len(data):
        step = rnd.choice((1, 1, 2, 3, 7, 64, 512, 4096))
        streamed += stream_tok.feed(data[pos:pos + step])
        pos += step
    assert streamed == whole
    assert stream_tok.finish() == whole_last
    numbered = list(parse_text(data))
    expected = whole + ([whole_last] if whole_last is not None else [])
    assert [l._replace(lineno=0) for l in numbered] == expected
    assert [l.lineno for l in numbered] == list(range(1, len(numbered) + 1))
    for line in expected:
        _check_line_limits(line)
        assert line.error in (None, HASH_IN_QUOTES)
        if line.error is None and line.words:
            text = " ".join(parseconf.quote(w) for w in line.words) + "\n"
            again = Tokenizer().feed(text.encode("latin-1"))
            assert again == [parseconf.Line(line.words)], (line, text)
    first = data.split(b"\n", 1)[0]
    words = parseconf.split_line(first)
    _check_line_limits(parseconf.Line(words))


# =========================================================================================
# upsd: network requests into the protocol core

_UPSD_WORDS = ("VER", "NETVER", "PROTVER", "HELP", "STARTTLS", "GET", "LIST", "SET", "INSTCMD",
               "USERNAME", "PASSWORD", "LOGIN", "LOGOUT", "PRIMARY", "MASTER", "FSD", "VAR",
               "RW", "CMD", "ENUM", "RANGE", "TYPE", "DESC", "CMDDESC", "UPSDESC", "NUMLOGINS",
               "CLIENT", "UPS", "TRACKING", "ON", "OFF", "Fake", "fake", "nope", "admin", "pw",
               "ups.status", "battery.charge", "input.transfer.low", "ups.id", "server.info",
               "server.version", "load.off", "beeper.toggle", "test.battery.start")


def _upsd_server():
    from nutpy.upsd import config
    from nutpy.upsd.descriptions import Descriptions
    from nutpy.upsd.protocol import Server
    from nutpy.upsd.state import Ups

    users, _ = config.parse_users(parse_text(
        b"[admin]\n password = pw\n actions = SET FSD\n instcmds = all\n upsmon primary\n"),
        "upsd.users")
    sent: list[bytes] = []
    server = Server(users=users, descriptions=Descriptions({"ups.status": "Status"}, {}))
    ups = Ups("Fake", "dummy-ups-Fake", desc='a "quoted" #desc')
    server.add_ups(ups)
    ups.connected = True
    ups.reset_data()
    for line in _tokenized(
            b'SETINFO ups.status "OL"\nSETFLAGS ups.status RW STRING\nSETAUX ups.status 32\n'
            b'SETINFO battery.charge "100"\nSETINFO input.transfer.low "170"\n'
            b"SETFLAGS input.transfer.low RW NUMBER\nADDRANGE input.transfer.low 160 180\n"
            b'SETINFO ups.id "x \\"y\\" \\\\z"\nSETFLAGS ups.id RW STRING\nSETAUX ups.id 8\n'
            b'ADDENUM ups.id "a"\nADDENUM ups.id "b c"\nADDCMD load.off\n'
            b"ADDCMD beeper.toggle\nDATAOK\nDUMPDONE\n"):
        ups.data.apply(line.words)
    ups.driver_send = lambda data: sent.append(data) or True
    other = Ups("Down", "dummy-ups-Down")
    server.add_ups(other)  # never connected
    return server, ups, sent


def _check_reply(reply) -> None:
    assert isinstance(reply, bytes), reply
    # C formats each reply line into 512 bytes: a longer one is cut, its LF with it
    assert reply.endswith(b"\n") or len(reply) >= 512, reply


def _check_forwarded(sent: list[bytes]) -> None:
    """Whatever upsd forwards to a driver is a request the driver's parser knows."""
    for data in sent:
        for line in _tokenized(data):
            assert line.error is None, data
            req = sockproto.parse_request(line.words)
            assert req is not None, data
            if isinstance(req, sockproto.Request):
                assert req.kind in ("SET", "INSTCMD"), data
            else:  # an INSTCMD parameter with spaces reaches a driver as more words (as C)
                assert line.words[0] == "INSTCMD", data


@target("upsd_request", vocabulary=_UPSD_WORDS,
        seeds=(b"GET VAR Fake ups.status\nLIST VAR Fake\n",
               b"USERNAME admin\nPASSWORD pw\nSET VAR Fake ups.id \"new\"\nINSTCMD Fake load.off\n",
               b"SET TRACKING ON\nUSERNAME admin\nPASSWORD pw\nLOGIN Fake\nPRIMARY Fake\nFSD Fake\n"
               b"GET TRACKING\nLIST CLIENT Fake\nGET NUMLOGINS Fake\nLOGOUT\n"))
def check_upsd_request(data: bytes) -> None:
    """Request bytes through the tokenizer (C's 512-byte reads: a parse error drops the
    rest of its read) into ``Server.handle``: every request gets one reply line set, never
    an exception, and what is forwarded to the driver is well formed."""
    from nutpy.security.passwords import LoginThrottle
    from nutpy.upsd.auth import Deferred, Held
    from nutpy.upsd.protocol import Session

    server, ups, sent = _upsd_server()
    if data[:1] and data[0] & 1:  # the failed-login throttle on, as the daemon has it
        server.auth.throttle = LoginThrottle(clock=lambda: 1000.0)
    sessions = [Session("127.0.0.1"), Session("::1")]
    for s in sessions:
        server.open_session(s)
    tok = Tokenizer()
    for i, start in enumerate(range(0, len(data), 512)):
        session = sessions[i % 2]
        for line in tok.feed(data[start:start + 512]):
            if line.error:
                tok = Tokenizer()
                break
            reply = server.handle(session, line.words)
            if isinstance(reply, Deferred):  # only hashed passwords or DNS rules defer
                raise AssertionError(f"unexpected slow check for {line.words}")
            if isinstance(reply, Held):  # a wrong password's answer, delayed or dropped
                assert reply.delay is None or reply.delay > 0
                reply = reply.reply
            _check_reply(reply)
            if session.starttls:
                session.starttls = False
    for s in sessions:
        server.close_session(s)
    assert ups.numlogins == 0
    _check_forwarded(sent)


# =========================================================================================
# upsd: whole connections, with the reply cache and the fast paths of the asyncio layer

class _FakeUpsdTransport:
    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.out = bytearray()
        self.closed = False

    def get_extra_info(self, name):
        return {"peername": (self.peer, 40000), "sockname": ("127.0.0.1", 3493)}.get(name)

    def set_write_buffer_limits(self, high=None, low=None):
        pass

    def write(self, data):
        assert not self.closed, "write after close"
        self.out += data

    def close(self):
        self.closed = True

    abort = close

    def get_write_buffer_size(self):
        return 0

    def pause_reading(self):
        raise AssertionError("paused: nothing here should wait")

    def resume_reading(self):
        pass


class _FakeDaemon:
    def __init__(self, server) -> None:
        from nutpy.common.ratelimit import Throttle

        self.server = server
        self.clients = {}
        self.maxconn = None
        self.throttle_maxconn = Throttle(burst=5, period=60.0)

    def parse_error(self, error: str) -> None:
        pass

    def fd_count(self) -> int:
        return len(self.clients)


class _CModel:
    """What C upsd does with a connection's reads: 512 bytes at a time through the
    tokenizer, a parse error drops the rest of those 512, LOGOUT closes once they are done
    unless a later request in them came after it."""

    def __init__(self, server, peer: str) -> None:
        from nutpy.upsd.protocol import Session

        self.server = server
        self.session = Session(peer)
        self.session.local = "127.0.0.1"
        server.open_session(self.session)
        self.tok = Tokenizer()
        self.out = bytearray()
        self.closed = False

    def read(self, data: bytes) -> None:
        for start in range(0, len(data), 512):
            if self.closed:
                return
            for line in self.tok.feed(data[start:start + 512]):
                if line.error:
                    self.tok = Tokenizer()
                    break
                self.out += self.server.handle(self.session, line.words)
            if self.session.logout:
                self.closed = True
                self.server.close_session(self.session)


_UPDATES = (b'SETINFO ups.status "OB"', b'SETINFO ups.status "OL"', b"DELINFO battery.charge",
            b'SETINFO battery.charge "55"', b"DATASTALE", b"DATAOK", b'SETINFO Ups.Status "ol"')


@target("upsd_connection", vocabulary=_UPSD_WORDS + ("\n",),
        seeds=(b"GET VAR Fake ups.status\n" * 3 + b"GET VAR Fake \"ups.sta\ntus\"\n",
               b"GET VAR Fake ups.status\\\nGET VAR Fake ups.status\nLOGOUT\n"))
def check_upsd_connection(data: bytes) -> None:
    """Two clients' reads (split where the input says, some with '#', some without) through
    upsd's asyncio layer (``ClientConn``: the reply cache, the line-by-line hot path and
    C's 512-byte chunks), with driver updates in between, answered exactly as C's read
    loop answers the same reads (``_CModel`` over a server without any cache)."""
    from nutpy.upsd.server import ClientConn

    real, real_ups, _ = _upsd_server()
    model, model_ups, _ = _upsd_server()
    daemon = _FakeDaemon(real)
    conns, transports, models = [], [], []
    for peer in ("127.0.0.1", "127.0.0.2"):
        c, t = ClientConn(daemon), _FakeUpsdTransport(peer)
        c.connection_made(t)
        conns.append(c)
        transports.append(t)
        models.append(_CModel(model, peer))
    pos = 0
    with quiet_log():
        while pos < len(data):
            ctl = data[pos]
            pos += 1
            if ctl >= 0xF0:  # the driver says something
                words = Tokenizer().feed(_UPDATES[ctl % len(_UPDATES)] + b"\n")[0].words
                real_ups.data.apply(words)
                model_ups.data.apply(words)
                continue
            size = 1 + (ctl & 0x3F) * (9 if ctl & 0x40 else 1)
            chunk = data[pos:pos + size]
            pos += size
            if not chunk:
                break
            who = ctl >> 7
            if not conns[who].closed:
                conns[who].data_received(chunk)
            models[who].read(chunk)
    for t, m in zip(transports, models):
        assert bytes(t.out) == bytes(m.out), (bytes(t.out), bytes(m.out))
        assert t.closed == m.closed


# =========================================================================================
# upsd: driver lines into its state, then every reply built from that state

_DRIVER_MESSAGE_WORDS = ("SETINFO", "DELINFO", "ADDENUM", "DELENUM", "ADDRANGE", "DELRANGE",
                         "SETAUX", "SETFLAGS", "ADDCMD", "DELCMD", "TRACKING", "DUMPDONE",
                         "DATAOK", "DATASTALE", "PONG", "RW", "STRING", "NUMBER", "ups.status",
                         "battery.charge", "x", "0", "-1", "2147483648", "99999999999999999999")


@target("driver_message", vocabulary=_DRIVER_MESSAGE_WORDS,
        seeds=(b'SETINFO ups.status "OL"\nSETFLAGS ups.status RW STRING\nSETAUX ups.status 32\n'
               b'ADDENUM ups.status "OB"\nADDRANGE battery.charge 0 100\nADDCMD load.off\n'
               b"DATAOK\nDUMPDONE\nTRACKING 1234 0\n",))
def check_driver_message(data: bytes) -> None:
    """A driver (or anything on its socket) sends arbitrary lines: upsd's state takes them
    (``UpsData.apply``) and every GET/LIST built from that state is still a reply."""
    from nutpy.upsd.protocol import Session

    server, ups, _ = _upsd_server()
    session = Session("127.0.0.1")
    server.open_session(session)
    server.tracking["1234"] = [-1, 0.0]
    for line in _tokenized(data):
        if line.error or not line.words:
            continue
        recognised, track = ups.data.apply(line.words)
        assert isinstance(recognised, bool)
        if track is not None:
            server.tracking_set(*track)
            server.tracking_get(track[0])
    for words in (["LIST", "VAR", "Fake"], ["LIST", "RW", "Fake"], ["LIST", "CMD", "Fake"],
                  ["LIST", "UPS"], ["GET", "TRACKING", "1234"]):
        _check_reply(server.handle(session, words))
    for var in list(ups.data.vars.values())[:40]:
        for words in (["GET", "VAR", "Fake", var.name], ["GET", "TYPE", "Fake", var.name],
                      ["LIST", "ENUM", "Fake", var.name], ["LIST", "RANGE", "Fake", var.name],
                      ["GET", "DESC", "Fake", var.name]):
            _check_reply(server.handle(session, words))
    server.close_session(session)


# =========================================================================================
# the client library: reply lines from a server that may be anything

_REPLY_WORDS = ("VAR", "TYPE", "DESC", "UPSDESC", "NUMLOGINS", "BEGIN", "END", "LIST", "UPS",
                "RW", "CMD", "ENUM", "RANGE", "CLIENT", "OK", "ERR", "TRACKING", "ACCESS-DENIED",
                "UNKNOWN-UPS", "VAR-NOT-SUPPORTED", "Fake", "ups.status", "STRING:32", "NUMBER")


@target("client_reply", vocabulary=_REPLY_WORDS,
        seeds=(b'VAR Fake ups.status "OL"\n', b'BEGIN LIST VAR Fake\nVAR Fake ups.status "OL"\n'
               b"END LIST VAR Fake\n", b"ERR ACCESS-DENIED\n", b"OK TRACKING 1234-56\n",
               b"NUMLOGINS Fake 2\n"))
def check_client_reply(data: bytes) -> None:
    """Each reply line through every parser the clients use: only ``NutError`` (what the
    client library documents) may come out."""
    from nutpy.client import core

    buf = core.LineBuffer()
    buf.feed(data)
    lines = []
    while (line := buf.pop_line()) is not None:
        lines.append(line)
    if buf.pending:
        lines.append(buf.pending.decode("latin-1"))
    queries = (("VAR", "Fake", "ups.status"), ("TYPE", "Fake", "ups.status"),
               ("NUMLOGINS", "Fake"), ("UPSDESC", "Fake"))
    posts = (core._value, core._type_flags, core._numlogins, lambda w: w[2] if len(w) > 2 else "")
    for line in lines[:64]:
        words = core.tokenize(line)
        _check_line_limits(parseconf.Line(words))
        for query, post in zip(queries, posts):
            try:
                post(core.parse_get(line, query))
            except core.NutError:
                pass
        for fn in (core._ok_or_tracking, core._ok, core.check_error):
            try:
                fn(line)
            except core.NutError:
                pass
        for fn in (core.split_name, core.split_addr):
            try:
                fn(line)
            except ValueError:
                pass
    for query, post in ((("VAR", "Fake"), core._item_map(2, 3)), (("UPS",), core._item_map(1, 2)),
                        (("CMD", "Fake"), core._item_list(2)),
                        (("RANGE", "Fake", "x"), core._ranges)):
        reply = core.ListReply(query)
        try:
            for line in lines[:256]:
                if reply.feed(line):
                    post(reply.items)
                    break
        except core.NutError:
            pass


# =========================================================================================
# a driver's socket: requests into the socket server of a dummy-ups, then what it publishes

_DRIVER_REQUEST_WORDS = ("PING", "DUMPALL", "SET", "INSTCMD", "TRACKING", "NOBROADCAST",
                         "BROADCAST", "GETPID", "LOGOUT", "DUMPVALUE", "DUMPSTATUS",
                         "ups.status", "ups.statusx", "battery.charge", "driver.debug",
                         "driver.flag.allow_killpower", "load.off", "shutdown.default",
                         "x", '""', "OB LB", "1", "0", "yes")


class _FakeTransport:
    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        assert isinstance(data, bytes)
        self.out.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close

    def get_write_buffer_size(self) -> int:
        return 0


_LOOP: asyncio.AbstractEventLoop | None = None


def _loop() -> asyncio.AbstractEventLoop:
    global _LOOP
    if _LOOP is None or _LOOP.is_closed():
        _LOOP = asyncio.new_event_loop()
    return _LOOP


def dummy_driver(dev_text: bytes = b"ups.status: OL\nbattery.charge: 100\n"):
    """An in-process dummy-ups (no socket, no files): its core, driver and data tree after
    start-up, reading ``dev_text`` as its .dev file."""
    from nutpy.drivers.dummy_ups import DefinitionFile, DummyUps
    from nutpy.drivers.main import DriverCore

    class MemoryFile(DefinitionFile):
        def load(self):
            return list(parse_text(dev_text))

    core = DriverCore(DummyUps, prog="dummy-ups")
    core.device_path = "fuzz.dev"
    drv = core.driver
    drv.mode = "dummy-once"
    drv.file = MemoryFile("fuzz.dev", drv.set_local, core.state.status, core.state.alarm)
    return core, drv


def check_published(state) -> None:
    """What a driver's data tree sends (its DUMPALL) is what upsd then holds: each line is
    one message of the right shape, and upsd's copy has the same names and values."""
    from nutpy.upsd.state import UpsData

    dump = state.dump()
    lines = _tokenized(dump)
    assert lines and lines[-1].words == ["DUMPDONE"]
    upsd = UpsData()
    for line in lines:
        assert line.error is None, dump
        msg = sockproto.parse_driver_message(line.words)
        assert msg is not None, line
        need = {"SETINFO": 3, "ADDENUM": 3, "SETAUX": 3, "ADDRANGE": 4, "ADDCMD": 2}
        if msg.kind in need:
            assert len(line.words) == need[msg.kind], line
        elif msg.kind == "SETFLAGS":
            assert all(w in ("RW", "STRING", "NUMBER") for w in line.words[2:]), line
        upsd.apply(line.words)
    theirs = {v.name: v.raw for v in upsd.vars.values()}
    # bytes outside 0x20..0x7f cannot cross the socket (the tokenizer drops them, in C too)
    ours = {n: "".join(c for c in state.get(n) if 0x20 <= ord(c) <= 0x7F)
            for n in state.names()}
    assert theirs == ours
    assert sorted(upsd.cmds.values()) == sorted(state.commands())


@target("driver_request", vocabulary=_DRIVER_REQUEST_WORDS,
        seeds=(b"PING\nDUMPALL\nSET ups.status \"OB LB\" TRACKING 1\nINSTCMD load.off TRACKING 2\n",
               b"NOBROADCAST\nBROADCAST 1\nGETPID\nDUMPVALUE ups.status\nDUMPSTATUS\nLOGOUT\n",
               b'SET "" x TRACKING 3\nSET "a b" x TRACKING 4\nSET new.var value\n'))
def check_driver_request(data: bytes) -> None:
    """Lines on a dummy-ups socket (two clients taking turns) through the socket server:
    replies are whole lines, tracked requests are answered, and whatever the SETs did, the
    data tree still publishes well-formed lines that upsd reads back identically."""
    from nutpy.drivers.base import UNKNOWN
    from nutpy.drivers.sockserver import ClientConnection, DriverSocketServer

    loop = _loop()
    with quiet_log():
        core, drv = dummy_driver()
        drv.init_info()
        state = core.state

        async def on_instcmd(name, param):
            return UNKNOWN if name.lower().startswith("driver.") else drv.instcmd_local(name,
                                                                                         param)

        async def run() -> list[_FakeTransport]:
            server = DriverSocketServer(state, core._on_set, on_instcmd, loop)
            server.attach()
            transports = []
            clients = []
            for _ in range(2):
                c = ClientConnection(server)
                t = _FakeTransport()
                c.connection_made(t)
                transports.append(t)
                clients.append(c)
            for i, start in enumerate(range(0, len(data), 256)):
                clients[i % 2].data_received(data[start:start + 256])
                await asyncio.sleep(0)
            while server._tasks:
                await asyncio.gather(*server._tasks)
            for c in clients:
                c.connection_lost(None)
            return transports

        transports = loop.run_until_complete(run())
    for i, t in enumerate(transports):
        # what this client sent, as its own tokenizer saw it
        mine = b"".join(data[s:s + 256] for s in range(i * 256, len(data), 512))
        tracked = 0
        for line in Tokenizer().feed(mine):
            if line.error is None and line.words and line.words[0].upper() in ("SET", "INSTCMD"):
                req = sockproto.parse_request(line.words)
                tracked += isinstance(req, sockproto.Request) and req.tracking is not None
        replies = b"".join(t.out)
        assert replies == b"" or replies.endswith(b"\n")
        # broadcasts carry no TRACKING lines: every one of these answers a tracked request
        answers = [l for l in _tokenized(replies) if l.words[:1] == ["TRACKING"]]
        if t.closing:  # LOGOUT: what came after it is not answered
            assert len(answers) <= tracked, (tracked, answers)
        else:
            assert len(answers) == tracked, (tracked, answers)
    check_published(state)


# =========================================================================================
# configuration files

_UPS_CONF_WORDS = ("[ups]", "[u2]", "driver", "port", "desc", "=", "maxretry", "retrydelay",
                   "chroot", "user", "group", "statepath", "pollinterval", "nolock", "sdorder",
                   "maxstartdelay", "synchronous", "dummy-ups", "auto", "override.ups.status",
                   "default.battery.charge", "ignorelb")


@target("ups_conf", vocabulary=_UPS_CONF_WORDS,
        seeds=(b'maxretry = 3\n[ups]\n driver = dummy-ups\n port = u.dev\n desc = "A \\"UPS\\""\n'
               b" nolock\n[u2]\n driver=usbhid-ups\n port=auto\n",))
def check_ups_conf(data: bytes) -> None:
    from nutpy.common import upsconf

    conf = upsconf.parse(parse_text(data), "ups.conf")
    for err in conf.errors:
        str(err)
    for section in [conf.globals, *conf.sections.values()]:
        for key, value in section.values.items():
            assert isinstance(key, str) and isinstance(value, str)
            assert section.get(key) == value


_UPSD_CONF_WORDS = ("LISTEN", "MAXAGE", "STATEPATH", "DATAPATH", "MAXCONN", "CERTFILE",
                    "CERTPATH", "CERTIDENT", "CERTREQUEST", "DISABLE_WEAK_SSL", "TRACKINGDELAY",
                    "ALLOW_NO_DEVICE", "ALLOW_NOT_ALL_LISTENERS", "DEBUG_MIN", "127.0.0.1", "::1",
                    "3493", "true", "0", "-5", "65536")


@target("upsd_conf", vocabulary=_UPSD_CONF_WORDS,
        seeds=(b"LISTEN 127.0.0.1 3493\nLISTEN ::1\nMAXAGE 20\nMAXCONN 100\nTRACKINGDELAY 10\n"
               b"ALLOW_NO_DEVICE true\nCERTFILE /etc/nut/cert.pem\nDEBUG_MIN 2\n",))
def check_upsd_conf(data: bytes) -> None:
    from nutpy.upsd import config

    conf, msgs = config.parse_upsd_conf(parse_text(data), "upsd.conf")
    assert all(level in ("error", "warning", "notice", "info", "stderr") for level, _ in msgs)
    assert isinstance(conf.maxage, int) and isinstance(conf.trackingdelay, int)
    for host, port in conf.listen:
        assert isinstance(host, str) and isinstance(port, str)


_USERS_WORDS = ("[admin]", "[mon]", "password", "actions", "instcmds", "upsmon", "=", "SET",
                "FSD", "all", "primary", "secondary", "master", "slave", "allowfrom", "pw",
                "$6$salt$hash", "{SSHA}x")


@target("upsd_users", vocabulary=_USERS_WORDS,
        seeds=(b"[admin]\n password = pw\n actions = SET\n actions = FSD\n instcmds = all\n"
               b"[mon]\n password=pw\n upsmon primary\n",))
def check_upsd_users(data: bytes) -> None:
    from nutpy.upsd import config

    users, msgs = config.parse_users(parse_text(data), "upsd.users")
    assert all(level in ("error", "warning", "notice", "info", "stderr") for level, _ in msgs)
    for name, user in list(users.users.items())[:8]:
        for password in (user.password, "pw", None):
            if password is not None and not config.password_check_is_quick(
                    user.password or "", password):
                continue  # a hashed entry: key derivation is slow and not the parser
            users.check_action(name, password, "set")
            users.check_instcmd(name, password, "load.off")


_UPSMON_WORDS = ("MONITOR", "MINSUPPLIES", "SHUTDOWNCMD", "NOTIFYCMD", "POLLFREQ",
                 "POLLFREQALERT", "HOSTSYNC", "DEADTIME", "POWERDOWNFLAG", "NOTIFYMSG",
                 "NOTIFYFLAG", "RBWARNTIME", "NOCOMMWARNTIME", "FINALDELAY", "CERTPATH",
                 "CERTIDENT", "CERTHOST", "CERTVERIFY", "FORCESSL", "RUN_AS_USER", "DEBUG_MIN",
                 "OFFDURATION", "OVERDURATION", "OBLBDURATION", "ALARMCRITICAL", "SHUTDOWNEXIT",
                 "POLLFAIL_LOG_THROTTLE_MAX", "CERTFILE", "ONLINE", "ONBATT", "LOWBATT", "FSD",
                 "COMMBAD", "SYSLOG+WALL+EXEC", "IGNORE", "primary", "secondary", "master",
                 "slave", "ups@localhost:3493", "ups@[::1]:3493", "admin", "pw", "1", "%s")


@target("upsmon_conf", vocabulary=_UPSMON_WORDS,
        seeds=(b"MONITOR ups@localhost 1 admin pw primary\nMINSUPPLIES 1\n"
               b'SHUTDOWNCMD "/sbin/shutdown -h +0"\nNOTIFYFLAG ONBATT SYSLOG+WALL\n'
               b'NOTIFYMSG ONLINE "UPS %s on line"\nPOLLFREQ 5\nDEADTIME 15\n'
               b"CERTHOST localhost upsd 1 1\nSHUTDOWNEXIT 5\nPOWERDOWNFLAG /etc/killpower\n",))
def check_upsmon_conf(data: bytes) -> None:
    from nutpy.upsmon import config, notify

    try:
        conf, msgs = config.load(parse_text(data), "upsmon.conf")
    except config.ConfigFatal:
        return
    # a reload on top of what was read, as SIGHUP does
    try:
        conf2, _ = config.load(parse_text(data), "upsmon.conf", previous=conf)
    except config.ConfigFatal:
        return
    for ntype in list(conf.notify_messages)[:4]:
        conf.notification(ntype, "ups", "extra")
    for m in conf.monitors:
        assert isinstance(m.power_value, int)
    conf.total_power
    notify.format_message("%s %s %d %%", "ups", None)


_SCHED_WORDS = ("CMDSCRIPT", "PIPEFN", "LOCKFN", "DEBUG_MIN", "AT", "START-TIMER",
                "START-TIMER-SHARED", "CANCEL-TIMER", "CANCEL-TIMER-MATCHED", "EXECUTE", "ONBATT",
                "ONLINE", "*", "ups", "30", "/bin/true")


@target("upssched_conf", vocabulary=_SCHED_WORDS,
        seeds=(b"CMDSCRIPT /bin/true\nPIPEFN /run/p\nLOCKFN /run/l\n"
               b"AT ONBATT * START-TIMER onbatt 30\nAT ONLINE ups CANCEL-TIMER onbatt online\n"
               b"AT LOWBATT * EXECUTE lowbatt\n",))
def check_upssched_conf(data: bytes) -> None:
    from nutpy.upsmon import schedconf

    for ups, ntype, list_only in (("ups", "ONBATT", False), ("other", "online", False),
                                  ("ups", "ONBATT", True)):
        try:
            files, items = schedconf.read(parse_text(data), "upssched.conf", ups, ntype,
                                          "message", list_only)
        except schedconf.SchedFatal:
            continue
        for item in items:
            assert isinstance(item, (tuple, schedconf.Action))


_TIMER_WORDS = ("START", "START-SHARED", "CANCEL", "CANCEL-MATCHED", "LIST-TIMERS", "onbatt",
                "ONBATT", "ups", "30", "-1", "9223372036854775808")


@target("upssched_timers", vocabulary=_TIMER_WORDS,
        seeds=(b"START onbatt 30 ONBATT ups msg\nSTART-SHARED onbatt 5 ONBATT ups2 m\n"
               b"LIST-TIMERS\nCANCEL-MATCHED onbatt x ONLINE ups msg\nCANCEL onbatt cmd\n",))
def check_upssched_timers(data: bytes) -> None:
    """The upssched daemon's socket protocol (``timers.TimerTable``)."""
    from nutpy.upsmon import timers

    table = timers.TimerTable()
    now = 1000.0
    for line in _tokenized(data)[:200]:
        if line.error:
            continue
        replies, commands, logs = table.handle(line.words, now, wall=1.7e9)
        assert replies and replies[-1] in ("OK", "ERR UNKNOWN")
        now += 1.0
        table.fire(now)
        table.next_due()
        table.idle_done(now)


_AUTH_WORDS = ("[@localhost:3493]", "[_global_defaults]", "[user@host]", "[:3493]", "USER",
               "USERNAME", "PASS", "PASSWORD", "CERTVERIFY", "FORCESSL", "CERTPATH", "CERTFILE",
               "CERTHOST", "CERTIDENT_NAME", "SSLBACKEND", "INCLUDE", "INCLUDE_REQUIRED", "=",
               "true", "1", "included.conf")


@target("nutauth_conf", vocabulary=_AUTH_WORDS,
        seeds=(b"USER = mon\nPASS = pw\n[@localhost:3493]\nFORCESSL = 1\nCERTVERIFY = true\n"
               b"INCLUDE included.conf\n",))
def check_nutauth_conf(data: bytes) -> None:
    from nutpy.security import credentials

    if _unsafe_path(data):
        return
    d = private_dir()
    path = os.path.join(d, "nutauth.conf")
    with open(path, "wb") as f:
        f.write(data)
    with open(os.path.join(d, "included.conf"), "wb") as f:
        f.write(b"PASS = other\n[@localhost:3493]\nUSER = inc\n")
    cwd = os.getcwd()
    os.chdir(d)  # relative INCLUDE targets stay inside the private directory
    try:
        conf = credentials.load(path)
    except credentials.AuthConfError:
        return
    except (IsADirectoryError, PermissionError):
        return  # INCLUDE_REQUIRED of a directory or unreadable file: reported by the caller
    finally:
        os.chdir(cwd)
    for host, port in (("localhost", 3493), ("::1", 1), ("", 0)):
        s = conf.settings_for(host, port)
        s.has_credentials
    for title in list(conf.sections)[:5]:
        credentials.normalize_title(title)


_HOSTS_WORDS = ("ALL", "EXCEPT", "LOCAL", "KNOWN", "UNKNOWN", "PARANOID", "upsd", "upsd@",
                "127.0.0.1", "::1", "[::1]", "[::1]/128", "127.", ".example.com", "10.0.0.0/8",
                "10.0.0.0/255.0.0.0", "@netgroup", "monuser@", "*", "?", ":", ",", "allow",
                "deny", "spawn", "twist", "severity", "auth.info", "umask", "022", "\\\n")


@target("hosts_allow", vocabulary=_HOSTS_WORDS,
        seeds=(b"upsd: 127.0.0.1 [::1] LOCAL\nupsd: ALL EXCEPT 10.0.0.0/8 : deny\n"
               b"ALL EXCEPT upsd@127.0.0.1: .example.com, monuser@KNOWN : severity auth.info"
               b" : allow\n",))
def check_hosts_allow(data: bytes) -> None:
    """hosts.allow/hosts.deny tables: parsed, then asked about a few clients (host names
    given, never looked up)."""
    from nutpy.security import tcpwrappers as tw

    if _unsafe_path(data):
        return
    warnings: list[str] = []
    rules = tw.parse_table(data, warnings.append, "hosts.allow")
    for req in (tw.Request("upsd", "127.0.0.1", "admin", "localhost", "127.0.0.1", "localhost"),
                tw.Request("upsd", "::ffff:10.1.2.3", None, "unknown", "::1", "host.example.com"),
                tw.Request("upsd", "fe80::1%eth0", "x", "paranoid")):
        for allow, deny in ((rules, None), (None, rules), (rules, rules)):
            decision = tw.evaluate(allow, deny, req, warnings.append)
            assert isinstance(decision.allowed, bool)


# =========================================================================================
# dummy-ups .dev / .seq files

_DEV_WORDS = ("ups.status:", "OL", "OB", "LB", "CHRG", "TIMER", "ALARM", "battery.charge:",
              "driver.name:", "ups.alarm:", "ups.statusx:", "x.y:", ":", "0", "1", "-1")


@target("dummy_dev", vocabulary=_DEV_WORDS,
        seeds=(b"ups.status: OL\nbattery.charge: 100\nTIMER 5\nups.status: OB LB\n"
               b"ALARM Replace battery\nTIMER 1\nALARM\nups.mfr: \"A \\\"B\\\"\"\n",))
def check_dummy_dev(data: bytes) -> None:
    """A .dev/.seq file through dummy-ups: rejected at start-up for a parse error (as we
    document), otherwise replayed (TIMERs passed by a fake clock) and what it published is
    well formed."""
    from nutpy.drivers.dummy_ups import DefinitionError

    with quiet_log():
        core, drv = dummy_driver(data)
        try:
            drv.file.check()
        except DefinitionError:
            return
        drv.init_info()
        now = 0.0
        for _ in range(5):
            resume = drv.file.resume_at
            now = max(now + 1.0, resume if resume is not None and resume < 1e12 else now + 1.0)
            drv._step(now)
        check_published(core.state)


# =========================================================================================
# usbhid-ups: report descriptors and the report codec

@target("hid_descriptor",
        seeds=(bytes.fromhex("05840904a101850175089501093015000f26ff0035004600" "0fb102c0"),))
def check_hid_descriptor(data: bytes) -> None:
    """A report descriptor, then the first bytes after it as a report: every field decodes
    in range, encodes back without touching its neighbours' bits, and converts to a value
    and back (within one logical unit where the physical range is sane)."""
    from nutpy.drivers.usbhid import hidparser as hp

    cut = data[0] if data else 0
    desc_bytes, report = data[1:1 + cut * 4] if cut else data[1:], data[1 + cut * 4:]
    try:
        desc = hp.parse(desc_bytes)
    except hp.DescriptorError:
        return
    for f in desc.fields[:64]:
        buf = bytearray(report[:desc.report_length(f.report_id) + 8])
        value = hp.get_logical(buf, f)
        assert f.log_min <= value <= f.log_max or f.log_min > f.log_max, (f, value)
        before = bytes(buf)
        hp.set_logical(buf, f, value)
        width = max(len(before), len(buf))
        changed = int.from_bytes(before.ljust(width, b"\0"), "little") ^ \
            int.from_bytes(bytes(buf).ljust(width, b"\0"), "little")
        own_bits = ((1 << f.size) - 1) << (f.offset + 8)
        assert changed & ~own_bits == 0, (f, before, bytes(buf))
        if f.log_min <= f.log_max:  # (an empty range clamps both ways, as C's GetValue)
            assert hp.get_logical(buf, f) == value, (f, before, bytes(buf))
        v = hp.logical_to_value(f, value)
        back = hp.value_to_logical(f, v)
        # scaled through the physical range only where C scales (both ranges non-empty);
        # otherwise the value is the logical one times 10^exp, and C's (long) cast of
        # value / 10^exp may land one below or above it
        scaled = hp._has_physical(f) and f.phy_min < f.phy_max and f.log_min < f.log_max
        if scaled and abs(f.log_max - f.log_min) < 2 ** 31 and \
                abs(f.phy_max - f.phy_min) < 2 ** 31:
            assert f.log_min <= back <= f.log_max, (f, value, v, back)
        elif not scaled and abs(hp.unit_exponent(f)) <= 30 and abs(value) < 2 ** 40:
            assert abs(back - value) <= 1, (f, value, v, back)


# =========================================================================================

def all_vocabulary() -> list[str]:
    words: set[str] = set()
    for t in TARGETS.values():
        words.update(t.vocabulary)
    return sorted(words)


# =========================================================================================
# serial UPS protocols: a simulated unit's replies, damaged as the input says

class Damage:
    """Reads the fuzz input as a list of edits to make to a device's replies, one control
    byte per reply: pass it on, cut it, change a byte, replace it with bytes from the input,
    or say nothing. When the input runs out, replies pass unharmed."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _byte(self) -> int | None:
        if self.pos >= len(self.data):
            return None
        b = self.data[self.pos]
        self.pos += 1
        return b

    def __call__(self, reply: bytes) -> bytes:
        c = self._byte()
        if c is None or c < 96:
            return reply
        arg = self._byte() or 0
        if c < 144:
            return reply[:arg % (len(reply) + 1)]
        if c < 192:
            if reply:
                i = arg % len(reply)
                return reply[:i] + bytes([self._byte() or 0]) + reply[i + 1:]
            return reply
        if c < 240:
            chunk = self.data[self.pos:self.pos + arg % 80]
            self.pos += len(chunk)
            return chunk
        return b""


class _Log:
    def __getattr__(self, level):
        return lambda *args, **kw: None


class _DamagedQ1:
    """A Q1-family simulator behind a damaged line (``command(bytes) -> bytes``)."""

    def __init__(self, dialect: str, damage: Damage) -> None:
        from nutpy.sim.q1 import Q1Ups

        self.sim = Q1Ups(dialect)
        self.damage = damage
        self.now = 1000.0

    def command(self, cmd: bytes) -> bytes:
        self.now += 0.5
        return self.damage(self.sim.feed(cmd, self.now) + self.sim.tick(self.now))


_Q1_DIALECTS = ("megatec", "mustek", "megatec/old", "zinto", "q1", "voltronic-qs",
                "voltronic-qs-hex", "voltronic")


@target("qx_engine", sparse=True,
        seeds=(b"", b"\x00" * 40, b"\x60\x05" * 20, b"\xc0\x10(226.0 195.0 226.0"))
def check_qx_engine(data: bytes) -> None:
    """nutdrv_qx's engine (every subdriver, detection included) talking to a simulated unit
    of one of the Q1 dialects whose replies the input damages: never an exception other
    than C's fatal exit, and what it publishes stays well formed."""
    from nutpy.drivers.qx import subdrivers
    from nutpy.drivers.qx.core import FatalError, QxEngine
    from nutpy.drivers.state import DriverState

    dialect = _Q1_DIALECTS[data[0] % len(_Q1_DIALECTS)] if data else "megatec"
    device = _DamagedQ1(dialect, Damage(data[1:]))
    state = DriverState()
    conf = {"pollfreq": "0"}
    engine = QxEngine(state, device, conf.get, lambda k: k in conf, subdrivers(), log=_Log(),
                      upsname="sim")
    try:
        if not engine.match_subdriver():
            return
        engine.init_ups()
        engine.init_info(1000)
        for n in range(6):
            engine.update_info(1001 + n)
        for cmd, extra in (("beeper.toggle", None), ("test.battery.start", "5"),
                           ("shutdown.return", None), ("load.off", None)):
            engine.instcmd(cmd, extra)
        for name in list(state.names())[:6]:
            if state.var(name).flags & 1:
                engine.setvar(name, "1")
    except FatalError:
        return
    check_published(state)


@target("blazer", seeds=(b"", b"\x00" * 20, b"\x70\x03" * 10), sparse=True)
def check_blazer(data: bytes) -> None:
    """blazer_ser's protocol code over a damaged Megatec line."""
    from nutpy.drivers.qx.blazer import Blazer
    from nutpy.drivers.qx.core import FatalError
    from nutpy.drivers.state import DriverState

    device = _DamagedQ1("megatec" if not data or data[0] & 1 else "mustek", Damage(data[1:]))
    state = DriverState()
    b = Blazer(state, device, {}.get, lambda k: False, _Log(), "sim")
    try:
        b.init_ups()
        b.init_info(1000)
        for n in range(6):
            b.update_info(1002 + 2 * n)
        for cmd in ("beeper.toggle", "test.battery.start.quick", "shutdown.return", "load.off"):
            b.instcmd(cmd, None)
    except FatalError:
        return
    check_published(state)


class _DamagedApcLink:
    """The canonical-mode tty apcsmart reads (a line per read, ending at LF or '*'), in
    front of the simulated Smart-UPS, each line damaged as the input says."""

    def __init__(self, damage: Damage) -> None:
        from nutpy.sim.apcsmart import ApcSmartUps

        self.sim = ApcSmartUps(smart=False)
        self.damage = damage
        self.now = 1000.0
        self.pending = b""

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def write(self, data: bytes, pace: float = 0.0) -> int:
        for byte in data:
            self.pending += self.sim.feed(bytes([byte]), self.now)
            self.now += pace
        return len(data)

    def read(self, size: int, timeout: float) -> bytes:
        self.pending += self.sim.tick(self.now)
        data = self.pending.replace(b"\r", b"")
        ends = [i for i in (data.find(b"\n"), data.find(b"*")) if i >= 0]
        if not ends:
            self.now += timeout
            self.pending = b""
            return self.damage(data)[:size] if data else b""
        end = min(ends) + 1
        self.pending = data[end:]
        return self.damage(data[:end])[:size]

    def flush_input(self) -> None:
        self.pending = b""

    def flush_output(self) -> None:
        pass

    def flush_io(self) -> None:
        self.pending = b""


@target("apcsmart", seeds=(b"", b"\x00" * 60, b"\x61\x02" * 30, b"\xf5\x00" * 5), sparse=True)
def check_apcsmart(data: bytes) -> None:
    """apcsmart's protocol (handshake, capabilities, polls, commands, SETs) against the
    simulated Smart-UPS whose every line the input may damage."""
    from nutpy.drivers.apcsmart.protocol import ApcSmart, Fatal
    from nutpy.drivers.state import DriverState

    link = _DamagedApcLink(Damage(data))
    state = DriverState()
    apc = ApcSmart(state, link, {}.get, lambda k: False, _Log(), device_path="/dev/ttyS0",
                   upsname="sim", clock=link.clock, sleep=link.sleep)
    try:
        apc.init_info()
        for _ in range(4):
            apc.poll_device()
        for cmd in ("test.battery.start", "beeper.toggle", "calibrate.start", "load.off"):
            apc.instcmd(cmd, None)
        for name in ("input.transfer.high", "ups.id", "ups.delay.shutdown"):
            apc.setvar(name, "x")
    except Fatal:
        return
    check_published(state)

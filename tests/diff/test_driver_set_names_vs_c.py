"""SET on a driver's socket with unknown and malformed variable names: C dummy-ups 2.8.0 and
ours side by side.

What C does (drivers/dstate.c sock_arg -> main_setvar -> dummy-ups setvar, the same in
2.8.0, 2.8.5 and master): ``main_setvar`` knows only ``driver.debug`` and
``driver.flag.allow_killpower`` and passes anything else on; dummy-ups' ``is_valid_data``
logs "Unknown data. Committing anyway..." and creates the variable, whatever its name. So
an unknown well-formed name is created by both (we keep that: it is how dummy-ups is
scripted), but C also creates an empty name or one with a space, and announces them with
lines upsd reads as something else (``SETINFO  "x"`` is dropped, ``SETINFO a b "x"`` sets
``a`` to ``b``). Ours refuses a name that cannot travel as one word (answer UNKNOWN, as C
answers a name its drivers do not know) and never publishes it.
"""

from __future__ import annotations

import socket
import time

import pytest

from support.fuzz_targets import _tokenized
from support.harness import NutEnv, c_prog, our_prog, require_c_nut, stop_by_pidfiles

pytestmark = pytest.mark.interop

# (request name as sent, result C gives, result we give)
CASES = [
    (b"foo.bar", 0, 0),          # unknown but well formed: created by both
    (b"Battery.Charge", 0, 0),   # a known one in another case: changed by both
    (b'""', 0, 1),               # empty
    (b'"a b"', 0, 1),            # a space: reaches upsd as two words
    (b'"x=y"', 0, 1),            # '=' is a word of its own for the tokenizer
    (b'"\\"lead"', 0, 1),        # a leading quote opens a quoted word
]


class Conn:
    """One connection kept open for the whole test (C 2.8.0 spins and then crashes on its
    next broadcast once a client has closed)."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""

    def until(self, want: bytes, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while want not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {want!r} in {self.buf!r}")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        head, _, rest = self.buf.partition(want)
        self.buf = rest
        return head + want


def _run(env: NutEnv, prog: str) -> tuple[dict[bytes, int], bytes]:
    env.write("ups.conf", "[u]\n  driver = dummy-ups\n  port = u.dev\n")
    (env.etc / "u.dev").write_text("ups.status: OL\nbattery.charge: 100\n")
    r = env.run([prog, "-a", "u", "-u", "root"])
    assert r.returncode == 0, r.stdout + r.stderr
    conn = Conn(str(env.socket_path("dummy-ups", "u")))
    try:
        results = {}
        for i, (name, _, _) in enumerate(CASES):
            conn.sock.sendall(b"SET " + name + b' "7" TRACKING t%d\n' % i)
            line = conn.until(b"TRACKING t%d " % i).split(b"\n")[-1]
            results[name] = int(conn.until(b"\n")[:-1])
            assert line == b"TRACKING t%d " % i
        conn.sock.sendall(b"DUMPALL\n")
        dump = conn.until(b"DUMPDONE\n").split(b"DATAOK\n")[0]
        return results, dump
    finally:
        stop_by_pidfiles(env, ["dummy-ups-u"])
        conn.sock.close()


def _setinfo_lines(dump: bytes) -> list[bytes]:
    return [l for l in dump.split(b"\n") if l.startswith(b"SETINFO ")]


def test_set_names_c_creates_any_we_refuse_what_cannot_be_published(tmp_path):
    require_c_nut()
    c_env, our_env = NutEnv(tmp_path / "c"), NutEnv(tmp_path / "ours")
    try:
        c_results, c_dump = _run(c_env, c_prog("dummy-ups"))
        our_results, our_dump = _run(our_env, our_prog("dummy-ups"))
    finally:
        c_env.close()
        our_env.close()
    assert c_results == {name: c for name, c, _ in CASES}
    assert our_results == {name: ours for name, _, ours in CASES}
    c_lines, our_lines = _setinfo_lines(c_dump), _setinfo_lines(our_dump)
    # both: the unknown well-formed name, flagged as C flags unknown names
    for lines, dump in ((c_lines, c_dump), (our_lines, our_dump)):
        assert b'SETINFO foo.bar "7"' in lines
        assert b"SETFLAGS foo.bar RW STRING" in dump and b"SETAUX foo.bar 32" in dump
        assert any(l.lower() == b'setinfo battery.charge "7"' for l in lines)
    # C: the malformed names are published as lines upsd misreads
    assert b'SETINFO  "7"' in c_lines
    assert b'SETINFO a b "7"' in c_lines
    assert b'SETINFO x=y "7"' in c_lines
    # ours: nothing but well-formed lines, each read back as the variable it announces
    for line in _tokenized(our_dump):
        if line.words and line.words[0] == "SETINFO":
            assert len(line.words) == 3, line
    assert b"a b" not in our_dump and b'SETINFO  ' not in our_dump and b"x=y" not in our_dump

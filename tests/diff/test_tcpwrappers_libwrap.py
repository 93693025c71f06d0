"""nutpy.security.tcpwrappers against Debian's libwrap itself: the same generated hosts.allow /
hosts.deny pairs and clients go through libwrap's hosts_ctl() (via ctypes, with its table
paths pointed at temp files) and through our evaluator; every verdict must agree."""

from __future__ import annotations

import ctypes
import glob
import os
import random
from pathlib import Path

import pytest

from nutpy.security import tcpwrappers as tw
from support.harness import require
from support.hosts_rules import random_table

LIBWRAP = next(iter(sorted(glob.glob("/lib/*/libwrap.so.0")
                           + glob.glob("/usr/lib/*/libwrap.so.0"))), "libwrap.so.0")

REQUESTS = [  # (daemon, client name, client address, NUT user)
    ("upsd", "localhost", "127.0.0.1", "admin"),
    ("upsd", "unknown", "127.0.0.1", "monuser"),
    ("upsd", "host.example.com", "10.0.0.5", "admin"),
    ("upsd", "paranoid", "192.168.1.200", "unknown"),
    ("upsd", "a.EXAMPLE.com", "192.168.1.10", "ADMIN"),
    ("upsd", "unknown", "::1", "admin"),
    ("upsd", "unknown", "2001:db8::1", "mon"),
    ("upsd", "ip6-localhost", "::1", "x"),
    ("upsd", "unknown", "::ffff:127.0.0.1", "admin"),
    ("upsd", "unknown", "unknown", "unknown"),
    ("upsd", "LOCALHOST", "10.1.2.3", "monslave"),
    ("sshd", "host", "10.0.0.5", "root"),
]


class LibWrap:
    def __init__(self, directory: Path) -> None:
        self.lib = ctypes.CDLL(LIBWRAP)
        self.lib.hosts_ctl.argtypes = [ctypes.c_char_p] * 4
        self.lib.hosts_ctl.restype = ctypes.c_int
        self.allow = directory / "hosts.allow"
        self.deny = directory / "hosts.deny"
        # the C globals point into these buffers: keep them referenced
        self._paths = [ctypes.create_string_buffer(bytes(self.allow) + b"\0"),
                       ctypes.create_string_buffer(bytes(self.deny) + b"\0")]
        self._tables = [ctypes.c_void_p.in_dll(self.lib, name)
                        for name in ("hosts_allow_table", "hosts_deny_table")]
        self._saved = [t.value for t in self._tables]
        for table, path in zip(self._tables, self._paths):
            table.value = ctypes.addressof(path)

    def close(self) -> None:
        """Point libwrap back at its own strings before our buffers go away."""
        for table, saved in zip(self._tables, self._saved):
            table.value = saved

    def ctl(self, allow: str, deny: str, daemon: str, name: str, addr: str, user: str) -> bool:
        self.allow.write_text(allow, encoding="latin-1")
        self.deny.write_text(deny, encoding="latin-1")
        return bool(self.lib.hosts_ctl(daemon.encode(), name.encode(), addr.encode(),
                                       user.encode()))


@pytest.fixture(scope="module")
def libwrap(tmp_path_factory):
    require(os.path.exists(LIBWRAP), "libwrap0 not installed (apt-get install -y libwrap0)")
    lw = LibWrap(tmp_path_factory.mktemp("libwrap"))
    yield lw
    lw.close()


def _ours(allow: str, deny: str, daemon: str, name: str, addr: str, user: str) -> bool:
    req = tw.Request(daemon, addr, user, name)
    return tw.evaluate(tw.parse_table(allow), tw.parse_table(deny), req).allowed


def test_generated_rules_agree_with_libwrap(libwrap, tmp_path):
    hostfile = tmp_path / "hosts.list"
    hostfile.write_text("10.0.0.5 .example.com\n[::1] admin@ALL\n")
    rng = random.Random(20261127)
    diffs = []
    total = denied = 0
    for _ in range(1200):
        allow, deny = random_table(rng, str(hostfile)), random_table(rng, str(hostfile))
        for req in rng.sample(REQUESTS, 3):
            c = libwrap.ctl(allow, deny, *req)
            ours = _ours(allow, deny, *req)
            total += 1
            denied += not c
            if c != ours:
                diffs.append((allow, deny, req, c))
    # the generated cases must exercise both outcomes, and decisions from both tables
    assert 0.2 < denied / total < 0.8, (denied, total)
    assert not diffs, "first differences (allow, deny, request, libwrap verdict):\n" + \
        "\n".join(repr(d) for d in diffs[:10])


@pytest.mark.parametrize("text", [
    "upsd: " + " ".join(["10.9.9.9"] * 300) + " 127.0.0.1\n",   # over-long logical line
    "upsd: 10.0.0.1 \\\n" + "\\\n".join(["10.9.9.9 " * 20] * 12) + "127.0.0.1\n",
    "upsd: " + "x" * 2040 + " \n upsd: 127.0.0.1\n",
    "upsd: ALL",                                                    # no final newline
    "upsd: ALL\\",
    "upsd\\\n: ALL\n",
])
def test_line_reading_edge_cases_agree_with_libwrap(libwrap, text):
    for table in ("allow", "deny"):
        allow, deny = (text, "") if table == "allow" else ("", text)
        for req in REQUESTS[:2]:
            assert _ours(allow, deny, *req) == libwrap.ctl(allow, deny, *req), (table, req)

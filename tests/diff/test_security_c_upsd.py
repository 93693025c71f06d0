"""tcp-wrappers end to end against C upsd 2.8.0 (Debian builds it with libwrap).

One C upsd runs chrooted (``-r``), so it reads ``<chroot>/etc/hosts.allow`` and
``hosts.deny`` that this test rewrites between requests (libwrap re-reads them every
time). ``SET TRACKING ON`` is an AUTH command that needs no UPS: C answers ``OK`` when
tcp-wrappers allow and ``ERR ACCESS-DENIED`` when they deny. nutpy.security.tcpwrappers must give
the same verdict for the same files, NUT user and client (127.0.0.1, named ``localhost``
by the chroot's /etc/hosts; the server side is 127.0.0.1 too)."""

from __future__ import annotations

import os
import random
import socket

import pytest

from nutpy.security import tcpwrappers as tw
from support.harness import c_prog, require_c_nut, require_root
from support.hosts_rules import random_table

# every test here runs a chrooted C upsd
pytestmark = [pytest.mark.interop, pytest.mark.root]

USERS = ["admin", "monuser", "ADMIN", "unknown"]
HAND_WRITTEN = [
    ("", "upsd: ALL\n"),
    ("upsd: admin@127.0.0.1/32\n", "upsd: ALL\n"),
    ("ups : admin@127.0.0.1/32\nups : monuser@127.0.0.1/32 monuser@192.168.1.0/24\n",
     "upsd : ALL\n"),                                   # the NUT docs' example
    ("", "upsd: ALL EXCEPT admin@127.0.0.1\n"),
    ("", "upsd: LOCAL\n"), ("", "upsd: KNOWN\n"), ("", "upsd: localhost\n"),
    ("", "upsd: .localdomain\n"), ("", "upsd: 127.0.0.0/255.0.0.0\n"),
    ("", "upsd@127.0.0.1: ALL\n"), ("", "upsd@localhost: ALL\n"), ("", "upsd@10.0.0.1: ALL\n"),
    ("upsd: ALL: deny\n", ""), ("", "upsd: ALL: allow\n"), ("", "upsd: mon*@ALL\n"),
    ("", "upsd: ALL"),                                  # no final newline
    ("", "upsd: [::1]\n"), ("", "upsd: UNKNOWN@ALL\n"), ("", "upsd: KNOWN@ALL\n"),
]


def _verdict_from_c(port: int, user: str) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")
        replies = []
        for line in (f"USERNAME {user}", "PASSWORD secret", "SET TRACKING ON"):
            s.sendall(line.encode() + b"\n")
            replies.append(f.readline())
    assert replies[:2] == [b"OK\n", b"OK\n"], replies
    assert replies[2] in (b"OK\n", b"ERR ACCESS-DENIED\n"), replies
    return replies[2] == b"OK\n"


@pytest.fixture(scope="module")
def chrooted_c_upsd(tmp_path_factory):
    require_c_nut()
    require_root()
    from support.harness import NutEnv, port_open, wait_for

    root = tmp_path_factory.mktemp("jail")
    (root / "etc" / "nut").mkdir(parents=True)
    (root / "state").mkdir()
    os.chmod(root / "state", 0o770)
    env = NutEnv(tmp_path_factory.mktemp("outside"))
    (root / "etc/nut/upsd.conf").write_text(f"LISTEN 127.0.0.1 {env.port}\nALLOW_NO_DEVICE true\n")
    (root / "etc/nut/ups.conf").write_text("")
    (root / "etc/nut/upsd.users").write_text("[admin]\n  password = secret\n")
    for f in (root / "etc/nut").iterdir():
        os.chmod(f, 0o640)
    # name service inside the jail: files only (built into glibc), so 127.0.0.1 = localhost
    (root / "etc/nsswitch.conf").write_text("hosts: files\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n")
    env.start([c_prog("upsd"), "-u", "root", "-F", "-r", str(root)],
              NUT_CONFPATH="/etc/nut", NUT_STATEPATH="/state")
    wait_for(lambda: port_open(env.port), 15, what="chrooted C upsd")
    yield root, env.port
    env.close()


def _check_case(root, port, allow: str, deny: str, user: str) -> tuple[bool, bool]:
    allow_path, deny_path = root / "etc/hosts.allow", root / "etc/hosts.deny"
    allow_path.write_text(allow)
    deny_path.write_text(deny)
    c = _verdict_from_c(port, user)
    ours = tw.hosts_access("upsd", "127.0.0.1", user, client_name="localhost",
                           allow_path=str(allow_path), deny_path=str(deny_path),
                           server_addr="127.0.0.1", server_name="localhost")
    return c, ours


@pytest.mark.parametrize("allow,deny", HAND_WRITTEN)
def test_hand_written_rules_match_c_upsd(chrooted_c_upsd, allow, deny):
    root, port = chrooted_c_upsd
    for user in USERS:
        c, ours = _check_case(root, port, allow, deny, user)
        assert ours == c, (allow, deny, user, "C allows" if c else "C denies")


def test_generated_rules_match_c_upsd(chrooted_c_upsd, tmp_path):
    root, port = chrooted_c_upsd
    rng = random.Random(3493)
    outcomes = set()
    diffs = []
    for _ in range(120):
        allow, deny = random_table(rng, "/nonexistent"), random_table(rng, "/nonexistent")
        user = rng.choice(USERS)
        c, ours = _check_case(root, port, allow, deny, user)
        outcomes.add(c)
        if c != ours:
            diffs.append((allow, deny, user, c))
    assert outcomes == {True, False}
    assert not diffs, "\n".join(repr(d) for d in diffs[:10])

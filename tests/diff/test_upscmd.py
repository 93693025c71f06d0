"""upscmd against C upscmd 2.8.0 on the same upsd (C, and ours when present)."""

from __future__ import annotations

import pytest

from support.client_env import FakeUpsd, at, compare

ADMIN = ["-u", "admin", "-p", "secret"]

CASES = {
    "list": lambda s: ["-l", at(s, "dummy")],
    "list-unknown-ups": lambda s: ["-l", at(s, "nope")],
    "list-driver-down": lambda s: ["-l", at(s, "down")],
    "run": lambda s: [*ADMIN, at(s, "dummy"), "load.off"],
    "run-with-value": lambda s: [*ADMIN, at(s, "dummy"), "load.off", "5"],
    "run-tracking": lambda s: [*ADMIN, "-w", at(s, "dummy"), "load.off"],
    "run-tracking-timeout-0": lambda s: [*ADMIN, "-w", "-t", "0", at(s, "dummy"), "load.off"],
    "bad-password": lambda s: ["-u", "admin", "-p", "wrong", at(s, "dummy"), "load.off"],
    "unknown-user": lambda s: ["-u", "who", "-p", "x", at(s, "dummy"), "load.off"],
    "access-denied": lambda s: ["-u", "weak", "-p", "weakpw", at(s, "dummy"), "load.off"],
    "unsupported-cmd": lambda s: [*ADMIN, at(s, "dummy"), "beeper.enable"],
    "old-cmd-name": lambda s: [*ADMIN, at(s, "dummy"), "off"],
    "unknown-ups": lambda s: [*ADMIN, at(s, "nope"), "load.off"],
    "driver-down": lambda s: [*ADMIN, at(s, "down"), "load.off"],
    "connection-refused": lambda s: [*ADMIN, "dummy@127.0.0.1:1", "load.off"],
    "missing-command": lambda s: [*ADMIN, at(s, "dummy")],
    "no-args": lambda s: [],
    "help": lambda s: ["-h"],
    "version": lambda s: ["-V"],
    "bad-option": lambda s: ["-q"],
    "timeout-missing": lambda s: ["-t"],
    "timeout-invalid": lambda s: ["-t", "abc", at(s, "dummy"), "load.off"],
    "timeout-range": lambda s: ["-t", "99999999999", at(s, "dummy"), "load.off"],
    "bad-ups-name": lambda s: [*ADMIN, "dummy@127.0.0.1:", "load.off"],
    "ipv6": lambda s: [*ADMIN, at(s, "dummy", v6=True), "load.off"],
}


@pytest.mark.interop
@pytest.mark.parametrize("case", sorted(CASES))
def test_upscmd_matches_c(server, case):
    if case == "ipv6" and not server.ipv6:
        pytest.skip("no IPv6 loopback")
    c, ours = compare(server, "upscmd", CASES[case](server))
    assert ours == c


@pytest.mark.parametrize("stdin", ["admin\nsecret\n", "\nsecret\n", ""])
def test_upscmd_prompts_match_c(server, stdin):
    # No terminal here: like glibc getpass, the password prompt goes to stderr and the
    # answer comes from stdin; an empty username means the login name.
    c, ours = compare(server, "upscmd", [at(server, "dummy"), "load.off"], input=stdin)
    assert ours == c
    assert ours[0].startswith("Username (")


def test_upscmd_stale_matches_c(server):
    server.wait_stale()
    c, ours = compare(server, "upscmd", [*ADMIN, at(server, "stale"), "load.off"])
    assert ours == c == ("", "Unexpected response from upsd: ERR DATA-STALE\n", 1)


def test_upscmd_tracking_pending_then_result():
    """-w polls GET TRACKING once a second while PENDING and prints the final status."""
    tid = "2DDC5036-F665-4D29-BE4C-0374D091D263"
    replies = {"USERNAME a": b"OK\n", "PASSWORD b": b"OK\n", "SET TRACKING ON": b"OK\n",
               "INSTCMD u test.x": f"OK TRACKING {tid}\n".encode()}
    fake = FakeUpsd(replies)
    calls = []

    def tracking_reply():
        calls.append(1)
        return b"PENDING\n" if len(calls) < 2 else b"ERR FAILED\n"

    try:
        class Replies(dict):
            def get(self, key, default=None):
                if key == f"GET TRACKING {tid}":
                    return tracking_reply()
                return dict.get(self, key, default)
        fake.replies = Replies(replies)
        import subprocess

        from support.harness import our_prog
        r = subprocess.run([our_prog("upscmd"), "-u", "a", "-p", "b", "-w",
                            f"u@127.0.0.1:{fake.port}", "test.x"],
                           capture_output=True, text=True, timeout=20)
    finally:
        fake.close()
    assert (r.stdout, r.stderr, r.returncode) == ("", "ERR FAILED\n", 0)
    assert len(calls) == 2


SCRIPTED = {
    "STARTTLS": b"ERR FEATURE-NOT-CONFIGURED\n",
    "LIST CMD u": b"BEGIN LIST CMD u\nCMD u a.b\nCMD u c.d\nEND LIST CMD u\n",
    "GET CMDDESC u a.b": b'CMDDESC u a.b "Does \\"a\\""\n',
    "GET CMDDESC u c.d": b"ERR UNKNOWN-UPS\n",
    "LIST CMD mid": b"BEGIN LIST CMD mid\nCMD mid a.b\nERR DATA-STALE\n",
    "LIST CMD old": b"ERR UNKNOWN-COMMAND\n",
    "LIST CMD short": b"BEGIN LIST CMD short\nCMD short\nEND LIST CMD short\n",
    "USERNAME x": b"ERR ALREADY-SET-USERNAME\n",
    "PASSWORD y": b"OK\n",
    "INSTCMD u a.b": b"OK\n",
    "INSTCMD u a.b 5": b"OK TRACKING not-an-id\n",
}


@pytest.mark.parametrize("args", [
    ["-l", "u"], ["-l", "mid"], ["-l", "old"], ["-l", "short"],
    ["-u", "x", "-p", "y", "u", "a.b"], ["-u", "x", "-p", "y", "-w", "u", "a.b", "5"],
    ["-u", "x", "-p", "y", "u", "c.d"],
], ids=lambda a: "-".join(a))
def test_upscmd_matches_c_on_scripted_replies(server, args):
    fake = FakeUpsd(SCRIPTED)
    try:
        argv = [a if a.startswith("-") or "." in a or a in ("x", "y", "5")
                else f"{a}@127.0.0.1:{fake.port}" for a in args]
        c, ours = compare(server, "upscmd", argv)
    finally:
        fake.close()
    assert ours == c

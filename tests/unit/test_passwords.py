"""nutpy.security.passwords: plaintext and hashed upsd.users entries, the CLI, LoginThrottle."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nutpy.security import passwords as pw

FAST = dict(iterations=2_000)  # tests need correctness, not cost


def test_plaintext_entries_match_exactly():
    assert pw.verify("s3cret", "s3cret")
    assert not pw.verify("s3cret", "S3cret")       # case-sensitive, like C's strcmp
    assert not pw.verify("s3cret", "s3cret ")
    assert not pw.verify("s3cret", "s3cre")
    assert not pw.verify("", "")                    # no password: never logs in
    assert not pw.verify("", "anything")
    assert pw.verify("{NOT-A-SCHEME}x", "{NOT-A-SCHEME}x")  # unknown tag = plaintext


@pytest.mark.parametrize("scheme,kw", [("pbkdf2", FAST), ("scrypt", dict(scrypt_params=(10, 8, 1)))])
def test_hashed_entries(scheme, kw):
    entry = pw.hash_password("mon pass!", scheme, **kw)
    assert pw.is_hashed(entry) and pw.check_stored(entry) is None
    assert "=" not in entry and "#" not in entry and " " not in entry  # one parseconf word
    assert pw.verify(entry, "mon pass!")
    assert pw.verify(entry, "mon pass!")            # cached success path
    assert not pw.verify(entry, "mon pass")
    assert not pw.verify(entry, entry)              # the hash is not the password
    assert pw.hash_password("mon pass!", scheme, **kw) != entry  # random salt


def test_hashed_entry_survives_upsd_users_tokenizer():
    from nutpy.common import parseconf

    entry = pw.hash_password("x", **FAST)
    lines = [l for l in parseconf.parse_text(f"[u]\n  password = {entry}\n  password={entry}\n".encode())]
    words = [l.words for l in lines if l.words]
    assert words[1] == ["password", "=", entry] and words[2] == ["password", "=", entry]


def test_entry_written_by_hand_is_understood():
    """The documented format, assembled independently of hash_password."""
    import base64
    import hashlib

    key = hashlib.pbkdf2_hmac("sha256", b"password", b"saltsaltsaltsalt", 1000, 32)
    entry = (f"{{PBKDF2-SHA256}}1000${base64.b64encode(b'saltsaltsaltsalt').decode().rstrip('=')}"
             f"${base64.b64encode(key).decode().rstrip('=')}")
    assert pw.verify(entry, "password") and not pw.verify(entry, "passwore")


@pytest.mark.parametrize("entry", [
    "{PBKDF2-SHA256}", "{PBKDF2-SHA256}1000$abc", "{PBKDF2-SHA256}10$c2FsdA$c2FsdA",
    "{PBKDF2-SHA256}x$c2FsdA$c2FsdA", "{PBKDF2-SHA256}1000$c2F=sdA$a2V5a2V5a2V5a2V5a2V5",
    "{PBKDF2-SHA256}1000$c2FsdA$a2V5", "{SCRYPT}15,8$c2FsdA$a2V5a2V5a2V5a2V5a2V5",
    "{SCRYPT}40,8,1$c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5",
    "{SCRYPT}24,64,16$c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5",
])
def test_malformed_hashed_entries_never_match(entry):
    assert pw.check_stored(entry) is not None
    assert not pw.verify(entry, entry) and not pw.verify(entry, "")


def test_non_ascii_password_refused():
    with pytest.raises(ValueError, match="printable ASCII"):
        pw.hash_password("pässword", **FAST)


def test_cli_makes_and_checks_hashes():
    def run(*args, stdin):
        return subprocess.run([sys.executable, "-m", "nutpy.security.passwords", *args], input=stdin,
                              capture_output=True, text=True, timeout=30)

    r = run("--iterations", "2000", stdin="hunter2\n")
    assert r.returncode == 0, r.stderr
    key, eq, entry = r.stdout.split()
    assert (key, eq) == ("password", "=") and pw.verify(entry, "hunter2")
    assert run("--check", entry, stdin="hunter2\n").returncode == 0
    assert run("--check", entry, stdin="hunter3\n").returncode == 1
    assert run("--check", "{PBKDF2-SHA256}junk", stdin="x\n").returncode == 2
    assert run(stdin="\n").returncode == 1


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_throttle_delays_double_up_to_the_maximum():
    clock = Clock()
    t = pw.LoginThrottle(max_delay=4, max_waiting=100, clock=clock)
    a = "192.0.2.7"
    delays = []
    for _ in range(7):
        delays.append(t.failure(a))
        clock.t += 5  # each answer has gone out before the next failure
    assert delays == [0.25, 0.5, 1, 2, 4, 4, 4]
    assert t.failure("192.0.2.8") == 0.25         # other addresses unaffected
    assert t.failures(a) == 7


def test_throttle_caps_waiting_answers_per_address():
    """At most max_waiting answers wait at a time per address; a failure beyond that is
    to be dropped (None). A slot frees when its delay is over, even if the connection
    went away earlier: closing connections does not buy more parallel guesses."""
    clock = Clock()
    t = pw.LoginThrottle(max_delay=4, max_waiting=2, clock=clock)
    a = "192.0.2.7"
    assert t.failure(a) == 0.25
    assert t.failure(a) == 0.5
    assert t.waiting(a) == 2
    assert t.failure(a) is None                  # both slots taken
    assert t.failure("192.0.2.9") == 0.25        # another address has its own
    clock.t += 0.25                              # the first answer has gone out
    assert t.waiting(a) == 1
    assert t.failure(a) == 2                     # 4th of the run (the dropped one counts)
    assert t.failure(a) is None


def test_throttle_forgets_quiet_addresses_and_is_bounded():
    clock = Clock()
    t = pw.LoginThrottle(max_delay=4, max_waiting=100, window=60, max_tracked=100,
                         clock=clock)
    t.failure("192.0.2.1")
    t.failure("192.0.2.1")
    clock.t += 61
    assert t.failure("192.0.2.1") == 0.25        # a quiet minute: back to the first step
    for i in range(500):
        t.failure(f"10.0.{i // 256}.{i % 256}")
    assert len(t) <= 100


def test_throttle_reconfigured_keeps_its_count():
    clock = Clock()
    t = pw.LoginThrottle(max_delay=4, clock=clock)
    t.failure("192.0.2.1")
    clock.t += 1
    t.configure(max_delay=16, max_waiting=1)
    assert t.failure("192.0.2.1") == 2           # second step of 1, 2, 4, ...16
    assert t.failure("192.0.2.1") is None        # one may wait


def test_throttle_keys():
    assert pw.throttle_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert pw.throttle_key("2001:db8:1:2:aaaa::1") == pw.throttle_key("2001:db8:1:2:bbbb::9")
    assert pw.throttle_key("2001:db8:1:2::1") != pw.throttle_key("2001:db8:1:3::1")
    clock = Clock()
    t = pw.LoginThrottle(max_waiting=1, clock=clock)
    t.failure("2001:db8:1:2::1")
    assert t.failure("2001:db8:1:2::99") is None  # the same /64
    assert t.failure("192.0.2.1") == 0.25


from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st


@settings(max_examples=200, deadline=None)
@given(tail=st.text(st.sampled_from(list("0123456789$,+/=abcXYZ\x00é")), max_size=40),
       tag=st.sampled_from([pw.PBKDF2_TAG, pw.SCRYPT_TAG, "", "{"]),
       given_pw=st.text(max_size=10))
def test_any_stored_value_is_handled(tag, tail, given_pw):
    """A damaged upsd.users entry is refused or accepted, never an exception."""
    import re

    assume(not re.search(r"\d{5,}", tail))  # keep accidental valid costs small
    stored = tag + tail
    assert isinstance(pw.verify(stored, given_pw), bool)
    problem = pw.check_stored(stored)
    if pw.is_hashed(stored) and problem is not None:
        assert not pw.verify(stored, given_pw)

"""tcp-wrappers check cost: nutpy.security.tcpwrappers against Debian's libwrap, same files.

Both answer the question upsd asks before each AUTH command (daemon ``upsd``, client
127.0.0.1 or 10.x, NUT user) for a hosts.allow/hosts.deny pair of realistic size.
libwrap re-reads both files on every call (as C upsd does); nutpy parses a file once per
version (mtime/size/inode) and evaluates the parsed rules. Also: the cost of checking a
hashed upsd.users password (nutpy.security.passwords) cold and cached.

Run: python -m bench.tcpwrappers [checks]
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
import time
from pathlib import Path

LIBWRAP = "/lib/x86_64-linux-gnu/libwrap.so.0"


def tables(rules: int) -> tuple[str, str]:
    allow = ["# generated: one line per monitored client"]
    for i in range(rules):
        allow.append(f"upsd : mon{i}@10.{i // 250}.{i % 250}.0/24 mon{i}@[2001:db8:{i:x}::]/48")
    allow.append("upsd : admin@127.0.0.1/32 admin@LOCAL")
    deny = ["upsd : ALL EXCEPT 127.0.0.0/255.0.0.0", "sshd : ALL"]
    return "\n".join(allow) + "\n", "\n".join(deny) + "\n"


def main() -> None:
    checks = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 5000
    from nutpy.security import passwords, tcpwrappers

    with tempfile.TemporaryDirectory() as d:
        allow_p, deny_p = Path(d) / "hosts.allow", Path(d) / "hosts.deny"
        allow, deny = tables(100)
        allow_p.write_text(allow)
        deny_p.write_text(deny)
        queries = [("127.0.0.1", "admin"), ("10.0.42.7", "mon42"), ("10.0.42.7", "mon43"),
                   ("192.0.2.1", "mon1")]

        t = time.perf_counter()
        ours = []
        for i in range(checks):
            addr, user = queries[i % len(queries)]
            ours.append(tcpwrappers.hosts_access("upsd", addr, user, client_name="localhost",
                                                 allow_path=str(allow_p),
                                                 deny_path=str(deny_p)))
        ours_us = (time.perf_counter() - t) / checks * 1e6

        c_us = None
        if os.path.exists(LIBWRAP):
            lib = ctypes.CDLL(LIBWRAP)
            lib.hosts_ctl.argtypes = [ctypes.c_char_p] * 4
            bufs = [ctypes.create_string_buffer(str(p).encode()) for p in (allow_p, deny_p)]
            ctypes.c_void_p.in_dll(lib, "hosts_allow_table").value = ctypes.addressof(bufs[0])
            ctypes.c_void_p.in_dll(lib, "hosts_deny_table").value = ctypes.addressof(bufs[1])
            t = time.perf_counter()
            theirs = []
            for i in range(checks):
                addr, user = queries[i % len(queries)]
                theirs.append(bool(lib.hosts_ctl(b"upsd", b"localhost", addr.encode(),
                                                 user.encode())))
            c_us = (time.perf_counter() - t) / checks * 1e6
            assert theirs == ours, "verdicts differ"

    print(f"tcp-wrappers check, 102-line hosts.allow, {checks} checks:")
    print(f"  nutpy   {ours_us:8.1f} us/check")
    if c_us is not None:
        print(f"  libwrap {c_us:8.1f} us/check   (nutpy/libwrap time ratio {ours_us / c_us:.2f})")
    else:
        print("  libwrap not installed: no comparison")

    entry = passwords.hash_password("bench-password")
    t = time.perf_counter()
    passwords.verify(entry, "bench-password")
    cold = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(1000):
        passwords.verify(entry, "bench-password")
    warm = (time.perf_counter() - t) / 1000
    t = time.perf_counter()
    for _ in range(1000):
        passwords.verify("plain-password", "plain-password")
    plain = (time.perf_counter() - t) / 1000
    print(f"password check: hashed (PBKDF2 {passwords.DEFAULT_PBKDF2_ITERATIONS}) "
          f"{cold * 1e3:.0f} ms cold, {warm * 1e6:.1f} us cached; plaintext {plain * 1e6:.1f} us")
    print(f"reproduce: python -m bench.tcpwrappers {checks}")


if __name__ == "__main__":
    main()

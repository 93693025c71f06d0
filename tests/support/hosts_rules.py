"""Random hosts.allow / hosts.deny tables for comparing nutpy.security.tcpwrappers with
libwrap and with C upsd: the daemon and client patterns, options and line shapes that
tables in the wild use, bad ones included."""

from __future__ import annotations

import random

DAEMONS = ["upsd", "UPSD", "ups*", "u?sd", "ALL", "KNOWN", "sshd", "upsd@ALL",
           "upsd@unknown", "upsd@127.0.0.1", ".psd", "ups.", "EXCEPT", "x*y"]
CLIENTS = ["ALL", "LOCAL", "KNOWN", "UNKNOWN", "PARANOID", "127.0.0.1", "127.0.0.0/8",
           "127.0.0.0/255.0.0.0", "127.0.0.1/32", "127.0.0.1/8", "10.0.0.0/8", "10.",
           "127.", "192.168.1.0/24", "192.168.1.128/25", "192.168.*", "*.example.com",
           ".example.com", "host.example.com", "localhost", "[::1]", "[::1]/128",
           "[2001:db8::]/32", "[::]/0", "[2001:db8::1]", "[::ffff:127.0.0.1]",
           "admin@ALL", "admin@127.0.0.1", "ADMIN@127.0.0.0/8", "mon*@ALL", "KNOWN@ALL",
           "UNKNOWN@ALL", "@netgroup", "EXCEPT", "EXCEPT", "10.0.0.1/33", "0.0.0.0/0",
           "0.0.0.0/0.0.0.0", "0x7f.0.0.0/8", "1?.0.0.5", "127.0.0.0/ 8", "[::1]/x",
           "192.168.1.200/255.255.255.255", "LOCALHOST", "host", "2001:db8::1",
           "unknown@ALL", "%FILE%"]
# No valid option with side effects: libwrap runs inside the test process (C upsd too).
OPTIONS = [None] * 8 + ["allow", "deny", " ALLOW ", "severity auth.info : allow",
                        "allow : deny", "bogus", "", "deny\\: x", "severity=warning",
                        "severity bogus.level", "keepalive", "keepalive = 1", "nice x",
                        "umask 9", "rfc931 = x"]


def random_rule(rng: random.Random, hostfile: str) -> str:
    daemons = rng.sample(DAEMONS, rng.randint(1, 3))
    clients = [hostfile if c == "%FILE%" else c
               for c in rng.sample(CLIENTS, rng.randint(1, 4))]
    sep = rng.choice([" ", ", ", ",", "\t"])
    line = f"{sep.join(daemons)}{rng.choice([':', ' : ', ': '])}{sep.join(clients)}"
    opt = rng.choice(OPTIONS)
    if opt is not None:
        line += f" :{opt}"
    if rng.random() < 0.1 and " " in line:  # continuation line
        i = line.index(" ")
        line = line[:i] + " \\\n" + line[i:]
    return line


def random_table(rng: random.Random, hostfile: str) -> str:
    lines = []
    for _ in range(rng.randint(0, 3)):
        r = rng.random()
        if r < 0.08:
            lines.append("# " + random_rule(rng, hostfile))
        elif r < 0.12:
            lines.append("   ")
        elif r < 0.15:
            lines.append(" # " + random_rule(rng, hostfile))  # not a comment for libwrap
        else:
            lines.append(random_rule(rng, hostfile))
    text = "\n".join(lines)
    if lines and rng.random() < 0.95:
        text += "\n"
    return text

"""STARTTLS session cost: C upsd 2.8.0 (NSS) against nutpy's upsd (Python ssl via
nutpy.security.tls), both serving the same certificate from the same NSS database.

Each session: connect, STARTTLS, TLS handshake verified by nutpy.security.tls.client_context
(CA + host name), VER, close. Reports the mean and median per session and the
nutpy/C ratio.

Run: python -m bench.tls [sessions]
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import REPO, free_port, port_open, wait

C_UPSD = "/lib/nut/upsd"
OUR_UPSD = str(Path(sys.executable).parent / "upsd")
HOST = "ups.example.com"


def session(port: int, ctx) -> None:
    from nutpy.security import tls

    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"STARTTLS\n")
    reply = b""
    while not reply.endswith(b"\n"):
        reply += s.recv(1)
    assert reply == tls.STARTTLS_OK, reply
    with ctx.wrap_socket(s, server_hostname=HOST) as t:
        t.sendall(b"VER\n")
        assert t.recv(200).startswith(b"Network UPS Tools")


def start(argv: list[str], etc: Path, state: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, NUT_CONFPATH=str(etc), NUT_STATEPATH=str(state),
               NUT_ALTPIDPATH=str(state))
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait(lambda: port_open(port), 15)
    except TimeoutError:
        p.kill()
        raise RuntimeError(f"{argv[0]} did not listen on {port}") from None
    return p


def main() -> None:
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 200
    sys.path.insert(0, str(REPO / "tests"))
    from nutpy.security import tls
    from support import certs  # tests/support/certs.py

    if not (os.path.exists(C_UPSD) and certs.have_nss_tools()):
        print("needs C upsd and NSS tools (apt-get install nut-server libnss3-tools)")
        return
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        ca = certs.make_ca()
        server = certs.issue(ca, HOST, [HOST])
        (root / "ca.pem").write_bytes(ca.cert_pem)
        db = certs.make_nss_db(root / "nssdb", {"ups1": server}, {"CA": (ca, "CT,,")},
                               password="pw", issuer=ca)
        ctx = tls.client_context(str(root / "ca.pem"), True)
        results = {}
        for name, prog in (("C upsd", C_UPSD), ("nutpy upsd", OUR_UPSD)):
            etc, state = root / name.replace(" ", "-") / "etc", root / name.replace(" ", "-") / "st"
            etc.mkdir(parents=True)
            state.mkdir()
            os.chmod(state, 0o770)
            port = free_port()
            (etc / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\nCERTPATH {db}\n"
                                           f"CERTIDENT ups1 pw\nALLOW_NO_DEVICE true\n")
            (etc / "ups.conf").write_text("")
            (etc / "upsd.users").write_text("[admin]\n  password = x\n")
            for f in etc.iterdir():
                os.chmod(f, 0o640)
            p = start([prog, "-u", "root", "-F"], etc, state, port)
            try:
                session(port, ctx)  # warm up
                times = []
                for _ in range(sessions):
                    t = time.perf_counter()
                    session(port, ctx)
                    times.append(time.perf_counter() - t)
                results[name] = times
            finally:
                p.terminate()
                p.wait(10)
    print(f"STARTTLS session (connect, STARTTLS, verified handshake, VER), {sessions} runs:")
    for name, times in results.items():
        print(f"  {name:11s} mean {statistics.mean(times) * 1e3:6.2f} ms   "
              f"median {statistics.median(times) * 1e3:6.2f} ms")
    c, ours = (statistics.median(results[k]) for k in ("C upsd", "nutpy upsd"))
    print(f"  nutpy/C median time ratio {ours / c:.2f}")
    print(f"reproduce: python -m bench.tls {sessions}")


if __name__ == "__main__":
    main()

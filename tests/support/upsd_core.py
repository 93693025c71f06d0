"""Driving upsd's sans-IO protocol core in unit tests: a server with one connected fake UPS
and an admin account, and a helper that feeds it request text."""

from __future__ import annotations

from nutpy.common import parseconf
from nutpy.upsd import config
from nutpy.upsd.descriptions import Descriptions
from nutpy.upsd.protocol import Server, Session
from nutpy.upsd.state import Ups


def users(text: str):
    return config.parse_users(parseconf.parse_text(text.encode()), "/etc/nut/upsd.users")


def make_server(**kw) -> tuple[Server, Ups, list[bytes]]:
    u, _ = users("[admin]\n password = pw\n actions = SET FSD\n instcmds = all\n")
    sent: list[bytes] = []
    server = Server(users=u, descriptions=Descriptions({"ups.status": "Status"}, {}), **kw)
    ups = Ups("Fake", "fake-Fake", desc='a "b"')
    server.add_ups(ups)
    ups.connected = True
    ups.reset_data()
    ups.driver_send = lambda data: sent.append(data) or True
    return server, ups, sent


def ask(server: Server, session: Session, text: str) -> bytes:
    return b"".join(server.handle(session, ln.words)
                    for ln in parseconf.Tokenizer().feed(text.encode()))

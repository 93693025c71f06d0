"""The smallest NUT network client the repeater needs: connect, ``LIST VAR``, disconnect.
Blocking sockets (it runs in the driver's worker thread). Private to the drivers; the
project's client library replaces it once available."""

from __future__ import annotations

import socket

from ..parseconf import Tokenizer

DEFAULT_PORT = 3493
TIMEOUT = 10.0
MAX_LIST_LINES = 100_000  # a runaway server cannot keep us reading forever


def split_upsname(text: str) -> tuple[str, str, int]:
    """``ups[@host[:port]]`` -> (ups, host, port); ``[v6]:port`` hosts allowed."""
    ups, _, rest = text.partition("@")
    if not ups:
        raise ValueError(text)
    host, port = rest or "localhost", DEFAULT_PORT
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise ValueError(text)
        tail = host[end + 1:]
        host = host[1:end]
        if tail.startswith(":"):
            port = int(tail[1:])
    elif host.count(":") == 1:
        host, p = host.split(":")
        port = int(p)
    if not host or not 0 < port < 65536:
        raise ValueError(text)
    return ups, host, port


class MiniClient:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._sock: socket.socket | None = None
        self._tok = Tokenizer()
        self._pending: list[list[str]] = []

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        self.close()
        sock = socket.create_connection((self.host, self.port), timeout=TIMEOUT)
        self._sock = sock
        self._tok = Tokenizer()
        self._pending = []

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.sendall(b"LOGOUT\n")
            except OSError:
                pass
            self._sock.close()
            self._sock = None

    def _line(self) -> list[str]:
        while not self._pending:
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("Server disconnected")
            self._pending.extend(line.words for line in self._tok.feed(data))
        return self._pending.pop(0)

    def list_vars(self, ups: str) -> list[tuple[str, str]]:
        if self._sock is None:
            raise ConnectionError("not connected")
        self._sock.sendall(f"LIST VAR {ups}\n".encode())
        first = self._line()
        if first[:1] == ["ERR"]:
            raise ConnectionError(" ".join(first[1:]) or "ERR")
        if first[:3] != ["BEGIN", "LIST", "VAR"]:
            raise ConnectionError(f"unexpected reply: {' '.join(first)}")
        out = []
        for _ in range(MAX_LIST_LINES):
            words = self._line()
            if words[:3] == ["END", "LIST", "VAR"]:
                return out
            if len(words) >= 4 and words[0] == "VAR":
                out.append((words[2], words[3]))
        raise ConnectionError("LIST VAR too long")

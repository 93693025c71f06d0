"""The part of ``nutauth.conf`` (NUT 2.8.6+) that the dummy-ups repeater uses: the
credentials and TLS settings for one ``host:port``.

File format (see nutauth.conf(5)): ``KEY = VALUE`` lines; global lines first, then
sections ``[user@host:port]``, ``[@host:port]``, ``[@host]``, ``[host]``, ``[host:port]``,
``[:port]``; ``INCLUDE``/``INCLUDE_REQUIRED <file>``. Only the global scope and the
``@host:port`` section are consulted here (the repeater has no user name of its own, as
in C, which looks up ``NULL@host:port``); the section's keys win over the global ones.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from ..common import paths
from ..common.parseconf import parse_text
from ..proto.netproto import PORT as DEFAULT_PORT

KEY_ALIASES = {"user": "user", "username": "user", "pass": "pass", "password": "pass",
               "certpath": "certpath", "certfile": "certfile",
               "certident_name": "certident_name", "certident_pass": "certident_pass",
               "sslbackend": "sslbackend", "certhost": "certhost",
               "certverify": "certverify", "forcessl": "forcessl"}
MAX_INCLUDE_DEPTH = 10


class AuthConfError(Exception):
    pass


@dataclass
class AuthSettings:
    user: str | None = None
    password: str | None = None
    certpath: str | None = None
    certfile: str | None = None
    certhost: str | None = None
    certverify: bool = False
    forcessl: bool = False

    @property
    def has_credentials(self) -> bool:
        return bool(self.user) and self.password is not None


@dataclass
class AuthConf:
    globals: dict[str, str] = field(default_factory=dict)
    sections: dict[str, dict[str, str]] = field(default_factory=dict)

    def settings_for(self, host: str, port: int) -> AuthSettings:
        merged = dict(self.globals)
        merged.update(self.sections.get(normalize_title(f"@{host}:{port}"), {}))
        return AuthSettings(
            user=merged.get("user"), password=merged.get("pass"),
            certpath=merged.get("certpath"), certfile=merged.get("certfile"),
            certhost=merged.get("certhost"),
            certverify=_boolean(merged.get("certverify")),
            forcessl=_boolean(merged.get("forcessl")))


def _boolean(text: str | None) -> bool:
    return (text or "").strip().lower() in ("on", "yes", "1", "true", "enabled")


def normalize_title(title: str) -> str:
    """Any accepted section title as ``user@host:port`` (user possibly empty)."""
    user, at, rest = title.rpartition("@")
    if not at:
        user, rest = "", title
    host, port = rest, ""
    if host.startswith("["):  # [v6addr]:port
        end = host.find("]")
        if end > 0:
            host, port = host[1:end], host[end + 2:] if host[end + 1:end + 2] == ":" else ""
    elif host.count(":") == 1:
        host, port = host.split(":")
    host = host or "localhost"
    if not port:
        port = str(DEFAULT_PORT)
    elif not port.isdigit():
        try:
            port = str(socket.getservbyname(port, "tcp"))
        except OSError:
            pass
    return f"{user}@{host}:{int(port) if port.isdigit() else port}"


def default_file() -> str | None:
    """The file C would pick when none is named: $NUT_AUTHCONF_FILE, else
    $NUT_AUTHCONF_PATH/nutauth.conf, else ~/.config/nut/nutauth.conf, ~/.nutauth.conf,
    <confpath>/nutauth.conf; None when the chosen candidate is missing."""
    if "NUT_AUTHCONF_FILE" in os.environ:
        candidates = [os.environ["NUT_AUTHCONF_FILE"]]
    elif "NUT_AUTHCONF_PATH" in os.environ:
        candidates = [os.path.join(os.environ["NUT_AUTHCONF_PATH"], "nutauth.conf")]
    else:
        home = os.environ.get("HOME")
        candidates = ([os.path.join(home, ".config/nut/nutauth.conf"),
                       os.path.join(home, ".nutauth.conf")] if home else [])
        candidates.append(paths.conf_file("nutauth.conf"))
    for path in candidates:
        if os.path.exists(path):
            return path
    return None


def load(path: str) -> AuthConf:
    conf = AuthConf()
    _read_into(conf, path, None, 0)
    return conf


def _read_into(conf: AuthConf, path: str, scope: str | None, depth: int) -> None:
    """Read ``path``; ``scope`` is the section of the including file (None = global)."""
    if depth > MAX_INCLUDE_DEPTH:
        raise AuthConfError(f"{path}: includes nested too deeply")
    with open(path, "rb") as f:
        data = f.read()
    current = scope
    skipping = False  # a section of an included file that is not the including section
    for line in parse_text(data):
        if line.error:
            raise AuthConfError(f"Parse error: {path}:{line.lineno}: {line.error}")
        words = line.words
        if not words:
            continue
        first = words[0]
        if len(first) >= 2 and first[0] == "[" and first[-1] == "]":
            title = first[1:-1]
            if title in ("", "_global_defaults"):
                name = None
            else:
                name = normalize_title(title)
            skipping = scope is not None and name != scope
            current = name
            if name is not None and not skipping:
                conf.sections.setdefault(name, {})
            continue
        if skipping:
            continue
        keyword = first.upper()
        if keyword in ("INCLUDE", "INCLUDE_REQUIRED") and len(words) >= 2:
            target = words[-1]
            if not os.path.isabs(target):
                target = os.path.join(os.path.dirname(path), target)
            if os.path.exists(target) or keyword == "INCLUDE_REQUIRED":
                try:
                    _read_into(conf, target, current, depth + 1)
                except OSError as e:
                    raise AuthConfError(f"{path}:{line.lineno}: can't include {target}: "
                                        f"{e.strerror}") from None
            continue
        if len(words) >= 3 and words[1] == "=":
            key = KEY_ALIASES.get(first.lower())
            if key is None:
                continue
            target_dict = conf.globals if current is None else conf.sections[current]
            if key == "user" and current is not None and not current.startswith("@"):
                continue  # [user@host] fixes the user
            target_dict[key] = words[2]

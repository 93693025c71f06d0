"""The upsd network protocol 1.3 as a sans-IO state machine.

``Server`` holds what every connection shares (UPS table, users, tracking table,
descriptions); ``Session`` what one connection owns (USERNAME, PASSWORD, LOGIN, tracking
flag). ``Server.handle(session, words)`` runs one tokenized request and returns the reply
bytes, with C upsd's exact bytes, check order and error codes (see
``/work/shared/spec/net-protocol.md``). Side effects towards drivers go through
``Ups.driver_send``, logging through ``Server.log``; both are plain callables the daemon
plugs in, so tests drive the core without sockets or clocks.

Account checks are ``Server.auth`` (``nutpy.upsd.auth``). Slow checks (a hashed upsd.users
password, a tcp-wrappers rule that needs a host name) never run inside ``handle``: when one
cannot be answered at once, ``handle`` returns a ``Deferred`` instead of bytes. The caller
runs ``Deferred.work()`` wherever it likes (a worker thread) and passes its result to
``Deferred.resume``, which answers the request as if the check had run in place (same bytes,
same check order, throttle counted). With the failed-login throttle on, a request whose
password was wrong is answered with a ``Held``: the same bytes, to be sent after a delay
(or the connection closed); a right password is never held. The UPS table and the reply caches are
``nutpy.upsd.state``'s.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from .. import NUT_VERSION, VERSION_TEXT
from ..common.cnum import atoi
from ..common.parseconf import encode
from ..proto import netproto as np
from ..proto import sockproto
from ..proto.netproto import MAX_REPLY as MAX_LINE
from ..proto.netproto import NETVER, err
from ..proto.netproto import reply as line
from ..proto.sockproto import FLAG_RW, FLAG_STRING
from .auth import DROP, Auth, Deferred, Held, Slow, nolog
from .config import Users
from .descriptions import Descriptions
from .state import ReplyCache, Ups

VER_TEXT = f"Network UPS Tools upsd {VERSION_TEXT} - http://www.networkupstools.org/"
HELP_TEXT = ("Commands: HELP VER PROTVER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME "
             "PASSWORD STARTTLS")

# GET TRACKING text for a driver's TRACKING result; PENDING until the driver answers
PENDING = -1
_TRACKING_TEXT = {PENDING: "PENDING", **sockproto.TRACKING_TEXT}


E_ACCESS_DENIED = err(np.ACCESS_DENIED)
E_UNKNOWN_UPS = err(np.UNKNOWN_UPS)
E_VAR_NOT_SUPPORTED = err(np.VAR_NOT_SUPPORTED)
E_CMD_NOT_SUPPORTED = err(np.CMD_NOT_SUPPORTED)
E_INVALID_ARGUMENT = err(np.INVALID_ARGUMENT)
E_INSTCMD_FAILED = err(np.INSTCMD_FAILED)
E_SET_FAILED = err(np.SET_FAILED)
E_READONLY = err(np.READONLY)
E_TOO_LONG = err(np.TOO_LONG)
E_INVALID_VALUE = err(np.INVALID_VALUE)
E_FEATURE_NOT_SUPPORTED = err(np.FEATURE_NOT_SUPPORTED)
E_FEATURE_NOT_CONFIGURED = err(np.FEATURE_NOT_CONFIGURED)
E_ALREADY_SSL_MODE = err(np.ALREADY_SSL_MODE)
E_DRIVER_NOT_CONNECTED = err(np.DRIVER_NOT_CONNECTED)
E_DATA_STALE = err(np.DATA_STALE)
E_ALREADY_LOGGED_IN = err(np.ALREADY_LOGGED_IN)
E_ALREADY_SET_PASSWORD = err(np.ALREADY_SET_PASSWORD)
E_ALREADY_SET_USERNAME = err(np.ALREADY_SET_USERNAME)
E_USERNAME_REQUIRED = err(np.USERNAME_REQUIRED)
E_PASSWORD_REQUIRED = err(np.PASSWORD_REQUIRED)
E_UNKNOWN_COMMAND = err(np.UNKNOWN_COMMAND)
OK = b"OK\n"


def new_tracking_id() -> str:
    """A random UUIDv4 in upper case (C uses an unseeded rand(); we use real randomness)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex().upper()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class Session:
    """One client connection's protocol state."""

    __slots__ = ("addr", "local", "username", "password", "loginups", "tracking", "ssl",
                 "logout", "starttls", "answers", "hold")

    def __init__(self, addr: str, local: str | None = None) -> None:
        self.addr = addr
        self.local = local  # our address on this connection (tcp-wrappers daemon@host)
        self.username: str | None = None
        self.password: str | None = None
        self.loginups: str | None = None  # canonical UPS name once logged in
        self.tracking = False
        self.ssl = False
        self.logout = False  # LOGOUT seen: close once this read chunk is done
        self.starttls = False  # OK STARTTLS sent: upgrade before reading more
        # results of slow checks run off the loop for the request being resumed
        self.answers: dict | None = None
        # set by a wrong password with the throttle on: seconds to hold this request's
        # answer back (auth.DROP: close instead); 0.0 otherwise
        self.hold = 0.0


class Server:
    def __init__(self, users: Users | None = None, descriptions: Descriptions | None = None,
                 log: Callable[[str, str], None] = nolog,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ups: dict[str, Ups] = {}  # lower-case name -> Ups
        self.ups_order: list[Ups] = []  # LIST UPS order
        # the daemon may plug in another log later: account messages follow it
        self.auth = Auth(users, lambda level, msg: self.log(level, msg), clock)
        self.descriptions = descriptions or Descriptions()
        self.log = log
        self.clock = clock
        self.sessions: dict[int, Session] = {}  # in connection order (LIST CLIENT: newest first)
        self.tracking: dict[str, list] = {}  # upper id -> [status, time]
        self.trackingdelay = 3600
        self.tls_state = "unconfigured"  # "unconfigured" | "ready" | "unsupported"
        self._commands = {
            "VER": self._ver, "NETVER": self._netver, "PROTVER": self._netver,
            "HELP": self._help, "STARTTLS": self._starttls, "GET": self._get,
            "LIST": self._list, "USERNAME": self._username, "PASSWORD": self._password,
            "LOGIN": self._login, "LOGOUT": self._logout, "PRIMARY": self._primary,
            "MASTER": self._master, "FSD": self._fsd, "SET": self._set,
            "INSTCMD": self._instcmd,
        }
        self._auth = {"LOGIN", "PRIMARY", "MASTER", "FSD", "SET", "INSTCMD"}
        self.reply_cache = ReplyCache(self)

    # -- UPS table -------------------------------------------------------------------
    def add_ups(self, ups: Ups, front: bool = False) -> None:
        self.ups[ups.name.lower()] = ups
        if front:
            self.ups_order.insert(0, ups)
        else:
            self.ups_order.append(ups)

    def remove_ups(self, ups: Ups) -> None:
        self.ups.pop(ups.name.lower(), None)
        self.ups_order = [u for u in self.ups_order if u is not ups]

    def find(self, name: str) -> Ups | None:
        return self.ups.get(name.lower())

    # -- sessions --------------------------------------------------------------------
    def open_session(self, session: Session) -> None:
        self.sessions[id(session)] = session

    def close_session(self, session: Session) -> None:
        if self.sessions.pop(id(session), None) is None:
            return
        if session.loginups is not None:
            ups = self.find(session.loginups)
            if ups is None:
                self.log("info", f"Tried to decrement invalid ups name ({session.loginups})")
            elif ups.numlogins > 0:
                ups.numlogins -= 1

    # -- tracking --------------------------------------------------------------------
    def tracking_set(self, ident: str, value: str) -> None:
        entry = self.tracking.get(ident.upper())
        if entry is not None:
            entry[0] = atoi(value)
        if not value.startswith("PENDING"):
            self.log("info", f"tracking ID: {ident}\tresult: {self.tracking_get(ident)}")

    def tracking_get(self, ident: str) -> str:
        entry = self.tracking.get(ident.upper())
        if entry is None:
            return "ERR UNKNOWN"
        return _TRACKING_TEXT.get(entry[0], "ERR UNKNOWN")

    def tracking_cleanup(self) -> None:
        now = self.clock()
        old = [k for k, (_, t) in self.tracking.items() if now - t > self.trackingdelay]
        for k in old:
            del self.tracking[k]

    # -- dispatch --------------------------------------------------------------------
    def handle(self, session: Session, words: list[str]) -> bytes | Deferred | Held:
        """The reply to one request; or a ``Deferred`` when a slow check must run first
        (nothing has changed then: the request is run again with the check's answer); or a
        ``Held`` when a wrong password's answer must wait (failed-login throttle)."""
        try:
            reply = self._handle(session, words)
        except Slow as e:
            return self._deferred(session, words, e)
        if session.hold:
            return self._held(session, reply)
        return reply

    @staticmethod
    def _held(session: Session, reply: bytes) -> Held:
        hold, session.hold = session.hold, 0.0
        return Held(reply, None if hold == DROP else hold)

    def _deferred(self, session: Session, words: list[str], slow: Slow) -> Deferred:
        known = dict(session.answers or ())

        def resume(result: object) -> bytes | Deferred | Held:
            answers = dict(known)
            answers[slow.key] = result
            session.answers = answers
            try:
                reply = self._handle(session, words)
            except Slow as e:
                return self._deferred(session, words, e)
            finally:
                session.answers = None
            if session.hold:
                return self._held(session, reply)
            return reply

        return Deferred(slow.work, resume)

    def _handle(self, session: Session, words: list[str]) -> bytes:
        # C marks a LOGOUT by zeroing the idle timer, which the next command refreshes:
        # a command after LOGOUT in the same read keeps the connection open.
        session.logout = False
        if not words:
            return E_UNKNOWN_COMMAND
        name = words[0].upper()
        func = self._commands.get(name)
        if func is None:
            return E_UNKNOWN_COMMAND
        if name in self._auth:
            if session.username is None:
                return E_USERNAME_REQUIRED
            if session.password is None:
                return E_PASSWORD_REQUIRED
            auth = self.auth
            if auth.hosts_access is not None and not auth.hosts_ok(session):
                return E_ACCESS_DENIED
        return func(session, words[1:])

    def _lookup(self, name: str) -> tuple[Ups | None, bytes | None]:
        ups = self.ups.get(name.lower())
        if ups is None:
            return None, E_UNKNOWN_UPS
        if not ups.connected:
            return None, E_DRIVER_NOT_CONNECTED
        if ups.stale:
            return None, E_DATA_STALE
        return ups, None

    # -- simple commands -------------------------------------------------------------
    def _ver(self, s: Session, args: list[str]) -> bytes:
        return E_INVALID_ARGUMENT if args else line(VER_TEXT)

    def _netver(self, s: Session, args: list[str]) -> bytes:
        return E_INVALID_ARGUMENT if args else NETVER.encode() + b"\n"

    def _help(self, s: Session, args: list[str]) -> bytes:
        return E_INVALID_ARGUMENT if args else line(HELP_TEXT)

    def _starttls(self, s: Session, args: list[str]) -> bytes:
        if s.ssl:
            return E_ALREADY_SSL_MODE
        if self.tls_state == "unsupported":
            return E_FEATURE_NOT_SUPPORTED
        if self.tls_state != "ready":
            return E_FEATURE_NOT_CONFIGURED
        s.starttls = True
        return b"OK STARTTLS\n"

    def _username(self, s: Session, args: list[str]) -> bytes:
        if len(args) != 1:
            return E_INVALID_ARGUMENT
        if s.username is not None:
            self.log("info", f"Client {s.username}@{s.addr} tried to set a username twice")
            return E_ALREADY_SET_USERNAME
        s.username = args[0]
        return OK

    def _password(self, s: Session, args: list[str]) -> bytes:
        if len(args) != 1:
            return E_INVALID_ARGUMENT
        if s.password is not None:
            if s.username is not None:
                self.log("info", f"Client {s.username}@{s.addr} tried to set a password twice")
            else:
                self.log("info", f"Client on {s.addr} tried to set a password twice")
            return E_ALREADY_SET_PASSWORD
        s.password = args[0]
        return OK

    def _login(self, s: Session, args: list[str]) -> bytes:
        if len(args) != 1:
            return E_INVALID_ARGUMENT
        if s.loginups is not None:
            self.log("info", f"Client {s.username}@{s.addr} tried to login twice")
            return E_ALREADY_LOGGED_IN
        ups = self.find(args[0])
        if ups is None:
            return E_UNKNOWN_UPS
        if not self.auth.may(s, "login"):
            return E_ACCESS_DENIED
        ups.numlogins += 1
        s.loginups = ups.name
        self.log("info", f"User {s.username}@{s.addr} logged into UPS [{ups.name}]"
                         + (" (SSL)" if s.ssl else ""))
        return OK

    def _logout(self, s: Session, args: list[str]) -> bytes:
        if args:
            return E_INVALID_ARGUMENT
        if s.loginups is not None:
            self.log("info", f"User {s.username}@{s.addr} logged out from UPS [{s.loginups}]"
                             + (" (SSL)" if s.ssl else ""))
        s.logout = True
        return b"OK Goodbye\n"

    def _primary_check(self, s: Session, args: list[str]) -> bytes | None:
        if len(args) != 1:
            return E_INVALID_ARGUMENT
        if self.find(args[0]) is None:
            return E_UNKNOWN_UPS
        if not self.auth.may(s, "primary", "master"):
            return E_ACCESS_DENIED
        return None

    def _primary(self, s: Session, args: list[str]) -> bytes:
        return self._primary_check(s, args) or b"OK PRIMARY-GRANTED\n"

    def _master(self, s: Session, args: list[str]) -> bytes:
        return self._primary_check(s, args) or b"OK MASTER-GRANTED\n"

    def _fsd(self, s: Session, args: list[str]) -> bytes:
        if len(args) != 1:
            return E_INVALID_ARGUMENT
        ups = self.find(args[0])
        if ups is None:
            return E_UNKNOWN_UPS
        if not self.auth.may(s, "fsd"):
            return E_ACCESS_DENIED
        self.log("info", f"Client {s.username}@{s.addr} set FSD on UPS [{ups.name}]")
        ups.fsd = True
        return b"OK FSD-SET\n"

    # -- GET -------------------------------------------------------------------------
    def _get(self, s: Session, args: list[str]) -> bytes:
        n = len(args)
        if n < 1:
            return E_INVALID_ARGUMENT
        sub = args[0].upper()
        if sub == "TRACKING":
            if n < 2:
                return b"ON\n" if s.tracking else b"OFF\n"
            if not s.tracking:
                return E_FEATURE_NOT_CONFIGURED
            return self.tracking_get(args[1]).encode() + b"\n"
        if n < 2:
            return E_INVALID_ARGUMENT
        upsname = args[1]
        if sub == "NUMLOGINS":
            ups, e = self._lookup(upsname)
            if e:
                return e
            return line(f"NUMLOGINS {upsname} {ups.numlogins}")
        if sub == "UPSDESC":
            ups = self.find(upsname)
            if ups is None:
                return E_UNKNOWN_UPS
            if ups.desc is not None:
                return line(f'UPSDESC {upsname} "{encode(ups.desc)}"')
            return line(f'UPSDESC {upsname} "Unavailable"')
        if n < 3:
            return E_INVALID_ARGUMENT
        name = args[2]
        if sub == "VAR":
            if name[:7].lower() == "server.":
                low = name.lower()
                if low == "server.info":
                    return line(f'VAR {upsname} server.info "{VER_TEXT}"')
                if low == "server.version":
                    return line(f'VAR {upsname} server.version "{NUT_VERSION}"')
                return E_VAR_NOT_SUPPORTED
            ups, e = self._lookup(upsname)
            if e:
                return e
            var = ups.data.vars.get(name.lower())
            if var is None:
                return E_VAR_NOT_SUPPORTED
            if ups.fsd and name.lower() == "ups.status":
                return line(f'VAR {upsname} {name} "FSD {var.value}"')
            out = f'VAR {upsname} {name} "{var.value}"\n'.encode("latin-1", "replace")
            return out if len(out) <= MAX_LINE else out[:MAX_LINE]
        if sub == "TYPE":
            ups, e = self._lookup(upsname)
            if e:
                return e
            var = ups.data.get(name)
            if var is None:
                return E_VAR_NOT_SUPPORTED
            text = f"TYPE {upsname} {name}"
            if var.flags & FLAG_RW:
                text += " RW"
            if var.enums:
                text += " ENUM"
            if var.ranges:
                text += " RANGE"
            if var.flags & FLAG_STRING:
                return line(f"{text} STRING:{var.aux}")
            return line(f"{text} NUMBER")
        if sub == "DESC":
            ups, e = self._lookup(upsname)
            if e:
                return e
            desc = self.descriptions.var(name)
            return line(f'DESC {upsname} {name} "{desc or "Description unavailable"}"')
        if sub == "CMDDESC":
            ups, e = self._lookup(upsname)
            if e:
                return e
            desc = self.descriptions.cmd(name)
            return line(f'CMDDESC {upsname} {name} "{desc or "Description unavailable"}"')
        return E_INVALID_ARGUMENT

    # -- LIST ------------------------------------------------------------------------
    def _list(self, s: Session, args: list[str]) -> bytes:
        n = len(args)
        if n < 1:
            return E_INVALID_ARGUMENT
        sub = args[0].upper()
        if sub == "UPS":
            out = [b"BEGIN LIST UPS\n"]
            for ups in self.ups_order:
                desc = encode(ups.desc) if ups.desc is not None else "Description unavailable"
                out.append(line(f'UPS {ups.name} "{desc}"'))
            out.append(b"END LIST UPS\n")
            return b"".join(out)
        if n < 2:
            return E_INVALID_ARGUMENT
        upsname = args[1]
        if sub in ("VAR", "RW", "CMD"):
            ups, e = self._lookup(upsname)
            if e:
                return e
            kind = ("VAR", "RW", "CMD").index(sub)
            return ups.cached(kind, upsname, lambda: self._build_list(ups, sub, upsname))
        if sub == "CLIENT":
            ups = self.find(upsname)
            if ups is None:
                return E_UNKNOWN_UPS
            out = [line(f"BEGIN LIST CLIENT {upsname}")]
            for c in reversed(list(self.sessions.values())):
                if c.loginups is not None and c.loginups.lower() == ups.name.lower():
                    out.append(line(f"CLIENT {c.loginups} {c.addr}"))
            out.append(line(f"END LIST CLIENT {upsname}"))
            return b"".join(out)
        if n < 3:
            return E_INVALID_ARGUMENT
        name = args[2]
        if sub in ("ENUM", "RANGE"):
            ups, e = self._lookup(upsname)
            if e:
                return e
            var = ups.data.get(name)
            if var is None:
                return E_VAR_NOT_SUPPORTED
            out = [line(f"BEGIN LIST {sub} {upsname} {name}")]
            if sub == "ENUM":
                out += [line(f'ENUM {upsname} {name} "{v}"') for v in var.enums]
            else:
                out += [line(f'RANGE {upsname} {name} "{a}" "{b}"') for a, b in var.ranges]
            out.append(line(f"END LIST {sub} {upsname} {name}"))
            return b"".join(out)
        return E_INVALID_ARGUMENT

    def _build_list(self, ups: Ups, sub: str, upsname: str) -> bytes:
        out = [line(f"BEGIN LIST {sub} {upsname}")]
        if sub == "CMD":
            out += [line(f"CMD {upsname} {c}") for c in ups.data.sorted_cmds()]
        elif sub == "RW":
            out += [line(f'RW {upsname} {v.name} "{v.value}"')
                    for v in ups.data.sorted_vars() if v.flags & FLAG_RW]
        else:
            for v in ups.data.sorted_vars():
                if ups.fsd and v.name.lower() == "ups.status":
                    out.append(line(f'VAR {upsname} {v.name} "FSD {v.value}"'))
                else:
                    out.append(line(f'VAR {upsname} {v.name} "{v.value}"'))
        out.append(line(f"END LIST {sub} {upsname}"))
        return b"".join(out)

    # -- SET / INSTCMD ---------------------------------------------------------------
    def _set(self, s: Session, args: list[str]) -> bytes:
        n = len(args)
        if n < 2:
            return E_INVALID_ARGUMENT
        sub = args[0].upper()
        if sub == "VAR":
            if n < 4:
                return E_INVALID_ARGUMENT
            tracking_id = new_tracking_id() if s.tracking else None
            return self._set_var(s, args[1], args[2], args[3], tracking_id)
        if sub == "TRACKING":
            mode = args[1].upper()
            if mode == "ON":
                s.tracking = True
            elif mode == "OFF":
                s.tracking = False
            else:
                return E_INVALID_ARGUMENT
            return OK
        return E_INVALID_ARGUMENT

    def _set_var(self, s: Session, upsname: str, name: str, value: str,
                 tracking_id: str | None) -> bytes:
        ups, e = self._lookup(upsname)
        if e:
            return e
        if not self.auth.may(s, "set"):
            return E_ACCESS_DENIED
        var = ups.data.get(name)
        if var is None:
            return E_VAR_NOT_SUPPORTED
        if not var.flags & FLAG_RW:
            return E_READONLY
        if var.flags & FLAG_STRING:
            if var.aux < 1:
                self.log("warning", f"UPS [{ups.name}]: auxdata for {name} is invalid")
                return E_SET_FAILED
            if var.aux < len(value):
                return E_TOO_LONG
        if var.enums and encode(value) not in var.enums and value not in var.enums:
            return E_INVALID_VALUE
        if var.ranges:
            number = atoi(value)
            if not any(lo <= number <= hi for lo, hi in var.ranges):
                return E_INVALID_VALUE
        if tracking_id:
            self.tracking[tracking_id] = [PENDING, self.clock()]
        self.log("info", f"Set variable: {s.username}@{s.addr} set {name} on {ups.name} to "
                         f"{value} (tracking ID: {tracking_id or 'disabled'})")
        if not ups.driver_send(sockproto.set_var(name, value, tracking_id)):
            self.log("info", "Set command send failed")
            return E_SET_FAILED
        return line(f"OK TRACKING {tracking_id}") if tracking_id else OK

    def _instcmd(self, s: Session, args: list[str]) -> bytes:
        n = len(args)
        if n < 2:
            return E_INVALID_ARGUMENT
        upsname, cmdname = args[0], args[1]
        param = args[2] if n == 3 else None
        tracking_id = new_tracking_id() if s.tracking else None
        ups, e = self._lookup(upsname)
        if e:
            return e
        if not ups.data.has_cmd(cmdname):
            return E_CMD_NOT_SUPPORTED
        user = self.auth.account(s)
        if user is None or not (cmdname.lower() in user.instcmds or "all" in user.instcmds):
            return E_ACCESS_DENIED
        if tracking_id:
            self.tracking[tracking_id] = [PENDING, self.clock()]
        self.log("info", f"Instant command: {s.username}@{s.addr} did {cmdname}"
                         + (f" with value {param}" if param is not None else "")
                         + f" on {ups.name} (tracking ID: {tracking_id or 'disabled'})")
        if not ups.driver_send(sockproto.instcmd(cmdname, param, tracking_id)):
            self.log("info", "Set command send failed")
            return E_INSTCMD_FAILED
        return line(f"OK TRACKING {tracking_id}") if tracking_id else OK

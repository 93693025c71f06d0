"""``PyNUTClient``: a drop-in for NUT's ``PyNUT.PyNUTClient`` (scripts/python) on the
blocking client.
"""

from __future__ import annotations

from .blocking import Client
from .core import (
    DEFAULT_PORT,
    NutError,
    PyNUTError,
    ServerError,
    _ok_or_tracking,
    build_request,
    build_value_request,
)


class PyNUTClient:
    """Same constructor and methods as NUT's ``PyNUT.PyNUTClient`` (scripts/python).

    Dictionaries are keyed by ``bytes`` and hold ``bytes`` values like PyNUT's; errors are
    ``PyNUTError`` whose text is upsd's ``ERR ...`` line. Values are un-escaped (PyNUT
    returned the escaped text)."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, login=None,
                 password=None, debug: bool = False, timeout: float = 5,
                 connect_now: bool = True, **tls_kwargs) -> None:
        self._host, self._port, self._login, self._password = host, port, login, password
        self._debug = debug
        self._timeout = timeout
        self._tls = "force" if tls_kwargs.get("force_ssl") else (
            "try" if tls_kwargs.get("use_ssl") else False)
        self._certverify = bool(tls_kwargs.get("cert_verify"))
        self._certpath = tls_kwargs.get("ca_file") or tls_kwargs.get("ca_path")
        self._client: Client | None = None
        if connect_now:
            self.connect()

    def connect(self) -> None:
        try:
            self._client = Client(self._host, self._port, self._timeout, tls=self._tls,
                                  certverify=self._certverify, certpath=self._certpath)
            if self._login is not None:
                _ok_pynut(self._client.request(build_request("USERNAME", self._login)))
            if self._password is not None:
                _ok_pynut(self._client.request(build_request("PASSWORD", self._password)))
        except ServerError as e:
            raise PyNUTError(e.reply) from None

    def disconnect(self) -> None:
        if self._client is not None:
            self._client.logout()
            self._client = None

    def __del__(self) -> None:
        try:
            if self._client is not None:
                self._client.close()
        except Exception:
            pass

    def _call(self, fn, *args):
        if self._debug:
            print(f"[DEBUG] {fn.__name__}{args}")
        try:
            return fn(*args)
        except ServerError as e:
            raise PyNUTError(e.reply) from None

    @staticmethod
    def _b(text: str) -> bytes:
        return text.encode("latin-1", "replace")

    def GetUPSList(self) -> dict:
        ups = self._call(self._client.list_ups)
        return {self._b(k): self._b(v) for k, v in ups.items()}

    def GetUPSNames(self) -> list:
        return list(self._call(self._client.list_ups))

    def GetUPSVars(self, ups: str = "") -> dict:
        return {self._b(k): self._b(v) for k, v in self._call(self._client.list_vars, ups).items()}

    def CheckUPSAvailable(self, ups: str = "") -> bool:
        try:
            self._client.list_cmds(ups)
        except ServerError:
            return False
        return True

    def GetUPSCommands(self, ups: str = "") -> dict:
        result = {}
        for cmd in self._call(self._client.list_cmds, ups):
            try:
                desc = self._client.get_cmddesc(ups, cmd)
            except ServerError:
                desc = cmd
            result[self._b(cmd)] = self._b(desc)
        return result

    def GetRWVars(self, ups: str = "") -> dict:
        return {self._b(k): self._b(v) for k, v in self._call(self._client.list_rw, ups).items()}

    def SetRWVar(self, ups: str = "", var: str = "", value: str = "",
                 wait_interval_sec=None, wait_max_count=None):
        """``"OK"``; with both wait arguments >= 1, tracking is used and the result is
        ``"OK"`` on SUCCESS, else the ``TrackingID`` (as PyNUT does)."""
        return self._action(build_value_request("SET", "VAR", ups, var, value),
                            wait_interval_sec, wait_max_count)

    def RunUPSCommand(self, ups: str = "", command: str = "", wait_interval_sec=None,
                      wait_max_count=None):
        return self._action(build_request("INSTCMD", ups, command), wait_interval_sec,
                            wait_max_count)

    def _action(self, request: bytes, interval, count):
        wait = bool(interval and count and interval >= 1 and count >= 1)
        if wait:
            self.EnableTrackingModeOnce()
        try:
            tid = _ok_or_tracking(self._client.request(request))
        except ServerError as e:
            raise PyNUTError(e.reply) from None
        if tid is None:
            return "OK"
        if wait and self.WaitTrackingResult(tid, interval, count):
            return "OK"
        return TrackingID(tid)

    def SetTrackingMode(self, value="") -> str | None:
        """``'ON'``/``'OFF'`` (or True/False); returns the mode set, None if refused."""
        value = {"True": "ON", "False": "OFF"}.get(str(value), str(value))
        if value not in ("ON", "OFF"):
            return None
        try:
            self._client.set_tracking(value == "ON")
        except NutError:
            self._tracking = None
            return None
        self._tracking = value
        return value

    def EnableTrackingModeOnce(self) -> bool:
        return getattr(self, "_tracking", None) == "ON" or self.SetTrackingMode("ON") == "ON"

    def GetTrackingResult(self, tracking_id="") -> str:
        """``PENDING`` or ``SUCCESS``; other results raise ``PyNUTError("ERR ...")``."""
        status = self._client.get_tracking(str(tracking_id))
        if status in ("PENDING", "SUCCESS"):
            return status
        raise PyNUTError(status)

    def WaitTrackingResult(self, tracking_id="", wait_interval_sec=1, wait_max_count=10):
        """True on SUCCESS, False when still pending after the tries; ERR raises."""
        import time
        if not str(tracking_id).strip() or not wait_interval_sec or wait_interval_sec < 1 \
                or not wait_max_count or wait_max_count < 1:
            return None
        for _ in range(int(wait_max_count)):
            if self.GetTrackingResult(tracking_id) == "SUCCESS":
                return True
            time.sleep(wait_interval_sec)
        return False

    def isValidProtocolVersion(self, version_re=None) -> bool:
        try:
            result = self._client.protver()
        except NutError:
            result = self._client.request(b"NETVER\n")
        if version_re is not None:
            import re
            return re.match(version_re, result) is not None
        major, dot, minor = result.partition(".")
        return major.isdigit() and (not dot or minor.isdigit())

    def GetVariableType(self, ups: str = "", var: str = "") -> str:
        return " ".join(self._call(self._client.get_type, ups, var))

    def GetVariableDescription(self, ups: str = "", var: str = "") -> str:
        return self._call(self._client.get_desc, ups, var)

    def GetEnumList(self, ups: str = "", var: str = "") -> list:
        return self._call(self._client.list_enum, ups, var)

    def GetRangeList(self, ups: str = "", var: str = "") -> list:
        return [{"min": lo, "max": hi} for lo, hi in self._call(self._client.list_range, ups, var)]

    def GetDeviceNumLogins(self, ups: str = "") -> int:
        return self._call(self._client.num_logins, ups)

    def DeviceLogin(self, ups: str = "") -> str:
        self._call(self._client.login, ups)
        return "OK"

    def becomePrimary(self, ups: str = "") -> str:
        self._call(self._client.primary, ups)
        return "OK"

    def FSD(self, ups: str = "", becomePrimaryFirst: bool = True) -> str:
        if becomePrimaryFirst:
            self.becomePrimary(ups)
        self._call(self._client.fsd, ups)
        return "OK"

    def help(self) -> bytes:
        return self._b(self._client.help() + "\n")

    def ver(self) -> bytes:
        return self._b(self._client.ver() + "\n")

    def ListClients(self, ups: str | None = None) -> dict:
        names = [ups] if ups else self.GetUPSNames()
        if ups and ups not in self.GetUPSNames():
            raise PyNUTError("ERR UNKNOWN-UPS")
        result: dict = {}
        for name in names:
            clients = self._call(self._client.list_clients, name)
            if clients:
                result[self._b(name)] = [self._b(c) for c in clients]
        return result


class TrackingID(str):
    """A tracking id as PyNUT returns it when a tracked action is not known to be done."""

    def id(self) -> str:
        return str(self)


def _ok_pynut(line: str) -> None:
    if not line.startswith("OK"):
        raise PyNUTError(line)

"""The APC Smart protocol as C NUT's apcsmart driver (3.39, NUT 2.8.5) speaks it.

Commands are single characters; replies are lines ending in LF (CR is dropped by the line
discipline); alert characters (``!$%+#?=``) may arrive at any time and change the status
at once. The driver enters smart mode with ``Y`` (answer ``SM``), finds out what the unit
supports (firmware table for old units, else ``a`` = "protocol.alerts.commands"), checks
each variable, reads ``^Z`` for the enumerable ones, then polls ``Q`` (status register)
and the variables flagged for polling (all of them hourly). Enumerated values are set by
rotating with ``-``; the two strings (``c``, ``x``) are written as ``-`` + 8 characters.
"Nasty" commands (shutdowns, load off) only act when issued twice 3 to 15 s apart.

The reading rules (timeouts per call, ignored and alert characters, ``*`` as an answer to
shutdowns) live here; the port is injected (``read``/``write``/``flush_*``), as are the
clock and ``sleep``, so the protocol can be exercised without a device. Messages name C's
call sites ("read timeout: 866(update_status)") as C 2.8.5 does.
"""

from __future__ import annotations

import errno as _errno
import os
import re
import time
from dataclasses import dataclass
from typing import Callable

from ..serialport import CommFailures
from ..state import RW as ST_RW
from ..state import STRING as ST_STRING
from . import tables as T

HANDLED, UNKNOWN, INVALID, FAILED = 0, 1, 2, 3

ENDCHAR = 0x0A
IGN_AACHARS = b"\r|&"
ALERT_CHARS = b"$!%+#?="
IGN_CHARS = IGN_AACHARS + ALERT_CHARS
IGN_CCCHARS = b"\r|&$!%+?="
IGN_CSCHARS = b""
MINCMDTIME, MAXCMDTIME = 3, 15
STRLEN = 8
LBUF, SBUF = 512, 32
UNR_CMDS = "\x1a\x7f~')-+8QRYayz"

# read flags
D0, DX, D1, D3, AA, CC, CS, TO, HA = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80, 0x100

# status register bits
STAT_CAL, STAT_TRIM, STAT_BOOST, STAT_OL = 0x01, 0x02, 0x04, 0x08
STAT_OB, STAT_OVER, STAT_LB, STAT_RB = 0x10, 0x20, 0x40, 0x80

STATUS, GOSMART, GODUMB, CMDSET, CAPS, NEXTVAL = "Q", "Y", "R", "a", "\x1a", "-"
FW_OLD, FW_NEW = "V", "b"

CMDSET_FMT = r"^[0-9]\.[^.]*\.[^.]+(\.[^.]+)?$"
AWD_FMT, SD_FMT = r"^[0-9]{1,3}$", r"^[0-5]$"
ADV_FMT, CSHD_FMT = r"^([0-4]{1,5}|[Nn][Oo])$", r"^([0-9]\.?|[0-9]?\.[0-9])$"

_REASONS = {"R": "unacceptable utility voltage rate of change", "H": "high utility voltage",
            "L": "low utility voltage", "T": "line voltage notch or spike",
            "O": "no transfers yet since turnon", "S": "simulated power failure or UPS test"}


class Fatal(Exception):
    pass


def rexhlp(rex: str | None, val: str | None) -> bool:
    """POSIX extended regex as C's ``rexhlp``: no pattern matches anything."""
    if not rex:
        return True
    pattern = rex[:-1] + r"\Z" if rex.endswith("$") else rex
    return re.search(pattern, val or "") is not None


def prtchr(ch: str) -> str:
    return ch if ch.isprintable() and ord(ch) < 128 else f"0x{ord(ch):02x}"


def convert_data(vt: T.Var, value: str) -> str:
    fmt = vt.flags & T.F_MASK
    if fmt == T.F_HOURS:
        return str(3600 * _strtol(value))
    if fmt == T.F_MINUTES:
        return str(60 * _strtol(value))
    if fmt == T.F_REASON:
        return _REASONS.get(value[:1], value)
    return value


def _strtol(value: str) -> int:
    from ..qx.cstr import atol

    return atol(value)


@dataclass
class ApcSmart:
    state: object
    link: object                       # read(size, timeout), write(data, pace), flush_*()
    getval: Callable[[str], str | None]
    testvar: Callable[[str], bool]
    log: object
    device_path: str = ""
    upsname: str = ""
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    # upsdrv_cleanup + upsdrv_initups + upsdrv_initinfo; C exits when that fails
    reconnect: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.vartab = T.vartab()
        self.dual = T.vartab_dual()
        self.cmdtab = T.cmdtab()
        self.ups_status = 0
        self.comm = CommFailures(self.log)
        self.last_nasty = 0
        self.last_worked = 0
        self.last_full = 0

    # ---- look-ups (after detection)

    def vt_char(self, ch: str) -> T.Var | None:
        return next((v for v in self.vartab if v.flags & T.PRESENT and v.cmd == ch), None)

    def vt_name(self, name: str) -> T.Var | None:
        low = name.lower()
        return next((v for v in self.vartab if v.flags & T.PRESENT and v.name.lower() == low),
                    None)

    # ---- the line

    def read(self, flags: int, site: str, buflen: int = LBUF) -> tuple[int, str]:
        """``apc_read``: (count, line) - count -1 on errors and 0 on an allowed timeout."""
        iset, aset = IGN_CHARS, b""
        sec = 3.0
        if flags & D0:
            sec = 0.0
        if flags & DX:
            sec = 0.2
        if flags & D1:
            sec = 1.5
        if flags & D3:
            sec = 3.0
        if flags & AA:
            iset, aset = IGN_AACHARS, ALERT_CHARS
        if flags & CC:
            iset, aset, sec = IGN_CCCHARS, b"", 6.0
        if flags & CS:
            iset, aset, sec = IGN_CSCHARS, b"", 6.0
        buf = bytearray()
        while len(buf) < buflen - 1:
            err = 0
            try:
                data = self.link.read(LBUF, sec)
            except OSError as e:
                data, err = None, e.errno or _errno.EIO
            ret = -1 if data is None else len(data)
            if ret == 0 and buf:
                self.comm.fail(f"serial port partial timeout: {site}")
                return -1, ""
            if ret < 0 or (ret == 0 and not flags & TO):
                if ret:
                    self.comm.fail(f"serial port read error: {site}: {os.strerror(err)}")
                else:
                    self.comm.fail(f"serial port read timeout: {site}")
                return ret, ""
            if ret == 0:
                return 0, ""
            for byte in data:
                if len(buf) == buflen - 1:
                    self.comm.fail(f"serial port read overflow: {site}")
                    try:
                        self.link.flush_input()
                    except OSError:
                        pass
                    return -1, ""
                if byte == ENDCHAR:
                    self.comm.good()
                    return len(buf), buf.decode("latin-1")
                if flags & HA and byte == 0x2A:
                    try:
                        self.link.read(LBUF, 1.0)
                    except OSError as e:
                        self.comm.fail(f"serial port read error: {site}: "
                                       f"{os.strerror(e.errno or _errno.EIO)}")
                        return -1, ""
                    self.comm.good()
                    return 2, "OK"
                if byte == 0 or byte in iset or byte == 0x2A:
                    continue
                if byte in aset:
                    self.alert(chr(byte))
                    continue
                buf.append(byte)
        self.comm.good()
        return len(buf), buf.decode("latin-1")

    def write(self, code: str, site: str) -> int:
        try:
            ret = self.link.write(code.encode("latin-1"))
        except OSError as e:
            self.comm.fail(f"serial port write error: {site}: {os.strerror(e.errno or _errno.EIO)}")
            return -1
        if ret <= 0:
            self.comm.fail(f"serial port write error: {site}: {os.strerror(0)}")
        return ret

    def write_long(self, code: str, site: str) -> int:
        """First character, check that nothing (an ``NA``) came back, then the rest paced
        50 ms a character."""
        ret = self.write(code[0], site)
        if ret != 1:
            return ret
        ret, _ = self.read(DX | TO, "647(apc_write_long_i)")
        if ret:
            return -1
        try:
            sent = self.link.write(code[1:].encode("latin-1"), 0.05)
            err = 0
        except OSError as e:
            sent, err = -1, e.errno or _errno.EIO
        if sent >= 0:
            sent += 1
        if sent != len(code):
            self.comm.fail(f"serial port write error: {site}: {os.strerror(err)}")
        return sent

    def write_rep(self, code: str, site: str) -> int:
        """The character twice, 1.3 s apart, if nothing came back in between."""
        ret = self.write(code, site)
        if ret != 1:
            return ret
        ret, _ = self.read(DX | TO, "672(apc_write_rep_i)")
        if ret:
            return -1
        self.sleep(1.3)
        ret = self.write(code, site)
        if ret >= 0:
            ret += 1
        return ret

    def flush(self, flags: int = 0) -> None:
        """``apc_flush``; like C, a failing tcflush is ignored (the next write tells)."""
        try:
            if flags & AA:
                self.link.flush_output()
            else:
                self.link.flush_io()
        except OSError:
            return
        if flags & AA:
            while self.read(D0 | TO | AA, "693(apc_flush)")[0] > 0:
                pass

    # ---- status

    def status_set(self) -> None:
        s, st = self.ups_status, self.state.status
        st.init()
        for bit, name in ((STAT_CAL, "CAL"), (STAT_TRIM, "TRIM"), (STAT_BOOST, "BOOST"),
                          (STAT_OL, "OL"), (STAT_OB, "OB"), (STAT_OVER, "OVER"),
                          (STAT_LB, "LB"), (STAT_RB, "RB")):
            if s & bit:
                st.set(name)
        if s == 0:
            st.set("OFF")
        st.commit()

    def alert(self, ch: str) -> None:
        change = {"!": (STAT_OL, STAT_OB, "OB"), "$": (STAT_OB, STAT_OL, "OL"),
                  "%": (0, STAT_LB, "LB"), "+": (STAT_LB, 0, "not LB"),
                  "#": (0, STAT_RB, "RB"), "?": (0, STAT_OVER, "OVER"),
                  "=": (STAT_OVER, 0, "not OVER")}.get(ch)
        if change is None:
            self.log.debug(1, f"alert_handler: got 0x{ord(ch):02x} (unhandled)")
        else:
            clear, set_, what = change
            self.log.debug(1, f"alert_handler: {what}")
            self.ups_status = (self.ups_status & ~clear) | set_
        self.status_set()

    def update_status(self) -> bool:
        self.log.debug(1, f"update_status: [{STATUS}]")
        self.flush(AA)
        if self.write(STATUS, "864(update_status)") != 1:
            return False
        ret, buf = self.read(AA, "866(update_status)")
        if ret < 1 or buf == "NA":
            if ret >= 0:
                self.log.warning("update_status: failed")
            return False
        from ..qx.cstr import strtol

        self.ups_status = strtol(buf, 16)[0] & 0xFF
        self.status_set()
        return True

    # ---- variables

    def setinfo(self, vt: T.Var, value: str) -> None:
        if not vt.flags & T.PACK:
            self.state.setinfo(vt.name, convert_data(vt, value))
            return
        parts = value.split(",")
        more = len(parts) > T.PACK_MAX
        parts = parts[:T.PACK_MAX]
        if vt.cnt > len(parts):
            self.delinfo(vt, len(parts))
        if more:
            self.log.warning(f"packed variable {vt.name} [{prtchr(vt.cmd)}] longer than "
                             f"{T.PACK_MAX} fields,\nignoring remaining fields")
        vt.cnt = len(parts)
        for index in reversed(range(len(parts))):
            name = vt.name.replace(".0.", f".{index + 1}.", 1)
            self.state.setinfo(name, convert_data(vt, parts[index]) if parts[index] else "N/A")

    def delinfo(self, vt: T.Var, skip: int = 0) -> None:
        if not vt.flags & T.PACK:
            self.state.delinfo(vt.name)
            return
        for index in range(skip, vt.cnt):
            self.state.delinfo(vt.name.replace(".0.", f".{index + 1}.", 1))
        vt.cnt = 0

    def preread(self, vt: T.Var) -> str | None:
        self.log.debug(1, f"preread_data: {vt.name} [{prtchr(vt.cmd)}]")
        self.flush(0)
        if self.write(vt.cmd, "814(preread_data)") != 1:
            return None
        ret, buf = self.read(TO, "819(preread_data)")
        if ret < 1 or buf == "NA":
            if ret >= 0:
                self.log.error(f"preread_data: {vt.name} [{prtchr(vt.cmd)}] timed out or "
                               "not supported")
            return None
        return buf

    def poll(self, vt: T.Var) -> bool:
        if not vt.flags & T.PRESENT:
            return True
        self.log.debug(1, f"poll_data: {vt.name} [{prtchr(vt.cmd)}]")
        self.flush(AA)
        if self.write(vt.cmd, "840(poll_data)") != 1:
            return False
        ret, buf = self.read(AA, "842(poll_data)")
        if ret < 1:
            return False
        if buf == "NA":
            self.log.warning(f"poll_data: verified variable {vt.name} [{prtchr(vt.cmd)}] "
                             "returned NA, removing")
            vt.flags &= ~T.PRESENT
            self.delinfo(vt, 0)
        else:
            self.setinfo(vt, buf)
        return True

    def poll_dual(self, vt: T.DualVar) -> bool:
        if not vt.flags & T.PRESENT:
            return True
        self.log.debug(1, f"poll_data_dual: {vt.name} [0x{vt.prefix:02X} 0x{vt.sub:02X}]")
        self.flush(AA)
        try:
            if self.link.write(bytes([vt.prefix, vt.sub])) <= 0:
                return False
        except OSError:
            return False
        ret, buf = self.read(AA, "1199(poll_data_dual)")
        if ret < 1:
            return False
        if buf != "NA":
            self.state.setinfo(vt.name, buf)
        return True

    def _string_setup(self, vt: T.Var) -> None:
        if vt.flags & T.STRING:
            self.state.setflags(vt.name, ST_RW | ST_STRING)
            self.state.setaux(vt.name, STRLEN)
            vt.flags |= T.RW

    def var_verify(self, vt: T.Var) -> int:
        if vt.flags & T.MULTI:
            vt.flags |= T.PRESENT
            return -1
        value = self.preread(vt)
        if value is None or not rexhlp(vt.regex, value):
            self.log.warning(f"{vt.name} [{prtchr(vt.cmd)}] - variable invalid")
            return 0
        vt.flags |= T.PRESENT
        self.setinfo(vt, value)
        self._string_setup(vt)
        self.log.debug(1, f"{vt.name} [{prtchr(vt.cmd)}] - variable supported")
        return 1

    def deprecate_vars(self) -> None:
        for i, vt in enumerate(self.vartab):
            if not vt.flags & T.MULTI or not vt.flags & T.PRESENT:
                continue
            value = self.preread(vt)
            if value is None or not rexhlp(vt.regex, value):
                vt.flags &= ~T.PRESENT
                self.log.warning(f"{vt.name} [{prtchr(vt.cmd)}] - variable combination invalid")
                continue
            for other in self.vartab[i + 1:]:
                if other.name == vt.name or other.cmd == vt.cmd:
                    other.flags &= ~T.PRESENT
            self.setinfo(vt, value)
            self._string_setup(vt)
            self.log.debug(1, f"{vt.name} [{prtchr(vt.cmd)}] - variable combination supported")

    def getcaps(self, qco: int) -> None:
        firmware = self.state.get("ups.firmware")
        upsloc = firmware[-1] if firmware else "\0"
        self.flush(0)
        if self.write(CAPS, "1005(apc_getcaps)") != 1:
            return
        ret, caps = self.read(CC | TO, "1013(apc_getcaps)")
        if ret < 1 or caps == "NA":
            if ret >= 0:
                self.log.warning("APC cannot do capabilities but said it could !")
            return
        end = len(caps)
        buf = caps + "\0" * (LBUF + 8)  # C reads on into the zeroed buffer
        if caps[0] != "#":
            self.log.warning(f"unknown capability start char [{caps[0]}] !")
            self.log.debug(1, f"apc_getcaps: please report this caps string: {caps}")
            return
        matrix = caps[1:2] == "#"
        ptr = 0 if matrix else 1
        while buf[ptr] != "\0":
            if matrix:
                ptr += 2
            if ptr >= end:
                if qco:
                    return
                raise Fatal("capability string has overflowed, "
                            "please report this error with device details!")
            entptr = ptr + 4
            cmd, loc = buf[ptr], buf[ptr + 1]
            if ord(buf[ptr + 2]) < 48 or ord(buf[ptr + 3]) < 48:
                self.log.debug(3, f"apc_getcaps: SKIP: nument ({ord(buf[ptr + 2]) - 48}) or "
                                  f"entlen ({ord(buf[ptr + 3]) - 48}) out of range for cmd "
                                  f"{ord(cmd)} at loc {ord(loc)}")
                nument = entlen = 0
            else:
                nument, entlen = ord(buf[ptr + 2]) - 48, ord(buf[ptr + 3]) - 48
            vt = self.vt_char(cmd)
            valid = vt is not None and (loc == upsloc or loc == "4") and not vt.flags & T.PACK
            if valid:
                self.log.debug(1, f"apc_getcaps: {vt.name} [{prtchr(cmd)}({loc})] - "
                                  "capability supported")
                self.state.setflags(vt.name, ST_RW)
                vt.flags |= T.RW | T.ENUM
            elif vt is not None and vt.flags & T.PACK:
                self.log.warning(f"WARN: packed APC variable {vt.name} [{prtchr(cmd)}] "
                                 "reported as enumerable,\nplease report it on the mailing list")
            for _ in range(nument):
                if valid:
                    entry = buf[entptr:entptr + entlen].split("\0", 1)[0]
                    self.state.addenum(vt.name, convert_data(vt, entry))
                entptr += entlen
            ptr = entptr

    def legacy_verify(self, name: str) -> None:
        for vt in self.vartab:
            if vt.name == name:
                self.var_verify(vt)

    def protocol_verify(self, ch: str) -> None:
        if ch in UNR_CMDS or ch == "\0":
            return
        found = False
        for vt in self.vartab:
            if vt.cmd == ch:
                self.var_verify(vt)
                found = True
        if found:
            return
        for ct in self.cmdtab:
            if ct.cmd == ch:
                ct.flags |= T.PRESENT
                self.state.addcmd(ct.name)
                self.log.debug(1, f"{ct.name} [{prtchr(ch)}] - command supported")
                found = True
        if not found:
            self.log.warning(f"[{prtchr(ch)}] unrecognized")

    def oldapcsetup(self) -> None:
        for name in ("ups.temperature", "ups.load", "input.voltage", "output.voltage",
                     "battery.charge", "battery.voltage", "ups.model", "ups.serial",
                     "ups.firmware", "output.current"):
            self.legacy_verify(name)
        self.deprecate_vars()
        if self.vt_name("output.current"):
            self.state.setinfo("ups.model", "Matrix-UPS")
        elif not self.vt_name("ups.model"):
            self.state.setinfo("ups.model", "Smart-UPS")

    def firmware_table_lookup(self) -> int:
        self.log.debug(1, f"firmware_table_lookup: attempting firmware lookup using "
                          f"[{prtchr(FW_OLD)}]")
        self.flush(0)
        if self.write(FW_OLD, "1308(firmware_table_lookup)") != 1:
            return 0
        ret, buf = self.read(TO, "1310(firmware_table_lookup)")
        if ret < 0:
            return 0
        if not ret or buf == "NA":
            self.log.debug(1, f"firmware_table_lookup: attempting firmware lookup using "
                              f"[{prtchr(FW_NEW)}]")
            if self.write(FW_NEW, "1321(firmware_table_lookup)") != 1:
                return 0
            ret, buf = self.read(TO, "1323(firmware_table_lookup)")
            if ret < 1:
                return 0
        self.log.debug(1, f"firmware_table_lookup: detected firmware version: {buf}")
        if buf == "451.2.I":
            self.log.debug(1, "firmware_table_lookup: WARN: quirky firmware !")
            return 2
        if rexhlp(r"^[a-fA-F0-9]{2}$", buf):
            buf = "set\x01"
        chars = T.COMPAT.get(buf)
        if chars is None:
            return 0
        self.log.debug(1, f"firmware_table_lookup: matched firmware: {buf}")
        self.state.setinfo("ups.model", "Matrix-UPS" if buf[0] in "05" else "Smart-UPS")
        self.log.debug(1, "firmware_table_lookup: parsing out supported cmds and vars")
        for ch in chars:
            self.protocol_verify(ch)
        self.deprecate_vars()
        return 1

    def getbaseinfo(self) -> bool:
        qco = self.firmware_table_lookup()
        if qco == 1:
            return True
        self.log.debug(1, f"getbaseinfo: attempting var/cmdset lookup using [{prtchr(CMDSET)}]")
        self.flush(0)
        if self.write(CMDSET, "1400(getbaseinfo)") != 1:
            return False
        ret, temp = self.read(CS | TO, "1402(getbaseinfo)")
        if ret < 0:
            return False
        if not ret or temp == "NA" or not rexhlp(CMDSET_FMT, temp):
            self.log.notice("very old or unknown APC model, support will be limited")
            self.oldapcsetup()
            return True
        self.log.debug(1, "getbaseinfo: parsing out supported cmds/vars")
        parts = temp.split(".", 3)
        cmds = parts[2]
        tail = parts[3] if len(parts) > 3 else None
        for ch in cmds:
            self.protocol_verify(ch)
        self.deprecate_vars()
        if tail:
            self.log.debug(1, "getbaseinfo: parsing dual-byte command extensions")
            self._parse_dual(tail.encode("latin-1"))
            if any(d.prefix == 0x9F and d.sub == 0xD3 and d.flags & T.PRESENT for d in self.dual):
                for vt in self.vartab:
                    if vt.cmd == "F" and vt.name == "input.frequency":
                        vt.name = "output.frequency"
                        self.log.debug(1, "getbaseinfo: remapped F -> output.frequency")
                        break
        if CAPS in cmds:
            self.log.debug(1, "getbaseinfo: parsing out caps")
            self.getcaps(qco)
        return True

    def _parse_dual(self, data: bytes) -> None:
        prefix = 0
        for j, byte in enumerate(data):
            if j + 1 < len(data) and data[j + 1] == 0x3A:
                prefix = byte
                self.log.debug(1, f"parse_cmdchars_dual: found dual-byte prefix 0x{byte:02X}")
                continue
            if byte == 0x3A:
                continue
            if prefix:
                for vt in self.dual:
                    if vt.prefix == prefix and vt.sub == byte:
                        vt.flags |= T.PRESENT
                        self.log.debug(1, f"protocol_verify_dual: dual cmd [0x{prefix:02X} "
                                          f"0x{byte:02X}] -> {vt.name} supported")

    # ---- smart mode, polling

    def smartmode(self, tries: int) -> bool:
        for _ in range(tries):
            self.flush(0)
            if self.write(GOSMART, "1578(smartmode)") != 1:
                return False
            ret, temp = self.read(TO | D1, "1582(smartmode)")
            if ret > 0 and temp == "SM":
                return True
            if ret < 0:
                self.sleep(1)
            if self.write("\x1b", "1589(smartmode)") != 1:
                return False
            self.read(TO | D1, "1593(smartmode)")
        return False

    def update_info(self, everything: bool) -> bool:
        self.log.debug(1, f"update_info: starting scan{' (all vars)' if everything else ''}")
        for vt in self.vartab:
            if not everything and not vt.flags & T.POLL:
                continue
            if not self.poll(vt):
                self.log.debug(1, "update_info: aborting scan")
                return False
        for vt in self.dual:
            if not everything and not vt.flags & T.POLL:
                continue
            if not self.poll_dual(vt):
                self.log.debug(1, "update_info: dual cmd scan abort")
                return False
        self.log.debug(1, "update_info: scan completed")
        return True

    # ---- driver hooks

    def check_options(self) -> None:
        """The checks at the start of ``upsdrv_initups``."""
        for option, fmt in (("awd", AWD_FMT), ("sdtype", SD_FMT), ("advorder", ADV_FMT),
                            ("cshdelay", CSHD_FMT)):
            val = self.getval(option)
            if val is not None and not rexhlp(fmt, val):
                raise Fatal(f"invalid value ({val}) for option '{option}'")

    def init_info(self) -> None:
        if not self.smartmode(5):
            raise Fatal(f"unable to detect an APC Smart protocol UPS on port {self.device_path}\n"
                        "check the cabling, port name or model name and try again")
        if not self.getbaseinfo():
            raise Fatal(f"Problems with communicating APC UPS on port {self.device_path}\n")
        self.state.setinfo("ups.mfr", "APC")
        model = self.state.get("ups.model") or '"unknown model"'
        serial = self.state.get("ups.serial") or "unknown serial"
        self.log.debug(1, f"upsdrv_initinfo: detected {model} [{serial}] on {self.device_path}")
        self.state.dataok()

    def poll_device(self) -> None:
        """``upsdrv_updateinfo``."""
        state = self.state
        if state.stale:
            if not self.last_worked:
                self.log.debug(1, "upsdrv_updateinfo: comm lost")
            self.last_full = 0
            count = 0
            while True:
                try:
                    data = self.link.read(1024, 1.0)
                except OSError:
                    data = b""
                if not data:
                    break
                count += 1
            if not count:
                self.sleep(1.0)
            self.last_worked += 1
            if self.last_worked < 10:
                return
            if not self.last_worked % 60 and self.reconnect is not None:
                self.log.warning("Trying to reconnect to the UPS")
                state.setinfo("driver.state", "reconnect.trying")
                self.reconnect()
                state.setinfo("driver.state", "reconnect.updateinfo")
                self.poll_device()
                state.setinfo("driver.state", "init.quiet")
            self.log.debug(1, f"upsdrv_updateinfo: nudging UPS with 'Y', iteration "
                              f"#{self.last_worked} ...")
            if not self.smartmode(1):
                return
            if self.last_worked > 10:
                self.log.warning("upsdrv_updateinfo: recovered the connection")
            self.log.debug(1, "upsdrv_updateinfo: recovered the connection")
            self.last_worked = 0
        if not self.update_status():
            state.datastale()
            return
        now = int(self.clock())
        everything = now - self.last_full > 3600
        if everything:
            self.last_full = now
        if self.update_info(everything):
            state.dataok()
        else:
            state.datastale()

    def cleanup(self) -> None:
        self.flush(0)
        self.write(GODUMB, "2320(upsdrv_cleanup)")
        self.read(TO, "2321(upsdrv_cleanup)")

    # ---- SET

    def setvar(self, name: str, val: str) -> int:
        self.log.debug(1, f"Starting apcsmart.c::setvar('{name}', '{val}')")
        vt = self.vt_name(name)
        if vt is None:
            return UNKNOWN
        if not vt.flags & T.RW:
            self.log.warning(f"setvar: [{name}] is not writable")
            return UNKNOWN
        if vt.flags & T.ENUM:
            return self._setvar_enum(vt, val)
        if vt.flags & T.STRING:
            return self._setvar_string(vt, val)
        self.log.warning(f"setvar: unknown type for [{name}]")
        return UNKNOWN

    def _setvar_enum(self, vt: T.Var, val: str) -> int:
        self.flush(AA)
        if self.write(vt.cmd, "1924(setvar_enum)") != 1:
            return FAILED
        ret, orig = self.read(AA, "1927(setvar_enum)")
        if ret < 1 or orig == "NA":
            return FAILED
        if convert_data(vt, orig) == val:
            self.log.info(f"setvar_enum: ignoring SET {vt.name}='{val}' (unchanged value)")
            return HANDLED
        for _ in range(32):
            if self.write(NEXTVAL, "1943(setvar_enum)") != 1:
                return FAILED
            ret, temp = self.read(AA, "1947(setvar_enum)")
            if ret < 1 or temp == "NA" or temp == "NO" or temp != "OK":
                return FAILED
            if self.write(vt.cmd, "1959(setvar_enum)") != 1:
                return FAILED
            ret, temp = self.read(AA, "1962(setvar_enum)")
            if ret < 1 or temp == "NA":
                return FAILED
            got = convert_data(vt, temp)
            self.log.debug(1, f"setvar_enum: rotate - got [{got}], want [{val}]")
            if got == val:
                self.log.info(f"setvar_enum: SET {vt.name}='{val}'")
                self.poll(vt)
                return HANDLED
            if got == orig:
                self.log.error(f"setvar_enum: variable {vt.name} wrapped")
                return FAILED
        self.log.error(f"setvar_enum: gave up after 6 tries for {vt.name}")
        self.poll(vt)
        return FAILED

    def _setvar_string(self, vt: T.Var, val: str) -> int:
        if len(val) > STRLEN:
            self.log.error(f"setvar_string: value ({val}) too long")
            return FAILED
        self.flush(AA)
        if self.write(vt.cmd, "2011(setvar_string)") != 1:
            return FAILED
        ret, temp = self.read(AA, "2014(setvar_string)")
        if ret < 1 or temp == "NA":
            return FAILED
        if temp == val:
            self.log.info(f"setvar_string: ignoring SET {vt.name}='{val}' (unchanged value)")
            return HANDLED
        data = NEXTVAL + val + "\r" * (STRLEN - len(val))
        if self.write_long(data, "2036(setvar_string)") != STRLEN + 1:
            return FAILED
        ret, temp = self.read(AA, "2039(setvar_string)")
        if ret < 1:
            self.log.error("setvar_string: short final read")
            return FAILED
        if temp == "NO":
            self.log.error("setvar_string: got NO at final read")
            return FAILED
        self.poll(vt)
        self.log.info(f"setvar_string: SET {vt.name}='{val}'")
        return HANDLED

    # ---- instant commands and shutdowns

    def _sdok(self, ign: bool) -> int:
        ret, temp = self.read(HA | D1 | TO, "1614(sdok)", SBUF)
        if ret < 0:
            return FAILED
        self.log.debug(1, f'sdok: got "{temp}"')
        if (not ret and ign) or temp == "OK":
            self.log.debug(1, "sdok: last shutdown cmd succeeded")
            return HANDLED
        self.log.debug(1, "sdok: last shutdown cmd failed")
        return FAILED

    def sdcmd_S(self, quiet: bool = False) -> int:
        self.flush(0)
        if not quiet:
            self.log.debug(1, f"sdcmd_S: issuing [{T.CMD_SOFTDOWN}]")
        if self.write(T.CMD_SOFTDOWN, "1635(sdcmd_S)") != 1:
            return FAILED
        return self._sdok(False)

    def sdcmd_CS(self, _arg=None) -> int:
        delay = 3.5
        val = self.getval("cshdelay")
        if val:
            from ..qx.cstr import atof

            delay = int(atof(val) * 1000000) / 1000000
        self.log.debug(1, f"sdcmd_CS: issuing CS 'hack' [{T.CMD_SIMPWF}+{T.CMD_SOFTDOWN}] "
                          f"with {delay:2.1f} sec delay")
        if self.ups_status & STAT_OL:
            self.flush(0)
            self.log.debug(1, f"sdcmd_CS: issuing [{T.CMD_SIMPWF}]")
            if self.write(T.CMD_SIMPWF, "1662(sdcmd_CS)") != 1:
                return FAILED
            ret, _ = self.read(D1 | TO, "1667(sdcmd_CS)", SBUF)
            if ret < 0:
                return FAILED
            self.sleep(delay)
        return self.sdcmd_S(True)

    def sdcmd_AT(self, awd: str | None) -> int:
        awd = awd if awd else "000"
        padto = 2 if len(awd) == 2 else 3
        code = T.CMD_GRACEDOWN + "0" * max(0, padto - len(awd)) + awd
        code = code[:SBUF - 1]
        self.log.debug(1, f"sdcmd_AT: issuing [{T.CMD_GRACEDOWN}] with {_strtol(awd) * 6} "
                          "minutes of additional wake-up delay")
        self.flush(0)
        ret = self.write_long(code, "1709(sdcmd_AT)")
        if ret != padto + 1:
            self.log.error(f"issuing [{T.CMD_GRACEDOWN}] with {padto} digits failed")
            return FAILED
        ret = self._sdok(False)
        if ret == HANDLED or padto == 3:
            return ret
        self.log.error(f"command [{T.CMD_GRACEDOWN}] with 2 digits doesn't work - try 3 digits")
        self.write(GOSMART, "1733(sdcmd_AT)")
        self.read(D1 | TO, "1735(sdcmd_AT)", SBUF)
        return FAILED

    def sdcmd_K(self, _arg=None) -> int:
        self.log.debug(1, f"sdcmd_K: issuing [{T.CMD_SHUTDOWN}]")
        self.flush(0)
        if self.write_rep(T.CMD_SHUTDOWN, "1749(sdcmd_K)") != 2:
            return FAILED
        return self._sdok(False)

    def sdcmd_Z(self, _arg=None) -> int:
        self.log.debug(1, f"sdcmd_Z: issuing [{T.CMD_OFF}]")
        self.flush(0)
        if self.write_rep(T.CMD_OFF, "1765(sdcmd_Z)") != 2:
            return FAILED
        return self._sdok(True)

    def shutdown(self) -> int:
        """``upsdrv_shutdown``: the simple (``sdtype``) or advanced (``advorder``) way."""
        if not self.smartmode(1):
            self.log.warning("upsdrv_shutdown: setting SmartMode failed !")
        if self.write(STATUS, "1868(upsdrv_shutdown)") == 1:
            ret, temp = self.read(D1, "1869(upsdrv_shutdown)")
            if ret == 1:
                from ..qx.cstr import strtol

                self.ups_status = strtol(temp, 16)[0]
            else:
                self.log.warning("upsdrv_shutdown: status read failed, assuming LB+OB")
                self.ups_status = STAT_LB | STAT_OB
        else:
            self.log.warning("upsdrv_shutdown: status write failed, assuming LB+OB")
            self.ups_status = STAT_LB | STAT_OB
        advorder = self.getval("advorder")
        if self.testvar("advorder") and advorder and advorder[0].upper() != "N":
            return self._shutdown_advanced(advorder)
        return self._shutdown_simple()

    def _shutdown_simple(self) -> int:
        sdtype = _strtol(self.getval("sdtype") or "0")
        self.log.debug(1, f"upsdrv_shutdown_simple: currently: "
                          f"{'on-line' if self.ups_status & STAT_OL else 'on battery'}, "
                          f"sdtype: {sdtype}")
        awd = self.getval("awd")
        if sdtype == 5:
            return self.sdcmd_AT(awd)
        if sdtype == 4:
            return self.sdcmd_CS()
        if sdtype == 3:
            return self.sdcmd_K()
        if sdtype == 2:
            return self.sdcmd_Z()
        if sdtype == 1:
            if not self.ups_status & STAT_OB or self.sdcmd_S() != HANDLED:
                return self.sdcmd_AT(awd)
            return HANDLED
        if self.ups_status & STAT_OL:
            return self.sdcmd_AT(awd)
        return self.sdcmd_S()

    def _shutdown_advanced(self, order: str) -> int:
        self.log.debug(1, f"upsdrv_shutdown_advanced: currently: "
                          f"{'on-line' if self.ups_status & STAT_OL else 'on battery'}, "
                          f"advorder: {order}")
        methods = (lambda a: self.sdcmd_S(), self.sdcmd_AT, self.sdcmd_K, self.sdcmd_Z,
                   self.sdcmd_CS)
        result = FAILED
        for ch in order:
            index = ord(ch) - 48
            arg = self.getval("awd") if index == 1 else None
            result = methods[index](arg)
            if result == HANDLED:
                break
        return result

    def _do_cal(self, start: bool) -> int:
        self.flush(AA)
        if self.write(STATUS, "1472(do_cal)") != 1:
            return HANDLED
        ret, temp = self.read(AA, "1478(do_cal)")
        if ret < 1 or temp == "NA":
            self.log.warning("runtime calibration state can not be determined")
            return HANDLED
        from ..qx.cstr import strtol

        calibrating = strtol(temp, 16)[0] & STAT_CAL
        if calibrating:
            if start:
                self.log.notice("runtime calibration already in progress")
                return HANDLED
            self.log.notice("stopping runtime calibration")
            site_w, site_r, what = "1499(do_cal)", "1505(do_cal)", "stop"
        else:
            if not start:
                self.log.notice("runtime calibration not occurring")
                return HANDLED
            self.log.notice("starting runtime calibration")
            site_w, site_r, what = "1524(do_cal)", "1530(do_cal)", "start"
        if self.write(T.CMD_CALTOGGLE, site_w) != 1:
            return HANDLED
        ret, temp = self.read(AA, site_r)
        if ret < 1 or temp in ("NA", "NO"):
            self.log.warning(f"{what} calibration failed, cmd returned: {temp}")
        return HANDLED

    def _do_loadon(self) -> int:
        self.flush(0)
        self.log.debug(1, f"do_loadon: issuing [{prtchr(T.CMD_ON)}]")
        if self.write_rep(T.CMD_ON, "2091(do_loadon)") != 2:
            return FAILED
        self.log.debug(1, f"do_loadon: [{prtchr(T.CMD_ON)}] completed")
        return HANDLED

    def _do_cmd(self, ct: T.Cmd) -> int:
        self.flush(AA)
        if ct.flags & T.REPEAT:
            ret, want = self.write_rep(ct.cmd, "2114(do_cmd)"), 2
        else:
            ret, want = self.write(ct.cmd, "2117(do_cmd)"), 1
        if ret != want:
            return FAILED
        ret, temp = self.read(AA, "2125(do_cmd)")
        if ret < 1:
            return FAILED
        if temp != "OK":
            self.log.error(f"do_cmd: got [{temp}] after command [{ct.name}]")
            return FAILED
        self.log.info(f"do_cmd: {ct.name} completed")
        return HANDLED

    def _nasty_window(self, ct: T.Cmd, ext: str | None) -> bool:
        now = int(self.clock())
        elapsed = now - self.last_nasty
        self.last_nasty = now
        if elapsed < MINCMDTIME or elapsed > MAXCMDTIME:
            self.log.debug(1, f"instcmd_chktime: outside window for [{ct.name} "
                              f"{ext if ext else chr(8)}] ({elapsed:2.0f})")
            return False
        return True

    def _log_power(self, kind: str, cmd: str, ext: str | None) -> None:
        what = ("a power state change operation" if kind == "change" else
                "an operation")
        tail = " which may impact power state" if kind == "maybe" else ""
        self.log.crit(f"instcmd: attempting {what} [{cmd}] [{_strarg(ext)}]{tail} on "
                      f"[{_strarg(self.upsname)}]")

    def instcmd(self, cmd: str, ext: str | None) -> int:
        self.log.debug(1, f"Starting apcsmart.c::instcmd('{cmd}', '{_strarg(ext)}')")
        ct = None
        for entry in self.cmdtab:
            if entry.name.lower() != cmd.lower():
                continue
            if entry.ext:
                if not rexhlp(entry.ext, ext):
                    continue
            elif ext:
                continue
            ct = entry
            break
        if ct is None:
            self.log.warning(f"instcmd: unknown command [{cmd}] [{_strarg(ext)}]")
            return UNKNOWN
        if not ct.flags & T.PRESENT:
            self.log.warning(f"instcmd: command [{cmd} {ext if ext else chr(8)}] recognized, "
                             "but not supported by your UPS model")
            return INVALID
        if ct.flags & T.NASTY and not self._nasty_window(ct, ext):
            return HANDLED
        low = cmd.lower()
        if low in ("calibrate.start", "calibrate.stop"):
            self._log_power("maybe", cmd, ext)
            return self._do_cal(low == "calibrate.start")
        if low == "load.on":
            self._log_power("maybe", cmd, ext)
            return self._do_loadon()
        if low == "load.off":
            self._log_power("change", cmd, ext)
            return self.sdcmd_Z()
        if low == "shutdown.stayoff":
            self._log_power("change", cmd, ext)
            return self.sdcmd_K()
        if low == "shutdown.return":
            self._log_power("change", cmd, ext)
            if not ext:
                return self.sdcmd_S()
            if ext[0].upper() == "A":
                return self.sdcmd_AT(ext[3:])
            if ext[0].upper() == "C":
                return self.sdcmd_CS()
        if low.startswith(("test.battery.st", "test.failure.st", "calibrate.st", "bypass.st",
                           "load.on", "shutdown.stop")):
            self._log_power("maybe", cmd, ext)
        elif low.startswith(("shutdown.", "load.off")):
            self._log_power("change", cmd, ext)
        return self._do_cmd(ct)


def _strarg(value: str | None) -> str:
    return "(null)" if value is None else value

"""The Q* engine of nutdrv_qx: a subdriver is a table of items (command sent, where the
value sits in the reply, how it becomes a NUT variable, instant command or writable
variable); the engine walks the table to detect the protocol, poll the device (quick polls
of the status items every poll interval, a full walk every ``pollfreq``), estimate battery
charge and runtime, and carry out instant commands and SETs.

Pure: the device is reached through a ``Transport`` (``command(bytes) -> bytes``), so the
same engine serves the serial port and the USB-to-serial bridges; the clock is passed in
(``now``); log lines go to the injected ``log``; data goes to the driver state given. C's
quirks are kept where they show (what is published, when, and which bytes are sent).
"""

from __future__ import annotations

import errno as _errno
import math
from dataclasses import dataclass, field
from typing import Callable, Protocol

from ..state import STRING
from .cstr import all_in, atof, atol, c_string, cformat, text, trim_m

SMALLBUF = 512
MAXTRIES = 3

# item flags (QX_FLAG_*)
STATIC, SEMI_STATIC, ABSENT, QUICK_POLL = 2, 4, 8, 16
CMD, SETVAR, TRIM, ENUM, RANGE, NONUT, SKIP, MAPPING_HANDLED = 32, 64, 128, 256, 512, 1024, 2048, 4096

# status bits, in the order ups.status is built
OL, LB, RB, CHRG, DISCHRG, BYPASS, CALIB, OFF, OVER, TRIM_, BOOST, FSD = (1 << i for i in range(12))
STATUS_NAMES = {"OL": OL, "LB": LB, "RB": RB, "CHRG": CHRG, "DISCHRG": DISCHRG, "BYPASS": BYPASS,
                "CAL": CALIB, "OFF": OFF, "OVER": OVER, "TRIM": TRIM_, "BOOST": BOOST, "FSD": FSD}

# instant command / SET results (driver socket protocol)
HANDLED, UNKNOWN, INVALID, FAILED, CONVERSION_FAILED = 0, 1, 2, 3, 4

DEFAULT_ONDELAY, DEFAULT_OFFDELAY, DEFAULT_POLLFREQ = "180", "30", 30

WALK_INIT, WALK_QUICK, WALK_FULL = 0, 1, 2


class Transport(Protocol):
    def command(self, cmd: bytes) -> bytes:
        """Send ``cmd`` and return the reply (b"" when none came in time). Raise OSError
        when the exchange failed (C's negative return)."""


class ConversionError(ValueError):
    """A preprocess function refused a value (C: errno EINVAL)."""


@dataclass
class InfoRW:
    value: str
    preprocess: Callable | None = None  # (engine, value) -> bool: is the value usable?


@dataclass
class Item:
    info_type: str
    info_flags: int = 0
    info_rw: list[InfoRW] | None = None
    command: str | None = None
    answer_len: int = 0
    leading: str = ""
    from_: int = 0
    to: int = 0
    dfl: str | None = None
    qxflags: int = 0
    preprocess_command: Callable | None = None  # (engine, item, bytes) -> bytes | None
    preprocess_answer: Callable | None = None   # (engine, item, length) -> int
    preprocess: Callable | None = None          # (engine, item, str) -> str | None
    answer: bytes = b""
    value: str = ""


def item(info_type, info_flags, info_rw, command, answer_len, leading, from_, to, dfl,
         qxflags, preprocess_command=None, preprocess_answer=None, preprocess=None) -> Item:
    """An item in C's column order (minus the runtime answer/value buffers)."""
    return Item(info_type, info_flags, info_rw, command, answer_len, leading or "", from_, to,
                dfl, qxflags, preprocess_command, preprocess_answer, preprocess)


@dataclass
class Subdriver:
    name: str                                   # "<protocol> <version>"
    claim: Callable[["QxEngine"], bool]
    items: Callable[[], list[Item]]             # a fresh table (flags change at run time)
    initups: Callable[["QxEngine"], None] | None = None
    initinfo: Callable[["QxEngine"], None] | None = None
    makevartable: Callable[[Callable], None] | None = None  # (addvar(name, desc, is_flag))
    accepted: str | None = None
    rejected: str | None = None

    @property
    def protocol(self) -> str:
        return self.name.split(" ", 1)[0]


class NullLog:
    def __getattr__(self, name):
        return lambda *args: None


@dataclass
class Battery:
    packs: float = 1.0
    runt_act: float = -1.0
    runt_nom: float = -1.0
    runt_est: float = 0.0
    runt_exp: float = 0.0
    volt_act: float = -1.0
    volt_high: float = -1.0
    volt_nom: float = -1.0
    volt_low: float = -1.0
    chrg_act: float = -1.0
    chrg_time: int = 43200
    load_act: float = 0.0
    load_low: float = 0.1
    load_eff: float = 1.0


class FatalError(Exception):
    """C's ``fatalx``: the driver must exit with this message."""


class CommandNotSent(OSError):
    """A transport that has no way to put this command on the wire (C's would pretend)."""


@dataclass
class QxEngine:
    state: object                       # DriverState
    transport: Transport
    getval: Callable[[str], str | None]
    testvar: Callable[[str], bool]
    subdrivers: list[Subdriver]
    log: object = field(default_factory=NullLog)
    upsname: str = ""
    debug_level: Callable[[], int] = lambda: 0
    sleep: Callable[[float], None] = lambda seconds: None  # the driver passes time.sleep

    def __post_init__(self) -> None:
        self.sub: Subdriver | None = None
        self.table: list[Item] = []
        self.pollfreq = DEFAULT_POLLFREQ
        self.ups_status = 0
        self.data_has_changed = False
        self.lastpoll = 0
        self.retry = 0
        self.errno = 0
        self.batt = Battery()
        self.battery_lastpoll = 0
        self.one_pack = False
        self.one_pack_considered = False
        self.buzzwords: list[str] = []
        self.private: dict = {}  # per-subdriver data (C's file statics)

    # ---- table look-up

    def find(self, name: str, flag: int = 0, noflag: int = 0) -> Item | None:
        low = name.lower()
        for it in self.table:
            if it.info_type.lower() != low:
                continue
            if flag and (it.qxflags & flag) != flag:
                continue
            if noflag and it.qxflags & noflag:
                continue
            return it
        self.log.debug(2, f"find_nut_info: info type {name} not found")
        return None

    def getinfo(self, name: str) -> str | None:
        return self.state.get(name)

    # ---- device exchange

    def process(self, it: Item, command: str | None = None) -> int:
        """``qx_process``: send ``command`` (or the item's) and take the reply apart.
        0 on success, -1 on failure."""
        cmd = (command if command is not None else it.command or "").encode("latin-1")
        if it.preprocess_command is not None:
            cmd = it.preprocess_command(self, it, cmd)
            if cmd is None:
                self.log.debug(4, f"qx_process: failed to preprocess command [{it.info_type}]")
                return -1
        self.errno = 0
        try:
            reply = self.transport.command(cmd)
        except OSError as e:
            self.errno = e.errno or _errno.EIO
            it.answer = b""
            self.log.debug(4, f"qx_process: failed to preprocess answer [{it.info_type}]")
            return -1
        it.answer = reply[:SMALLBUF - 1]
        # a USB subdriver may report fewer bytes than its buffer holds (C's return value)
        length = getattr(reply, "length", len(reply))
        if it.preprocess_answer is not None:
            length = it.preprocess_answer(self, it, length)
            if length < 0:
                self.log.debug(4, f"qx_process: failed to preprocess answer [{it.info_type}]")
                it.answer = b""
                return -1
        return self.process_answer(it, length)

    def process_answer(self, it: Item, length: int) -> int:
        answer = c_string(it.answer)
        sub = self.sub
        if sub and sub.rejected and text(answer).lower() == sub.rejected.lower():
            self.log.debug(2, f"qx_process_answer: query rejected by the UPS ({it.info_type})")
            self.errno = _errno.EINVAL
            return -1
        if it.answer_len and length < it.answer_len:
            self.log.debug(2, f"qx_process_answer: short reply ({it.info_type}) "
                              f"{length}<{it.answer_len}")
            self.errno = _errno.ETIMEDOUT if length == 0 or self.errno == _errno.ETIMEDOUT \
                else _errno.EINVAL
            return -1
        self.errno = 0
        if it.leading and answer[:1] != it.leading.encode("latin-1"):
            self.log.debug(2, f"qx_process_answer: {it.info_type} - invalid start character "
                              f"[{answer[:1].hex() or '00'}], expected [{ord(it.leading):02x}]")
            return -1
        if it.to and it.to < it.from_:
            self.log.debug(1, f"qx_process_answer: in {it.info_type}, starting char's position "
                              f"({it.from_}) follows ending char's one ({it.to})")
            return -1
        if answer:
            rest = answer[it.from_:]
            if it.to:
                rest = rest[:1 + it.to - it.from_]
            else:
                cr = answer.find(b"\r")
                n = (len(answer) if cr < 0 else cr) - it.from_
                if n >= 0:
                    rest = rest[:n]
            it.value = text(rest)[:SMALLBUF - 1]
        else:
            it.value = ""
        return 0

    # ---- values

    def infoval_set(self, it: Item) -> int:
        """``ups_infoval_set``: -1 on failure, 0 for a status/alarm item, 1 otherwise."""
        if it.preprocess is not None:
            try:
                value = it.preprocess(self, it, "")
            except ConversionError:
                value = None
            if value is None:
                self.log.debug(4, f"ups_infoval_set: failed to preprocess value "
                                  f"[{it.info_type}: {it.value}]")
                return -1
            if it.info_type.startswith("ups.status"):
                if value:
                    self.update_status(value)
                return 0
            if it.info_type.startswith("ups.alarm"):
                if value:
                    self.state.alarm.set(value)
                return 0
        else:
            value = it.value
            if it.qxflags & TRIM:
                value = trim_m(value, "# ")
            if (it.dfl or "").lower() != "%s":
                if not all_in(value, "0123456789 ."):
                    self.log.debug(2, f"ups_infoval_set: non numerical value "
                                      f"[{it.info_type}: {value}]")
                    return -1
                value = cformat(it.dfl, atof(value))
        if it.qxflags & NONUT:
            self.log.debug(2, f"{it.info_type}: {value}")
            return 1
        if not value:
            self.log.debug(1, f"ups_infoval_set: non significant value [{it.info_type}]")
            return -1
        it.qxflags |= MAPPING_HANDLED
        self.state.setinfo(it.info_type, value)
        if it.info_type.lower() == "battery.charge":
            self.batt.chrg_act = atol(value)
        elif it.info_type.lower() == "battery.runtime":
            self.batt.runt_act = atol(value)
        return 1

    def update_status(self, value: str) -> None:
        clear = value.startswith("!")
        name = value[1:] if clear else value
        bit = STATUS_NAMES.get(name.upper())
        if bit is None:
            self.log.debug(5, f"update_status: Warning! {name} not in list of known values")
            return
        if clear:
            self.ups_status &= ~bit
        else:
            self.ups_status |= bit

    def buzzmode_set(self, word: str) -> None:
        if word not in self.buzzwords:
            self.buzzwords.append(word)

    def set_var_flags(self, it: Item) -> None:
        """``qx_set_var``: flags, string length, enum values and ranges of a variable."""
        state = self.state
        nonut = it.qxflags & NONUT
        if not nonut:
            state.setflags(it.info_type, it.info_flags)
        if it.info_flags & STRING and not nonut:
            state.setaux(it.info_type, atol(it.info_rw[0].value))
        if it.qxflags & ENUM:
            listed = []
            for rw in self._rw_values(it):
                if nonut:
                    listed.append(rw.value)
                else:
                    state.addenum(it.info_type, rw.value)
            if nonut:
                self.log.info(f"{it.info_type}, settable values:"
                              f"{''.join(' ' + v for v in listed) or ' none'}")
        if it.qxflags & RANGE:
            ok = 0
            values = list(self._rw_values(it))
            for lo, hi in zip(values[0::2], values[1::2]):
                if nonut:
                    self.log.info(f"{it.info_type}, settable range: {lo.value}..{hi.value}")
                    ok += 1
                else:
                    lfrom, lto = atol(lo.value), atol(hi.value)
                    if lfrom > 2**31 - 1 or lto > 2**31 - 1:
                        self.log.info(f"{it.info_type}, settable range exceeds INT_MAX: "
                                      f"{lfrom}..{lto}")
                    else:
                        state.addrange(it.info_type, lfrom, lto)
            if nonut and not ok:
                self.log.info(f"{it.info_type}, settable range: none")

    def _rw_values(self, it: Item):
        for rw in it.info_rw or []:
            if not rw.value:
                break
            if rw.preprocess is not None and not rw.preprocess(self, rw.value):
                continue
            yield rw

    # ---- detection (upsdrv_initups)

    def match_subdriver(self) -> bool:
        protocol = self.getval("protocol")
        for sub in self.subdrivers:
            if protocol and sub.protocol.lower() != protocol.lower():
                self.log.debug(2, f"Skipping protocol {sub.name}")
                continue
            self.sub = sub
            self.table = sub.items()
            for _ in range(MAXTRIES):
                self.log.debug(2, f"subdriver_matcher: Trying protocol {sub.name}...")
                if sub.claim(self):
                    self.log.debug(1, f"subdriver_matcher: Trying protocol {sub.name}: "
                                      "claim succeeded")
                    self.log.info(f"Using protocol: {sub.name}")
                    return True
                self.log.debug(2, f"subdriver_matcher: Trying protocol {sub.name}: claim failed")
        self.sub, self.table = None, []
        self.log.error("Device not supported!")
        return False

    def init_ups(self) -> None:
        """What follows detection in ``upsdrv_initups``: the subdriver's own set-up."""
        if self.sub.initups is not None:
            self.sub.initups(self)

    # ---- walks

    def walk(self, mode: int, now: int = 0) -> bool:
        if mode == WALK_FULL:
            self.batt.runt_act = -1
            self.batt.chrg_act = -1
            self.one_pack_considered = False
        prev_cmd, prev_answer = "", b""
        for it in self.table:
            flags = it.qxflags
            if flags & SKIP:
                continue
            if mode == WALK_INIT:
                if flags & ABSENT:
                    if self.state.get(it.info_type) is not None:
                        continue
                    self.state.setinfo(it.info_type, it.dfl or "")
                    self.set_var_flags(it)
                    continue
                if not (it.info_type.startswith("ups.alarm") or
                        it.info_type.startswith("ups.status")):
                    if self.state.get(it.info_type) is not None:
                        continue
            elif mode == WALK_QUICK:
                if not flags & QUICK_POLL:
                    continue
            else:
                if flags & (ABSENT | CMD | SETVAR | STATIC):
                    continue
                if flags & SEMI_STATIC and not self.data_has_changed:
                    continue
            if flags & CMD:
                self.state.addcmd(it.info_type)
                continue
            if flags & SETVAR:
                if flags & NONUT:
                    self.setvar(it.info_type, None)
                    it.qxflags |= SKIP
                continue
            if prev_cmd and prev_answer and prev_cmd.lower() == (it.command or "").lower():
                it.answer = prev_answer
                retcode = self.process_answer(it, len(c_string(it.answer)))
            else:
                retcode = self.process(it)
                if retcode and getattr(self.transport, "lost", False):
                    return False  # the device went away: nothing more to read this time
            prev_cmd, prev_answer = it.command or "", c_string(it.answer)
            if retcode:
                it.answer, it.value = b"", ""
                if it.qxflags & QUICK_POLL:
                    return False
                if mode == WALK_INIT:
                    it.qxflags |= SKIP
                continue
            retcode = self.infoval_set(it)
            it.answer, it.value = b"", ""
            if retcode == -1:
                if it.qxflags & QUICK_POLL:
                    return False
                continue
            if retcode and mode == WALK_INIT:
                self.set_var_flags(it)
        if mode == WALK_FULL and (self.batt.runt_act == -1 or self.batt.chrg_act == -1):
            self._estimate_battery(now)
        return True

    # ---- battery charge / runtime guesstimation

    def _battery(self) -> int:
        """``qx_battery``: battery.voltage into volt_act, and a voltage-based charge."""
        b = self.batt
        val = self.state.get("battery.voltage")
        if val is None:
            self.log.debug(2, "qx_battery: unable to get battery.voltage")
            return -1
        b.volt_act = atof(val)
        if not self.one_pack_considered:
            b.volt_act *= b.packs
        if b.chrg_act == -1 and b.volt_low > 0 and b.volt_high > b.volt_low:
            b.chrg_act = fdiv(100 * (b.volt_act - b.volt_low), b.volt_high - b.volt_low)
            b.chrg_act = _clamp(b.chrg_act, 0.0, 100.0)
            self.state.setinfo("battery.charge", "%.0f" % b.chrg_act)
        return 0

    def _load(self) -> int:
        b = self.batt
        val = self.state.get("ups.load")
        if val is None:
            self.log.debug(2, "qx_load: unable to get ups.load")
            return -1
        b.load_act = atof(val)
        b.load_eff = _cpow(b.load_act / 100, b.runt_exp)
        if b.load_eff < b.load_low:
            b.load_eff = b.load_low
        return 0

    def _estimate_battery(self, now: int) -> None:
        b = self.batt
        if not self.getval("runtimecal"):
            self._battery()
            return
        dt = now - self.battery_lastpoll
        if self.ups_status & OL:
            b.runt_est += fdiv(b.runt_nom * dt, b.chrg_time)
            if b.runt_est > b.runt_nom:
                b.runt_est = b.runt_nom
        else:
            b.runt_est -= b.load_eff * dt
            if b.runt_est < 0:
                b.runt_est = 0
        val = self.state.get("battery.voltage")
        if val is None:
            self.log.debug(2, "qx_ups_walk: unable to get battery.voltage")
        else:
            b.volt_act = atof(val)
            if not self.one_pack_considered:
                b.volt_act *= b.packs
            if b.volt_act > 0 and b.volt_low > 0 and b.volt_high > b.volt_low:
                fraction = _clamp((b.volt_act - b.volt_low) / (b.volt_high - b.volt_low), 0.0, 1.0)
                if fraction < fdiv(b.runt_est, b.runt_nom):
                    previous = b.runt_est
                    b.runt_est = fraction * b.runt_nom
                    self.log.debug(3, f"qx_ups_walk: updating batt.runt.est from '{previous:g}' "
                                      f"to '{b.runt_est:g}'")
        if b.chrg_act == -1:
            self.state.setinfo("battery.charge", "%.0f" % fdiv(100 * b.runt_est, b.runt_nom))
        if b.runt_act == -1 and not self._load():
            self.state.setinfo("battery.runtime", "%.0f" % fdiv(b.runt_est, b.load_eff))
        self.battery_lastpoll = now

    def init_battery(self, now: int) -> None:
        """``qx_initbattery``; raises FatalError on bad runtimecal/chargetime/idleload."""
        b, state, log = self.batt, self.state, self.log
        val = state.get("battery.voltage.high")
        if val is not None:
            b.volt_high = atof(val)
        val = state.get("battery.voltage.low")
        if val is not None:
            b.volt_low = atof(val)
        val = state.get("battery.voltage.nominal")
        if val is not None:
            b.volt_nom = atof(val)
        if b.volt_nom != -1 and (b.volt_low == -1 or b.volt_high == -1):
            log.info("No values for battery high/low voltages")
            b.volt_low = 104 * b.volt_nom / 120
            b.volt_high = 130 * b.volt_nom / 120
            state.setinfo("battery.voltage.low", "%.2f" % b.volt_low)
            state.setinfo("battery.voltage.high", "%.2f" % b.volt_high)
            log.info(f"Using 'guesstimation' (low: {b.volt_low:f}, high: {b.volt_high:f})!")
        packs_known = False
        val = state.get("battery.packs")
        if val is not None and all_in(val, "0123456789 ."):
            b.packs = atof(val)
            packs_known = True
        if self.testvar("battery_voltage_reports_one_pack"):
            self.one_pack = True
            if self.one_pack_considered:
                val = state.get("battery.voltage")
                if val is not None and packs_known and b.packs > 1:
                    b.volt_act = atof(val) * b.packs
                    state.setinfo("battery.voltage", "%.2f" % b.volt_act)
        if state.get("battery.charge") is not None and state.get("battery.runtime") is not None:
            return
        if not packs_known:
            if not self._battery() and b.volt_nom != -1:
                for packs in (120, 100, 80, 60, 48, 36, 30, 24, 18, 12, 8, 6, 4, 3, 2, 1, 0.5):
                    if packs * b.volt_act > 1.25 * b.volt_nom:
                        continue
                    if packs * b.volt_act < 0.8 * b.volt_nom:
                        log.info(f"Can't autodetect number of battery packs "
                                 f"[{b.volt_nom:.0f}/{b.volt_act:.2f}]")
                        break
                    b.packs = packs
                    log.info(f"Autodetected {b.packs:.0f} as number of battery packs "
                             f"[{b.volt_nom:.0f}/{b.volt_act:.2f}]")
                    break
            else:
                log.info(f"Can't autodetect number of battery packs "
                         f"[{b.volt_nom:.0f}/{b.volt_act:.2f}]")
        self._battery()
        val = self.getval("runtimecal")
        if not val:
            log.info("Battery runtime will not be calculated (runtimecal not set)")
            return
        self.battery_lastpoll = now
        b.runt_exp, b.runt_nom = runtime_model(val)
        log.debug(2, f"qx_initbattery: battery runtime exponent: {b.runt_exp:.3f}")
        log.debug(2, f"qx_initbattery: battery runtime nominal: {b.runt_nom:.1f}")
        val = state.get("battery.charge")
        if val is None and b.volt_nom != -1:
            b.volt_low = b.volt_nom
            b.volt_high = 1.15 * b.volt_nom
            if self._battery():
                raise FatalError("Initial battery charge undetermined")
            val = state.get("battery.charge")
        if val is None:
            raise FatalError("Initial battery charge undetermined")
        b.runt_est = b.runt_nom * atof(val) / 100
        log.debug(2, f"qx_initbattery: battery runtime estimate: {b.runt_est:.1f}")
        val = self.getval("chargetime")
        if val:
            b.chrg_time = atol(val)
            if b.chrg_time <= 0:
                raise FatalError("Charge time out of range [1..s]")
            log.debug(2, f"qx_initbattery: battery charge time: {b.chrg_time}")
        else:
            log.info(f"No charge time specified, using built in default [{b.chrg_time} seconds]")
        val = self.getval("idleload")
        if val:
            b.load_low = atof(val) / 100
            if b.load_low <= 0 or b.load_low > 1:
                raise FatalError("Idle load out of range [0..100]")
            log.debug(2, f"qx_initbattery: minimum load used (idle): {b.load_low:.3f}")
        else:
            log.info(f"No idle load specified, using built in default [{100 * b.load_low:.1f} %]")

    # ---- driver hooks

    def init_info(self, now: int) -> None:
        """``upsdrv_initinfo``; raises FatalError as C's fatalx."""
        state = self.state
        state.setinfo("driver.version.data", self.sub.name)
        if not self.walk(WALK_INIT, now):
            raise FatalError("Can't initialise data from the UPS")
        self._analyze_mapping_usage()
        self.init_battery(now)
        if state.get("ups.delay.start") is not None:
            val = self.getval("ondelay")
            if val is not None and self.setvar("ups.delay.start", val) != HANDLED:
                raise FatalError(f"Start delay '{val}' out of range")
        if state.get("ups.delay.shutdown") is not None:
            val = self.getval("offdelay")
            if val is not None and self.setvar("ups.delay.shutdown", val) != HANDLED:
                raise FatalError(f"Shutdown delay '{val}' out of range")
        if not self.find("load.off", CMD, SKIP) and self.find("load.off.delay", CMD, SKIP):
            state.addcmd("load.off")
        if not self.find("load.on", CMD, SKIP) and self.find("load.on.delay", CMD, SKIP):
            state.addcmd("load.on")
        val = self.getval("pollfreq")
        if val:
            self.pollfreq = atol(val)
        state.setinfo("driver.parameter.pollfreq", str(self.pollfreq))
        self.lastpoll = now
        if self.sub.initinfo is not None:
            self.sub.initinfo(self)

    def _analyze_mapping_usage(self) -> None:
        if self.debug_level() < 1:
            return
        known = len(self.table)
        used = sum(1 for it in self.table if it.qxflags & MAPPING_HANDLED)
        if known < 10 or used < 10:
            self.log.debug(0, f"analyze_mapping_usage: {known} mapping entries are defined, "
                              f"and {used} were actually used from SNMP walk, in the selected "
                              f"NUT subdriver {self.sub.name}")

    def update_info(self, now: int) -> None:
        """``upsdrv_updateinfo``: a full walk every ``pollfreq`` s or after a change, a
        quick walk of the status items otherwise; stale after MAXTRIES failures more."""
        state, log = self.state, self.log
        state.status.init()
        self.buzzwords = []
        if now > self.lastpoll + self.pollfreq or self.data_has_changed:
            log.debug(1, "Full update...")
            self.ups_status = 0
            state.alarm.init()
            if not self.walk(WALK_FULL, now):
                self._walk_failed()
                return
            self.lastpoll = now
            self.data_has_changed = False
            if self.ups_status & RB:
                state.alarm.set("Replace battery!")
            if self.ups_status & FSD:
                state.alarm.set("Shutdown imminent!")
            state.alarm.commit()
        else:
            log.debug(1, "Quick update...")
            if not self.walk(WALK_QUICK, now):
                self._walk_failed()
                return
        self._status_set()
        if self.buzzwords:
            state.setinfo("experimental.ups.mode.buzzwords", " ".join(self.buzzwords))
        else:
            state.delinfo("experimental.ups.mode.buzzwords")
        state.status.commit()
        if self.retry > MAXTRIES:
            log.notice("Communications with the UPS re-established")
        self.retry = 0
        state.dataok()

    def _walk_failed(self) -> None:
        if self.retry <= MAXTRIES:
            self.log.debug(1, "Communications with the UPS lost: status read failed!")
            self.retry += 1
        else:
            self.state.datastale()

    @property
    def failing(self) -> bool:
        """True once polls fail (the driver may then check its port)."""
        return self.retry > 0

    def _status_set(self) -> None:
        s, st = self.ups_status, self.state.status
        st.set("OL" if s & OL else "OB")
        for bit, name in ((DISCHRG, "DISCHRG"), (CHRG, "CHRG"), (LB, "LB"), (OVER, "OVER"),
                          (RB, "RB"), (TRIM_, "TRIM"), (BOOST, "BOOST"), (BYPASS, "BYPASS"),
                          (OFF, "OFF"), (CALIB, "CAL"), (FSD, "FSD")):
            if s & bit:
                st.set(name)

    # ---- instant commands

    def instcmd(self, name: str, extra: str | None) -> int:
        log = self.log
        low = name.lower()
        if low == "beeper.off":
            log.warning("The 'beeper.off' command has been renamed to 'beeper.disable'")
            return self.instcmd("beeper.disable", None)
        if low == "beeper.on":
            log.warning("The 'beeper.on' command has been renamed to 'beeper.enable'")
            return self.instcmd("beeper.enable", None)
        log.debug(1, f"Starting nutdrv_qx.c::instcmd('{name}', '{_strarg(extra)}')")
        log.info(f"instcmd({name}, {extra if extra is not None else '[NULL]'})")
        it = self.find(name, CMD, SKIP)
        if it is None:
            return self._instcmd_fallback(low, name)
        extra = extra if extra is not None else it.dfl
        value = extra or ""
        self.errno = 0
        if it.preprocess is not None:
            try:
                value = it.preprocess(self, it, value)
            except ConversionError:
                value, self.errno = None, _errno.EINVAL
            if value is None:
                log.error("instcmd: FAILED")
                return CONVERSION_FAILED if self.errno == _errno.EINVAL else FAILED
        else:
            value = ""
        self._log_powerstate(name, extra)
        self.errno = 0
        if self.process(it, value or None):
            log.error("instcmd: FAILED")
            return CONVERSION_FAILED if self.errno == _errno.EINVAL else FAILED
        if it.value:
            if self.sub.accepted is not None and it.value.lower() == self.sub.accepted.lower():
                log.info("instcmd: SUCCEED")
                self.data_has_changed = True
                return HANDLED
            log.error("instcmd: FAILED")
            return FAILED
        log.info("instcmd: SUCCEED")
        self.data_has_changed = True
        return HANDLED

    def _instcmd_fallback(self, low: str, name: str) -> int:
        state, log = self.state, self.log
        if low == "load.on":
            return self.instcmd("load.on.delay", "0")
        if low == "load.off":
            return self.instcmd("load.off.delay", "0")
        if low in ("shutdown.return", "shutdown.stayoff"):
            auto = "yes" if low == "shutdown.return" else "no"
            if state.get("ups.start.auto") is not None:
                if self.setvar("ups.start.auto", auto) != HANDLED:
                    log.error("instcmd: FAILED")
                    return FAILED
            ret = self.instcmd("load.on.delay",
                               state.get("ups.delay.start") if auto == "yes" else "-1")
            if ret != HANDLED:
                return ret
            return self.instcmd("load.off.delay", state.get("ups.delay.shutdown"))
        log.debug(2, f"instcmd: command {name} unavailable")
        return INVALID

    def _log_powerstate(self, cmd: str, extra: str | None) -> None:
        """``upslog_INSTCMD_POWERSTATE_CHECKED`` (2.8.4+)."""
        maybe = ("shutdown.stop", "load.on", "test.battery.st", "test.failure.st",
                 "test.system.st", "calibrate.st", "bypass.st")
        change = ("shutdown.", "load.off", "load.cycle")
        what = None
        if cmd.startswith(maybe):
            what = "an operation [{}] [{}] which may impact power state"
        elif cmd.startswith(change) or (cmd.startswith("outlet.") and
                                        ("shutdown." in cmd or "load" in cmd)):
            what = "a power state change operation [{}] [{}]"
        if what:
            self.log.crit("instcmd: attempting " + what.format(cmd, _strarg(extra)) +
                          f" on [{_strarg(self.upsname)}]")

    # ---- SET

    def setvar(self, name: str, val: str | None) -> int:
        state, log = self.state, self.log
        log.debug(1, f"Starting nutdrv_qx.c::setvar('{name}', '{_strarg(val)}')")
        it = self.find(name, SETVAR, SKIP)
        if it is None:
            log.debug(2, f"setvar: element {name} unavailable")
            return UNKNOWN
        if it.qxflags & NONUT:
            if not self.testvar(it.info_type):
                log.debug(2, f"setvar: nothing to do... [{it.info_type}]")
                return HANDLED
            userval = self.getval(it.info_type)
            log.info(f"setvar({name}, {userval if userval is not None else '[NULL]'})")
            value = userval or ""
        else:
            val = val or ""
            log.info(f"setvar({name}, {val or '[NULL]'})")
            if not val:
                log.warning(f"setvar: value not given for {it.info_type}")
                return UNKNOWN
            value = val
            current = state.get(it.info_type)
            if current is not None and current.lower() == value.lower():
                log.info(f"setvar: nothing to do... [{it.info_type}]")
                return HANDLED
        if it.qxflags & RANGE:
            if not all_in(value, "0123456789 ."):
                log.warning(f"setvar: non numerical value [{it.info_type}: {value}]")
                return UNKNOWN
            wanted = atol(value)
            ok = False
            if it.qxflags & NONUT:
                if not value:
                    log.warning(f"setvar: value not given for {it.info_type}")
                    return UNKNOWN
                values = list(self._rw_values(it))
                ok = any(atol(lo.value) <= wanted <= atol(hi.value)
                         for lo, hi in zip(values[0::2], values[1::2]))
            else:
                var = state.var(it.info_type)
                if var is None or not var.ranges:
                    log.debug(2, f"setvar: unable to find tree node for {it.info_type}")
                    return UNKNOWN
                ok = any(lo <= wanted <= hi for lo, hi in var.ranges)
            if not ok:
                log.warning(f"setvar: value out of range [{it.info_type}: {value}]")
                return UNKNOWN
        elif it.qxflags & ENUM:
            if it.qxflags & NONUT:
                if not value:
                    log.warning(f"setvar: value not given for {it.info_type}")
                    return UNKNOWN
                ok = any(rw.value.lower() == value.lower() for rw in self._rw_values(it))
            else:
                var = state.var(it.info_type)
                if var is None or not var.enums:
                    log.debug(2, f"setvar: unable to find tree node for {it.info_type}")
                    return UNKNOWN
                ok = any(e.lower() == value.lower() for e in var.enums)
            if not ok:
                log.warning(f"setvar: value out of range [{it.info_type}: {value}]")
                return UNKNOWN
        elif it.info_flags & STRING:
            var = state.var(it.info_type)
            if var is None:
                log.debug(2, f"setvar: unable to find tree node for {it.info_type}")
                return UNKNOWN
            if var.aux < len(value):
                log.warning(f"setvar: value is too long [{it.info_type}: {value}]")
                return UNKNOWN
        self.errno = 0
        if it.preprocess is not None:
            try:
                new = it.preprocess(self, it, value)
            except ConversionError:
                new, self.errno = None, _errno.EINVAL
            if new is None:
                log.warning("setvar: FAILED")
                return CONVERSION_FAILED if self.errno == _errno.EINVAL else UNKNOWN
            value = new
        if it.qxflags & ABSENT:
            log.debug(2, f"setvar: setting server side variable {it.info_type}")
            state.setinfo(it.info_type, value)
            log.info("setvar: SUCCEED")
            return HANDLED
        if it.preprocess is None:
            value = ""
        self.errno = 0
        if self.process(it, value or None):
            log.warning("setvar: FAILED")
            return CONVERSION_FAILED if self.errno == _errno.EINVAL else UNKNOWN
        if it.value:
            if self.sub.accepted is not None and it.value.lower() == self.sub.accepted.lower():
                log.info("setvar: SUCCEED")
                self.data_has_changed = True
                return HANDLED
            log.warning("setvar: FAILED")
            return UNKNOWN
        log.info("setvar: SUCCEED")
        self.data_has_changed = True
        return HANDLED

    # ---- -k

    def shutdown(self) -> int:
        """``upsdrv_shutdown`` (2.8.5: failures are reported, not fatal)."""
        state, log = self.state, self.log
        log.debug(1, "upsdrv_shutdown...")
        for var, option, what in (("ups.delay.start", "ondelay", "start"),
                                  ("ups.delay.shutdown", "offdelay", "shutdown")):
            it = self.find(var, 0, SKIP)
            if it is None:
                log.error(f"Unable to set {what} delay")
                return FAILED
            state.setinfo(it.info_type, it.dfl or "")
            self.set_var_flags(it)
            val = self.getval(option)
            if val is not None and self.setvar(it.info_type, val) != HANDLED:
                log.error(f"{what.capitalize()} delay '{val}' out of range")
                return FAILED
        if self.find("shutdown.stop", CMD, SKIP):
            for _ in range(MAXTRIES):
                if self.instcmd("shutdown.stop", None) == HANDLED:
                    break
            else:
                log.notice("No shutdown pending")
        cmd = "shutdown.stayoff" if self.testvar("stayoff") else "shutdown.return"
        for _ in range(MAXTRIES):
            if self.instcmd(cmd, None) != HANDLED:
                continue
            log.error(f"Shutting down in {state.get('ups.delay.shutdown')} seconds")
            return HANDLED
        log.error("Shutdown failed!")
        return FAILED


def _strarg(value: str | None) -> str:
    return "(null)" if value is None else value


def _cpow(x: float, y: float) -> float:
    try:
        return math.pow(x, y)
    except (ValueError, OverflowError):
        return math.nan if x < 0 else math.inf


def _clamp(x: float, lo: float, hi: float) -> float:
    """C's two ifs: a NaN passes through."""
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def fdiv(a: float, b: float) -> float:
    """C's floating-point division: by zero gives an infinity (or NaN), not an error."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _clog(x: float) -> float:
    if x > 0:
        return math.log(x)
    return -math.inf if x == 0 else math.nan


def runtime_model(runtimecal: str) -> tuple[float, float]:
    """The ``runtimecal`` option (runtime at high load, high load, runtime at low load,
    low load) as the exponent and nominal runtime of the estimate both Q1 drivers use;
    C's fatal errors for a short or out-of-range value."""
    params = _scan_doubles(runtimecal, 4)
    if len(params) < 4:
        raise FatalError("Insufficient parameters for runtimecal")
    rh, lh, rl, ll = params
    if rl < rh or rh <= 0:
        raise FatalError("Parameter out of range (runtime)")
    if lh > 100 or ll > lh or ll <= 0:
        raise FatalError("Parameter out of range (load)")
    exponent = fdiv(_clog(fdiv(rl, rh)), _clog(fdiv(lh, ll)))
    return exponent, rh * _cpow(lh / 100, exponent)


def _scan_doubles(text: str, count: int) -> list[float]:
    """``sscanf(text, "%lf,%lf,...")``: the values read before the first mismatch."""
    from .cstr import strtod

    values = []
    rest = text
    for i in range(count):
        if i:
            if not rest.startswith(","):
                break
            rest = rest[1:]
        value, after = strtod(rest)
        if after is rest or after == rest:
            break
        values.append(value)
        rest = after
    return values


def claim_items(engine: QxEngine, *names: str, undo: tuple[str, ...] = ()) -> bool:
    """The common claim pattern: every named item must be read and accepted; on a later
    failure the variables named in ``undo`` are removed again."""
    for index, name in enumerate(names):
        it = engine.find(name)
        ok = it is not None and not engine.process(it) and engine.infoval_set(it) == 1
        if not ok:
            if index:
                for var in undo:
                    engine.state.delinfo(var)
            return False
    return True

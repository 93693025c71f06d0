"""blazer_ser's protocol handling (C ``blazer.c``): the older Megatec driver that
nutdrv_qx replaced. It tries the megatec, mustek, megatec/old and zinto status commands in
turn, splits the status reply at spaces (rather than nutdrv_qx's fixed columns), reads the
rating and vendor replies three times at most, publishes ``ups.mfr``/``ups.model`` (not
``device.*``), polls the status command every cycle, and multiplies the battery voltage by
the detected number of packs. Instant commands succeed on silence, ``ACK`` or ``(ACK``.

Pure like the Q* engine: the device is a ``Transport``, the clock comes in as ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .core import (
    FAILED,
    HANDLED,
    MAXTRIES,
    UNKNOWN,
    CommandNotSent,
    FatalError,
    NullLog,
    Transport,
    _clamp,
    _cpow,
    fdiv,
    runtime_model,
)
from .cstr import all_in, atof, atol, c_string, cformat, strspn, text

PROTOCOLS = (("megatec", "Q1\r", "F\r", "I\r"), ("mustek", "QS\r", "F\r", "I\r"),
             ("megatec/old", "D\r", "F\r", "I\r"), ("zinto", "Q1\r", "F\r", "FW?\r"))
COMMANDS = (("beeper.toggle", "Q\r"), ("load.off", "S00R0000\r"), ("load.on", "C\r"),
            ("shutdown.stop", "C\r"), ("test.battery.start.deep", "TL\r"),
            ("test.battery.start.quick", "T\r"), ("test.battery.stop", "CT\r"))
ADDED_COMMANDS = ("beeper.toggle", "load.off", "load.on", "shutdown.return", "shutdown.stayoff",
                  "shutdown.stop", "test.battery.start", "test.battery.start.deep",
                  "test.battery.start.quick", "test.battery.stop")
DEPRECATION = ("Please note that this driver is deprecated and will not receive\n"
               "new development. If it works for managing your devices - fine,\n"
               "but if you are running it to try setting up a new device, please\n"
               "consider the newer nutdrv_qx instead, which should handle all 'Qx'\n"
               "protocol variants for NUT. (Please also report if your device works\n"
               "with this driver, but nutdrv_qx would not actually support it with\n"
               "any subdriver!)\n")


def strtok(s: str, start_delims: str, delims: str):
    """The tokens of ``strtok_r(s, start_delims)`` then ``strtok_r(NULL, delims)``."""
    pos, first = 0, True
    while True:
        d = start_delims if first else delims
        first = False
        while pos < len(s) and s[pos] in d:
            pos += 1
        if pos >= len(s):
            yield None
            continue
        end = pos
        while end < len(s) and s[end] not in d:
            end += 1
        yield s[pos:end]
        pos = end + 1


@dataclass
class Blazer:
    state: object
    transport: Transport
    getval: Callable[[str], str | None]
    testvar: Callable[[str], bool]
    log: object = field(default_factory=NullLog)
    upsname: str = ""

    def __post_init__(self) -> None:
        self.ondelay = 3     # minutes
        self.offdelay = 30   # seconds
        self.proto = -1
        self.online = True
        self.retry = 0
        self.packs = 1.0
        self.runt_nom, self.runt_est, self.runt_exp = -1.0, 0.0, 0.0
        self.volt_act, self.volt_high, self.volt_nom, self.volt_low = -1.0, -1.0, -1.0, -1.0
        self.chrg_act, self.chrg_time = -1.0, 43200
        self.load_act, self.load_low, self.load_eff = 0.0, 0.1, 1.0
        self.lastpoll = 0

    def command(self, cmd: str) -> tuple[int, str]:
        """(bytes read, reply as C sees it); -1 on errors, 0 on timeout."""
        try:
            reply = self.transport.command(cmd.encode("latin-1"))
        except CommandNotSent:
            raise
        except OSError:
            return -1, ""
        return getattr(reply, "length", len(reply)), text(c_string(reply[:511]))

    # ---- conversions with side effects (C's conv callbacks)

    def _battery(self, value: str) -> float:
        self.volt_act = self.packs * atof(value)
        if (not self.getval("runtimecal") or self.state.get("battery.charge") is None) and \
                self.volt_low > 0 and self.volt_high > self.volt_low:
            charge = fdiv(100 * (self.volt_act - self.volt_low), self.volt_high - self.volt_low)
            self.chrg_act = _clamp(charge, 0.0, 100.0)
            self.state.setinfo("battery.charge", "%.0f" % self.chrg_act)
        return self.volt_act

    def _load(self, value: str) -> float:
        self.load_act = atof(value)
        self.load_eff = _cpow(self.load_act / 100, self.runt_exp)
        if self.load_eff < self.load_low:
            self.load_eff = self.load_low
        return self.load_act

    def _packs(self, value: str) -> float:
        nominal = self.state.get("battery.voltage.nominal")
        self.volt_nom = atof(nominal if nominal is not None else value)
        for packs in (120, 100, 80, 60, 48, 36, 30, 24, 18, 12, 8, 6, 4, 3, 2, 1, 0.5):
            if packs * self.volt_act > 1.25 * self.volt_nom:
                continue
            if packs * self.volt_act < 0.8 * self.volt_nom:
                self.log.info(f"Can't autodetect number of battery packs "
                              f"[{self.volt_nom:.0f}/{self.volt_act:.2f}]")
                break
            self.packs = packs
            break
        return self.volt_nom

    # ---- replies

    def _fields(self, buf: str, fields) -> str | None | int:
        """The numbers of a status/rating reply into their variables; returns the token
        after them (or -1 when a field is missing)."""
        tokens = strtok(buf[1:], " ", " \r\n")
        val = next(tokens)
        for var, fmt, conv in fields:
            if val is None:
                self.log.debug(2, "parsing failed")
                return -1
            if not all_in(val, "0123456789."):
                self.log.debug(2, f"non numerical value [{val}]")
            else:
                number = conv(val) if conv else atof(val)
                self.state.setinfo(var, cformat(fmt, number))
            val = next(tokens)
        return val

    def status(self, cmd: str) -> int:
        n, buf = self.command(cmd)
        if n < 46:
            self.log.debug(2, "blazer_status: short reply")
            return -1
        if not buf.startswith("("):
            self.log.debug(2, f"blazer_status: invalid start character [{ord(buf[:1] or chr(0)):02x}]")
            return -1
        val = self._fields(buf, (("input.voltage", "%.1f", None),
                                 ("input.voltage.fault", "%.1f", None),
                                 ("output.voltage", "%.1f", None),
                                 ("ups.load", "%.0f", self._load),
                                 ("input.frequency", "%.1f", None),
                                 ("battery.voltage", "%.2f", self._battery),
                                 ("ups.temperature", "%.1f", None)))
        if val == -1 or val is None:
            self.log.debug(2, "blazer_status: parsing failed")
            return -1
        if strspn(val, "01") != 8:
            self.log.debug(2, f"Invalid status [{val}]")
            return -1
        state = self.state
        state.setinfo("ups.beeper.status", "enabled" if val[7] == "1" else "disabled")
        state.setinfo("ups.type", "offline / line interactive" if val[4] == "1" else "online")
        st = state.status
        st.init()
        self.online = val[0] != "1"
        st.set("OL" if self.online else "OB")
        if val[1] == "1":
            st.set("LB")
        if val[2] == "1":
            vi = atof(state.get("input.voltage"))
            vo = atof(state.get("output.voltage"))
            if vo < 0.5 * vi:
                self.log.debug(2, "blazer_status: output voltage too low")
            elif vo < 0.95 * vi:
                st.set("TRIM")
            elif vo < 1.05 * vi:
                st.set("BYPASS")
            elif vo < 1.5 * vi:
                st.set("BOOST")
            else:
                self.log.debug(2, "blazer_status: output voltage too high")
        if val[5] == "1":
            st.set("CAL")
        alarm = state.alarm
        alarm.init()
        if val[3] == "1":
            alarm.set("UPS selftest failed!")
        if val[6] == "1":
            alarm.set("Shutdown imminent!")
            st.set("FSD")
        alarm.commit()
        st.commit()
        return 0

    def rating(self, cmd: str) -> int:
        n, buf = self.command(cmd)
        if n < 22:
            self.log.debug(2, "blazer_rating: short reply")
            return -1
        if not buf.startswith("#"):
            self.log.debug(2, f"blazer_rating: invalid start character [{ord(buf[:1] or chr(0)):02x}]")
            return -1
        val = self._fields(buf, (("input.voltage.nominal", "%.0f", None),
                                 ("input.current.nominal", "%.1f", None),
                                 ("battery.voltage.nominal", "%.1f", self._packs),
                                 ("input.frequency.nominal", "%.0f", None)))
        return -1 if val == -1 else 0

    def vendor(self, cmd: str) -> int:
        n, buf = self.command(cmd)
        if n < 39:
            self.log.debug(2, "blazer_vendor: short reply")
            return -1
        if not buf.startswith("#"):
            self.log.debug(2, f"blazer_vendor: invalid start character [{ord(buf[:1] or chr(0)):02x}]")
            return -1
        index = 1
        for var, width in (("ups.mfr", 15), ("ups.model", 10), ("ups.firmware", 10)):
            self.state.setinfo(var, buf[index:index + width].rstrip(" "))
            index += width + 1
        return 0

    # ---- instant commands

    def instcmd(self, name: str, extra: str | None) -> int:
        log = self.log
        low = name.lower()
        log.debug(1, f"Starting blazer.c::blazer_instcmd('{name}', '{_strarg(extra)}')")
        for cmd, wire in COMMANDS:
            if low != cmd:
                continue
            self._log_powerstate_checked(name, extra)
            return self._send(name, wire)
        if low == "shutdown.return":
            self._log_power("a power state change operation", name, extra)
            off = self.offdelay
            code = f".{off // 6}" if off < 60 else f"{off // 60:02d}"
            wire = f"S{code}\r" if self.ondelay == 0 else f"S{code}R{self.ondelay:04d}\r"
        elif low == "shutdown.stayoff":
            self._log_power("a power state change operation", name, extra)
            off = self.offdelay
            wire = f"S.{off // 6}R0000\r" if off < 60 else f"S{off // 60:02d}R0000\r"
        elif low == "test.battery.start":
            delay = atol(extra) if extra is not None else 10
            if delay < 1 or delay > 99:
                log.error(f"instcmd: command [{name}] failed, delay [{_strarg(extra)}] "
                          "out of range")
                return FAILED
            self._log_power("an operation", name, extra, maybe=True)
            wire = f"T{delay:02d}\r"
        else:
            log.warning(f"blazer_instcmd: unknown command [{name}] [{_strarg(extra)}]")
            return UNKNOWN
        return self._send(name, wire)

    def _send(self, name: str, wire: str) -> int:
        try:
            n, buf = self.command(wire)
        except CommandNotSent:
            # C counts it handled; a shutdown reported done that was never sent is worse
            # than a refusal (docs/drivers-usb.md)
            self.log.error(f"instcmd: command [{name}] failed: the link cannot send it")
            return FAILED
        if n > 0 and not (buf.startswith("ACK") or buf.startswith("(ACK")):
            self.log.error(f"instcmd: command [{name}] failed")
            return FAILED
        self.log.info(f"instcmd: command [{name}] handled")
        return HANDLED

    def _log_power(self, what: str, name: str, extra: str | None, maybe: bool = False) -> None:
        tail = " which may impact power state" if maybe else ""
        self.log.crit(f"blazer_instcmd: attempting {what} [{name}] [{_strarg(extra)}]{tail} "
                      f"on [{_strarg(self.upsname)}]")

    def _log_powerstate_checked(self, name: str, extra: str | None) -> None:
        if name.startswith(("shutdown.stop", "load.on", "test.battery.st")):
            self._log_power("an operation", name, extra, maybe=True)
        elif name.startswith(("shutdown.", "load.off")):
            self._log_power("a power state change operation", name, extra)

    # ---- driver hooks

    def init_ups(self) -> None:
        """``blazer_initups``: delays and user-given battery voltages; FatalError on bad
        delays."""
        val = self.getval("ondelay")
        if val is not None:
            self.ondelay = atol(val)
        if self.ondelay < 0 or self.ondelay > 9999:
            raise FatalError(f"Start delay '{self.ondelay}' out of range [0..9999]")
        val = self.getval("offdelay")
        if val is not None:
            self.offdelay = atol(val)
        if self.offdelay < 12 or self.offdelay > 600:
            raise FatalError(f"Shutdown delay '{self.offdelay}' out of range [12..600]")
        self.offdelay -= self.offdelay % (6 if self.offdelay < 60 else 60)
        val = self.state.get("battery.voltage.high")
        if val is not None:
            self.volt_high = atof(val)
        val = self.state.get("battery.voltage.low")
        if val is not None:
            self.volt_low = atof(val)

    def init_info(self, now: int) -> None:
        log = self.log
        log.syslog_debug(DEPRECATION)
        protocol = self.getval("protocol")
        found = False
        for index, (name, status, _, _) in enumerate(PROTOCOLS):
            if protocol and protocol.lower() != name:
                log.debug(2, f"Skipping {name} protocol...")
                continue
            log.debug(2, f"Trying {name} protocol...")
            ret = -1
            for attempt in range(1, MAXTRIES + 1):
                ret = self.status(status)
                if ret < 0:
                    log.debug(2, f"Status read {attempt} failed")
                    continue
                log.debug(2, f"Status read in {attempt} tries")
                break
            if not ret:
                log.info(f"Supported UPS detected with {name} protocol")
                self.proto = index
                found = True
                break
        if not found:
            raise FatalError("No supported UPS detected")
        _, _, rating, vendor = PROTOCOLS[self.proto]
        if not self.testvar("norating"):
            ret = -1
            for attempt in range(1, MAXTRIES + 1):
                ret = self.rating(rating)
                if ret < 0:
                    log.debug(1, f"Rating read {attempt} failed")
                    continue
                log.debug(2, f"Ratings read in {attempt} tries")
                break
            if ret:
                log.syslog_debug("Rating information unavailable")
        if not self.testvar("novendor"):
            ret = -1
            for attempt in range(1, MAXTRIES + 1):
                ret = self.vendor(vendor)
                if ret < 0:
                    log.debug(1, f"Vendor information read {attempt} failed")
                    continue
                log.info(f"Vendor information read in {attempt} tries")
                break
            if ret:
                log.syslog_debug("Vendor information unavailable")
        self._init_battery(now)
        self.state.setinfo("ups.delay.start", str(60 * self.ondelay))
        self.state.setinfo("ups.delay.shutdown", str(self.offdelay))
        for cmd in ADDED_COMMANDS:
            self.state.addcmd(cmd)

    def _init_battery(self, now: int) -> None:
        log, state = self.log, self.state
        if self.volt_nom != 1 and (self.volt_high == -1 or self.volt_low == -1):
            log.info("No values provided for battery high/low voltages in ups.conf\n")
            self.volt_low = 104 * self.volt_nom / 120
            self.volt_high = 130 * self.volt_nom / 120
            state.setinfo("battery.voltage.low", "%.2f" % self.volt_low)
            state.setinfo("battery.voltage.high", "%.2f" % self.volt_high)
            log.info(f"Using 'guesstimation' (low: {self.volt_low:f}, high: {self.volt_high:f})!")
        val = self.getval("runtimecal")
        if not val:
            log.info("Battery runtime will not be calculated (runtimecal not set)")
            return
        self.lastpoll = now
        self.runt_exp, self.runt_nom = runtime_model(val)
        log.debug(2, f"battery runtime exponent : {self.runt_exp:.3f}")
        log.debug(2, f"battery runtime nominal  : {self.runt_nom:.1f}")
        if self.chrg_act < 0:
            self.volt_low = self.volt_nom
            self.volt_high = 1.15 * self.volt_nom
            self._battery(state.get("battery.voltage") or "")
        val = state.get("battery.charge")
        if val is None:
            raise FatalError("Initial battery charge undetermined")
        self.runt_est = self.runt_nom * atof(val) / 100
        log.debug(2, f"battery runtime estimate : {self.runt_est:.1f}")
        val = self.getval("chargetime")
        if val:
            self.chrg_time = atol(val)
            if self.chrg_time <= 0:
                raise FatalError("Charge time out of range [1..s]")
            log.debug(2, f"battery charge time      : {self.chrg_time}")
        else:
            log.info(f"No charge time specified, using built in default [{self.chrg_time} seconds]")
        val = self.getval("idleload")
        if val:
            self.load_low = atof(val) / 100
            if self.load_low < 0 or self.load_low > 1:
                raise FatalError("Idle load out of range [0..100]")
            log.debug(2, f"minimum load used (idle) : {self.load_low:.3f}")
        else:
            log.info(f"No idle load specified, using built in default [{100 * self.load_low:.1f} %]")

    def update_info(self, now: int) -> None:
        state, log = self.state, self.log
        if self.status(PROTOCOLS[self.proto][1]):
            if self.retry < MAXTRIES:
                log.debug(1, "Communications with UPS lost: status read failed!")
                self.retry += 1
            elif self.retry == MAXTRIES:
                log.warning("Communications with UPS lost: status read failed!")
                self.retry += 1
            else:
                state.datastale()
            return
        if self.getval("runtimecal"):
            dt = now - self.lastpoll
            if self.online:
                self.runt_est += fdiv(self.runt_nom * dt, self.chrg_time)
                if self.runt_est > self.runt_nom:
                    self.runt_est = self.runt_nom
            else:
                self.runt_est -= self.load_eff * dt
                if self.runt_est < 0:
                    self.runt_est = 0.0
            state.setinfo("battery.charge", "%.0f" % fdiv(100 * self.runt_est, self.runt_nom))
            state.setinfo("battery.runtime", "%.0f" % fdiv(self.runt_est, self.load_eff))
            self.lastpoll = now
        if self.retry > MAXTRIES:
            log.notice("Communications with UPS re-established")
        self.retry = 0
        state.dataok()

    @property
    def failing(self) -> bool:
        return self.retry > 0

    def shutdown(self) -> int:
        for _ in range(MAXTRIES):
            if self.instcmd("shutdown.stop", None) == HANDLED:
                break
        else:
            self.log.notice("No shutdown pending")
        for _ in range(MAXTRIES):
            if self.instcmd("shutdown.return", None) != HANDLED:
                continue
            self.log.error(f"Shutting down in {self.offdelay} seconds")
            return HANDLED
        self.log.error("Shutdown failed!")
        return FAILED


def _strarg(value: str | None) -> str:
    return "(null)" if value is None else value

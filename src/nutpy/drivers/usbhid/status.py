"""From the device's status flags to ``ups.status``, ``ups.alarm`` and
``input.transfer.reason`` (C's ups_status_set / ups_alarm_set), with C's options for devices
that report "online and discharging" and for the debounce of LB/RB while calibrating.

Pure: the caller passes the flags, the current ``battery.charge`` and the time; messages go
to the ``log`` object it gives (``warning``/``debug`` as nutpy.common.log).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .mapping import STATUS_BIT as B

ALARMS = [  # (flag, text), in C's order
    ("replacebatt", "Replace battery!"), ("shutdownimm", "Shutdown imminent!"),
    ("fanfail", "Fan failure!"), ("nobattery", "No battery installed!"),
    ("battvoltlo", "Battery voltage too low!"), ("battvolthi", "Battery voltage too high!"),
    ("chargerfail", "Battery charger fail!"), ("overheat", "Temperature too high!"),
    ("commfault", "Internal UPS fault!"), ("awaitingpower", "Awaiting power!"),
    ("bypassauto", "Automatic bypass mode!"), ("bypassman", "Manual bypass mode!"),
]


def alarms(bits: int) -> list[str]:
    return [text for name, text in ALARMS if bits & B[name]]


def _atoi(text: str) -> int:
    text = text.strip()
    n = 0
    sign = 1
    i = 0
    if text[:1] in "+-":
        sign = -1 if text[0] == "-" else 1
        i = 1
    while i < len(text) and text[i].isdigit():
        n = n * 10 + int(text[i])
        i += 1
    return sign * n


@dataclass
class StatusOptions:
    onlinedischarge_onbattery: bool = False
    onlinedischarge_calibration: bool = False
    log_throttle_sec: int = -2  # -2: not configured (C's default logic), -1: never repeat
    log_throttle_hovercharge: int = 100
    lbrb_log_delay_sec: int = 0
    lbrb_log_delay_without_calibrating: bool = False


@dataclass
class StatusResult:
    tokens: list[str]
    transfer_reason: str | None  # None: delete input.transfer.reason
    buzzwords: list[str] = field(default_factory=list)


class StatusAssembler:
    def __init__(self, options: StatusOptions, upsname: str = "", log=None) -> None:
        self.opt = options
        self.upsname = upsname
        self.log = log
        self.last_calibration_start = 0.0
        self.last_calibration_finish = 0.0
        self.throttle_timestamp = 0.0
        self.throttle_charge = -1
        self.last_lb_start = 0.0
        self.last_rb_start = 0.0

    def _debug(self, level: int, msg: str) -> None:
        if self.log is not None:
            self.log.debug(level, msg)

    def assemble(self, bits: int, charge: str | None, now: float) -> StatusResult:
        tokens: list[str] = []

        def put(token: str) -> None:
            if token not in tokens:
                tokens.append(token)

        if bits & B["vrange"]:
            reason = "input voltage out of range"
        elif bits & B["frange"]:
            reason = "input frequency out of range"
        else:
            reason = None

        def set_cal() -> None:
            if not self.last_calibration_start:
                self.last_calibration_start = now
            put("CAL")

        if bits & B["cal"]:
            set_cal()

        dischrg = bool(bits & B["dischrg"])
        online = bool(bits & B["online"])
        offline = bool(bits & B["offline"])
        ups = self.upsname
        if not dischrg and (self.throttle_timestamp != 0 or self.throttle_charge != -1):
            self._debug(1, f"ups_status_set: seems that UPS [{ups}] was in OL+DISCHRG state "
                           "previously, but no is longer discharging now.")
            self.throttle_timestamp = 0
            self.throttle_charge = -1

        if offline:
            put("OB")
            if online:
                self._debug(1, f"ups_status_set: seems that UPS [{ups}] reports both online "
                               "and on-battery power states at the same time")
        if not online:
            if offline:
                put("OB")
            elif dischrg:
                self._debug(1, f"ups_status_set: seems that UPS [{ups}] does not report a power "
                               "state, but it is discharging - assuming it is on battery now")
                put("OB")
            else:
                self._debug(1, f"ups_status_set: seems that UPS [{ups}] does not report a "
                               "power state")
        elif dischrg:
            self._online_discharging(bits, charge, now, put, set_cal)
        else:
            put("OL")

        calibrating = "CAL" in tokens
        if dischrg and not bits & B["depleted"]:
            put("DISCHRG")
        if bits & B["chrg"]:
            if bits & B["notfullycharged"]:
                put("CHRG")
            elif not bits & (B["fullycharged"] | B["notfullycharged"]) and charge is not None:
                if 0 < _atoi(charge) < 100:
                    put("CHRG")

        delay = self.opt.lbrb_log_delay_sec
        if bits & (B["lowbatt"] | B["timelimitexp"] | B["shutdownimm"]):
            if delay < 1 or (not calibrating and not self.opt.lbrb_log_delay_without_calibrating) \
                    or not online:
                put("LB")
            elif not self.last_lb_start:
                self.last_lb_start = now
            elif now - self.last_lb_start > delay:
                put("LB")
            else:
                self._debug(2, "ups_status_set: throttling LB status due to lbrb_log_delay_sec")
        else:
            self.last_lb_start = 0
        if bits & B["overload"]:
            put("OVER")
        if bits & (B["replacebatt"] | B["nobattery"]):
            if delay < 1 or (not calibrating and not self.opt.lbrb_log_delay_without_calibrating) \
                    or not self.last_lb_start or not online:
                put("RB")
            elif not self.last_rb_start:
                self.last_rb_start = now
            elif now - self.last_rb_start > delay:
                put("RB")
            else:
                self._debug(2, "ups_status_set: throttling RB status due to lbrb_log_delay_sec")
        else:
            self.last_rb_start = 0
        if bits & B["trim"]:
            put("TRIM")
        if bits & B["boost"]:
            put("BOOST")
        if bits & (B["bypassauto"] | B["bypassman"]):
            put("BYPASS")
        buzz = []
        if bits & B["ecomode"]:
            buzz.append("vendor:default:ECO")
        if bits & B["essmode"]:
            buzz.append("vendor:default:ESS")
        if bits & B["off"]:
            put("OFF")
        if not calibrating:
            if self.last_calibration_start:
                self.last_calibration_finish = now
            self.last_calibration_start = 0
        return StatusResult(tokens, reason, buzz)

    def _online_discharging(self, bits, charge, now, put, set_cal) -> None:
        opt = self.opt
        do_log = False
        current = 0
        if opt.onlinedischarge_calibration:
            set_cal()
        if opt.onlinedischarge_onbattery:
            put("OB")
        if not opt.onlinedischarge_onbattery and not opt.onlinedischarge_calibration:
            do_log = not bits & B["cal"]
            put("OL")
        if do_log:
            do_log = False
            if charge is not None:
                current = _atoi(charge)
                if current > 0 and current != self.throttle_charge \
                        and current < opt.log_throttle_hovercharge:
                    do_log = True
            elif opt.log_throttle_sec == -2:
                opt.log_throttle_sec = 30
                self._debug(1, "ups_status_set: seems battery.charge is not served by this "
                               "device or subdriver; defaulting onlinedischarge_log_throttle_sec "
                               f"to {opt.log_throttle_sec}")
            if self.throttle_timestamp > 0 and opt.log_throttle_sec >= 0 \
                    and now - self.throttle_timestamp >= opt.log_throttle_sec:
                do_log = True
        if do_log:
            msg = ""
            self.throttle_timestamp = now
            if current > 0 and current != self.throttle_charge:
                if self.throttle_charge < 0:
                    msg = f"Battery charge is currently {current}. "
                else:
                    trend = "charging" if current > self.throttle_charge else "draining"
                    msg = (f"Battery charge changed from {self.throttle_charge} to {current} "
                           f"since last such report ({trend}). ")
                self.throttle_charge = current
            if self.log is not None:
                self.log.warning(
                    f"ups_status_set: seems that UPS [{self.upsname}] is in OL+DISCHRG state "
                    f"now. {msg}Is it calibrating (perhaps you want to set "
                    "'onlinedischarge_calibration' option)? Note that some UPS models (e.g. "
                    "CyberPower UT series) emit OL+DISCHRG when in fact offline/on-battery "
                    "(perhaps you want to set 'onlinedischarge_onbattery' option).")

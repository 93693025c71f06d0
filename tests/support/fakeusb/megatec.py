"""USB models of Megatec/Q1 UPSes (blazer_usb, nutdrv_qx): a Q1 UPS behind each kind of
USB-to-serial bridge C NUT's nutdrv_qx knows (its USB "subdrivers").

A model is the bridge; the UPS behind it answers Megatec commands (without their CR) with a
reply line (with its CR) or nothing. By default that is ``default_responder`` (a plain
unit on line power); give ``ups=`` a ``nutpy.sim.q1.Q1Ups`` for a UPS with state (power
failures, tests, timed shutdowns, the simulator's line faults) or ``responder=`` any
callable. ``dev.commands`` lists what reached the UPS.

The bridges, as the drivers' code and comments describe them:

* ``CypressQ1Device``: SET_REPORT (wValue 0x0200) in 8-byte chunks, the reply in 8-byte
  packets on interrupt endpoint 0x81.
* ``PhoenixQ1Device``: the same, but the converter sends each reply's last packet twice
  (stale bytes the phoenix framing drains before a command).
* ``IpponQ1Device``: SET_REPORT wValue 0x0002; every command answered by one 64-byte report
  (NUL + CR when the UPS says nothing); the rest of the report is what was left in the
  bridge's buffer from earlier replies.
* ``KraulerQ1Device``, ``FabulaQ1Device``, ``HunnoxQ1Device``, ``SnrQ1Device``: commands
  are string descriptor requests (one index per command; fabula codes the shutdown delay
  in it); see each class for its quirks (junk first characters, "UPS No Ack", broken
  language tables, the Hunnox lock-up on long requests).
* ``FujiQ1Device``: one 8-byte interrupt OUT packet per command on 0x02.
* ``SgsQ1Device``: length-prefixed 8-byte SET_REPORTs and replies; a reply ends with
  silence.
* ``AblerexQ1Device``: feature report 5 out, the reply as feature report 5 in.
* ``ArmacQ1Device``: the Richcomm bridge: 4-byte SET_REPORTs with a count byte, replies in
  6-byte packets (or, ``interrupt=True``, a 64-byte interrupt pipe pair).
* ``GtecQ1Device``: SET_REPORT wValue 0x0002, replies in one interrupt packet.
* ``PhoenixtecQ1Device``: the whole command in one vendor request; no reply to the commands
  that have none.

Models run under the bus lock (see devices.py): they never block.
"""

from __future__ import annotations

import re
import time
from typing import Callable

from . import descriptors as d
from . import errors
from .devices import ControlRequest, UsbDevice
from .errors import UsbError

# A Q1 status line of a UPS on line power (Megatec protocol).
Q1_ONLINE = b"(230.0 230.0 230.0 013 50.0 13.6 25.0 00001000\r"
F_RATINGS = b"#230.0 003 12.00 50.0\r"


# "#", the maker (15 characters), the model (10), the firmware version (10)
I_INFO = b"#" + b"NUTPY TEST".ljust(15) + b" " + b"Q1-USB".ljust(10) + b" " \
    + b"V1.0".ljust(10) + b"\r"

# Commands a Megatec UPS carries out without a word: beeper toggle, tests, shutdowns and
# their cancellation.
_SILENT = re.compile(rb"Q|T|TL|T\d\d|S(\.\d|\d\d)(R\d{4})?|C|CT")

NO_ACK = "UPS No Ack"


def default_responder(command: bytes) -> bytes | None:
    """Answers like a plain Megatec UPS: Q1 status, F ratings, I identity; silent for the
    commands it carries out; anything else is unknown and echoed back, as units do."""
    if command == b"Q1":
        return Q1_ONLINE
    if command == b"F":
        return F_RATINGS
    if command == b"I":
        return I_INFO
    if _SILENT.fullmatch(command):
        return None
    return command + b"\r"


def ups_responder(ups) -> Callable[[bytes], bytes | None]:
    """The UPS simulator ``ups`` (nutpy.sim.q1.Q1Ups) as a responder: its clock advances,
    its faults apply, it records the command."""
    def respond(command: bytes) -> bytes | None:
        with ups.lock:
            now = time.monotonic()
            ups.tick(now)
            reply = ups.feed(command + b"\r", now)
        return reply or None
    return respond


def _interrupt_in(max_packet: int = 8, address: int = 0x81) -> d.Endpoint:
    return d.Endpoint(address, d.TRANSFER_INTERRUPT, max_packet, 10)


class Q1Bridge(UsbDevice):
    """A Q1 UPS behind a USB bridge: the UPS part. Subclasses move commands and replies."""

    def __init__(self, vendor_id: int, product_id: int, *,
                 responder: Callable[[bytes], bytes | None] | None = None, ups=None,
                 **kwargs) -> None:
        kwargs.setdefault("interfaces", [d.Interface(
            number=0, interface_class=d.CLASS_HID, endpoints=[_interrupt_in()],
            extra=d.hid_descriptor(0x1b))])
        super().__init__(vendor_id, product_id, **kwargs)
        self.ups = ups
        if responder is None:
            responder = ups_responder(ups) if ups is not None else default_responder
        self.responder = responder
        self.commands: list[bytes] = []

    def answer(self, command: bytes) -> bytes:
        """The UPS's reply to ``command`` (no CR), b"" for none."""
        self.commands.append(command)
        return self.responder(command) or b""

    def queue_packets(self, data: bytes, size: int, endpoint: int = 0x81,
                      pad: bytes = b"\0") -> None:
        for i in range(0, len(data), size):
            self.queue_interrupt(data[i:i + size].ljust(size, pad or b"\0") if pad
                                 else data[i:i + size], endpoint)


class LineAssembler:
    """Bytes from the host up to each CR. A NUL ends what a chunk carries: the rest is
    padding (C 2.8.5 zeroes it; 2.8.0's ippon framing sends stack bytes there)."""

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        self.pending += data
        lines = []
        while b"\r" in self.pending:
            line, _, self.pending = self.pending.partition(b"\r")
            lines.append(line)
        if b"\0" in self.pending:
            self.pending = self.pending.split(b"\0", 1)[0]
        return lines


class CypressQ1Device(Q1Bridge):
    """A Q1 UPS behind a Cypress USB-serial chip (0665:5161 by default).

    ``responder(command)`` gets each command without its CR and returns the reply
    (including its CR), or None to stay silent (the host's reads then time out).
    ``commands`` lists every command the host sent, in order."""

    report_value = 0x0200

    def __init__(self, vendor_id: int = 0x0665, product_id: int = 0x5161, **kwargs) -> None:
        kwargs.setdefault("product", "USB to Serial")
        super().__init__(vendor_id, product_id, **kwargs)
        self.line = LineAssembler()

    def handle_control(self, req: ControlRequest) -> bytes | None:
        if req.request_type == 0x21 and req.request == 0x09 and \
                req.value == self.report_value:
            for line in self.line.feed(req.data):
                self.reply(self.answer(line))
            return None
        if req.kind == 0x20:
            raise UsbError(errors.PIPE)
        return super().handle_control(req)

    def reply(self, data: bytes) -> None:
        if data:
            self.queue_packets(data, 8)


class PhoenixQ1Device(CypressQ1Device):
    """The "crappy" converter of the Online Zinto A (06da:0601) and GE EP (14f0:00c9): it
    sends the last packet of each reply twice (``repeats``), so a host that reads the next
    reply without draining first gets stale bytes in front of it."""

    def __init__(self, vendor_id: int = 0x06DA, product_id: int = 0x0601, *,
                 repeats: int = 1, **kwargs) -> None:
        kwargs.setdefault("product", "USB UPS")
        super().__init__(vendor_id, product_id, **kwargs)
        self.repeats = repeats

    def reply(self, data: bytes) -> None:
        if data:
            self.queue_packets(data, 8)
            last = data[(len(data) - 1) // 8 * 8:].ljust(8, b"\0")
            for _ in range(self.repeats):
                self.queue_interrupt(last)


class IpponQ1Device(CypressQ1Device):
    """Mustek PowerMust / Ippon bridge (06da:0003): commands in 8-byte SET_REPORTs with
    wValue 0x0002; each command gets one 64-byte report back on 0x81. A command without
    reply gets NUL + CR; the report is filled up with what its buffer held before
    (``stale_fill``; False: NULs)."""

    report_value = 0x0002
    size = 64

    def __init__(self, vendor_id: int = 0x06DA, product_id: int = 0x0003, *,
                 stale_fill: bool = True, **kwargs) -> None:
        kwargs.setdefault("interfaces", [d.Interface(
            number=0, interface_class=d.CLASS_HID, endpoints=[_interrupt_in(64)],
            extra=d.hid_descriptor(0x1b))])
        kwargs.setdefault("product", "USB UPS")
        super().__init__(vendor_id, product_id, **kwargs)
        self.stale_fill = stale_fill
        self.buffer = bytearray(self.size)

    def reply(self, data: bytes) -> None:
        data = (data or b"\0\r")[:self.size]
        if not self.stale_fill:
            self.buffer = bytearray(self.size)
        self.buffer[:len(data)] = data
        self.queue_interrupt(bytes(self.buffer))


class GtecQ1Device(CypressQ1Device):
    """Gtec bridge: SET_REPORT wValue 0x0002 (no chunk padding needed), each reply in one
    packet of up to 64 bytes. No ID of its own in C's table: use subdriver=gtec."""

    report_value = 0x0002

    def __init__(self, vendor_id: int = 0x0665, product_id: int = 0x5161, **kwargs) -> None:
        kwargs.setdefault("interfaces", [d.Interface(
            number=0, interface_class=d.CLASS_HID, endpoints=[_interrupt_in(64)],
            extra=d.hid_descriptor(0x1b))])
        super().__init__(vendor_id, product_id, **kwargs)

    def reply(self, data: bytes) -> None:
        if data:
            self.queue_packets(data, 64, pad=b"")


class StringBridge(Q1Bridge):
    """A bridge that takes each command as a GET_DESCRIPTOR(string) request: ``index_map``
    gives the command for an index; the reply is the UPS's line without its CR, as UTF-16.
    Indexes it does not know stall, as unknown strings do. ``langids`` is the language
    table (string 0); ``broken_langid_table`` makes string 0 unusable (2 bytes), as on the
    units that need ``langid_fix``; ``answer_langids`` restricts the languages the command
    strings are answered in (others stall)."""

    index_map: dict[int, bytes] = {}

    def __init__(self, vendor_id: int, product_id: int, *, broken_langid_table: bool = False,
                 answer_langids: tuple[int, ...] | None = None, **kwargs) -> None:
        kwargs.setdefault("string_indexes", (1, 2, 0))
        super().__init__(vendor_id, product_id, **kwargs)
        self.broken_langid_table = broken_langid_table
        self.answer_langids = answer_langids
        self.string_requests: list[tuple[int, int, int]] = []  # (index, langid, length)

    def handle_control(self, req: ControlRequest) -> bytes | None:
        if req.kind == 0 and req.request == 0x06 and req.value >> 8 == d.DT_STRING:
            self.string_requests.append((req.value & 0xFF, req.index, req.length))
        return super().handle_control(req)

    def string(self, index: int, langid: int) -> bytes:
        if index == 0:
            if self.broken_langid_table:
                return bytes([2, d.DT_STRING])
            return super().string(0, langid)
        command = self.command_for(index)
        if command is None:
            return super().string(index, langid)
        if self.answer_langids is not None and langid not in self.answer_langids:
            raise UsbError(errors.PIPE)
        return d.string_descriptor(self.reply_text(command, self.answer(command)))

    def command_for(self, index: int) -> bytes | None:
        return self.index_map.get(index)

    def reply_text(self, command: bytes, reply: bytes) -> str:
        return reply.split(b"\r", 1)[0].decode("latin-1")


class KraulerQ1Device(StringBridge):
    """Krauler UP-M500VA and relatives (0001:0000): Q1 is string 3, F 13, I 12, T 4, TL 5,
    Q 7, C 11. The first character of a reply is junk (here: the string index), which the
    driver replaces. Every ``no_ack_every``-th command string (0: never) is "UPS No Ack"
    instead, the unit's "ask again"."""

    index_map = {0x03: b"Q1", 0x0D: b"F", 0x0C: b"I", 0x04: b"T", 0x05: b"TL", 0x07: b"Q",
                 0x0B: b"C"}

    def __init__(self, vendor_id: int = 0x0001, product_id: int = 0x0000, *,
                 no_ack_every: int = 0, **kwargs) -> None:
        kwargs.setdefault("product", "USB UPS")
        super().__init__(vendor_id, product_id, **kwargs)
        self.no_ack_every = no_ack_every
        self.asked = 0

    def string(self, index: int, langid: int) -> bytes:
        if index in self.index_map and self.no_ack_every:
            self.asked += 1
            if self.asked % self.no_ack_every == 0:
                return d.string_descriptor(NO_ACK)
        return super().string(index, langid)

    def reply_text(self, command: bytes, reply: bytes) -> str:
        text = super().reply_text(command, reply)
        if not text:
            return ""
        for index, cmd in self.index_map.items():
            if cmd == command:
                return chr(index + 0x40) + text[1:]
        return text


# fabula's shutdown strings: 0x10 steps per delay, +8 to restart
FABULA_DELAYS = [".5", ".6", ".7", ".8", ".9"] + [f"{m:02d}" for m in range(1, 11)]


def fabula_command(index: int) -> bytes | None:
    """The Megatec command of a fabula string index."""
    fixed = {0x03: b"Q1", 0x0D: b"F", 0x0C: b"I", 0x07: b"Q", 0x0A: b"C"}
    if index in fixed:
        return fixed[index]
    step, flags = index >> 4, index & 0x0F
    if 1 <= step <= 15 and flags in (0, 8):
        delay = FABULA_DELAYS[step - 1].encode()
        return b"S" + delay if flags else b"S" + delay + b"R0000"
    return None


class FabulaQ1Device(StringBridge):
    """Fideltronik/MEC LUPUS 500 USB (0001:0000, "MEC"/"MEC0003"): Q1 string 3, F 13, I 12,
    Q 7, C 10, shutdowns 0x10-0xF8 (delay step << 4, +8: restart when power returns). The
    unit answers "UPS No Ack" to every command it carries out."""

    def __init__(self, vendor_id: int = 0x0001, product_id: int = 0x0000, **kwargs) -> None:
        kwargs.setdefault("manufacturer", "MEC")
        kwargs.setdefault("product", "MEC0003")
        super().__init__(vendor_id, product_id, **kwargs)

    def command_for(self, index: int) -> bytes | None:
        return fabula_command(index)

    def reply_text(self, command: bytes, reply: bytes) -> str:
        if command in (b"Q1", b"F", b"I"):
            return super().reply_text(command, reply)
        return NO_ACK


class HunnoxQ1Device(FabulaQ1Device):
    """Hunnox HNX 850 (0001:0000, product "MEC0003", another maker string): fabula's
    strings (with their CR) plus BL (battery level) at 0xF3. A command string asked for
    with more than 102 bytes of buffer locks the unit up (the request times out), as C's
    driver notes."""

    def __init__(self, vendor_id: int = 0x0001, product_id: int = 0x0000, **kwargs) -> None:
        kwargs.setdefault("manufacturer", "HUNNOX")
        super().__init__(vendor_id, product_id, **kwargs)
        from .controller import Fault

        self.faults.append(Fault("control", errors.TIMEOUT, count=None, match=self._locks_up))

    def _locks_up(self, req) -> bool:
        return (isinstance(req, ControlRequest) and req.request == 0x06
                and req.value >> 8 == d.DT_STRING and req.length > 102
                and self.command_for(req.value & 0xFF) is not None)

    def command_for(self, index: int) -> bytes | None:
        return b"BL" if index == 0xF3 else super().command_for(index)

    def reply_text(self, command: bytes, reply: bytes) -> str:
        # unlike fabula's, these strings end with the CR (the driver adds none)
        text = super().reply_text(command, reply)
        return text + "\r" if text != NO_ACK else text


class SnrQ1Device(KraulerQ1Device):
    """SNR-UPS-LID (0001:0000, product "MEC0003"): Q1, F and I as krauler's strings (junk
    first character, CR kept), read with a fixed language (``langid_fix``). C's table never
    picks it: subdriver=snr."""

    index_map = {0x03: b"Q1", 0x0D: b"F", 0x0C: b"I"}

    def __init__(self, vendor_id: int = 0x0001, product_id: int = 0x0000, **kwargs) -> None:
        kwargs.setdefault("product", "MEC0003")
        kwargs.setdefault("manufacturer", "SNR")
        super().__init__(vendor_id, product_id, **kwargs)

    def reply_text(self, command: bytes, reply: bytes) -> str:
        # the CR stays in these strings (the driver adds none)
        text = super().reply_text(command, reply)
        return text + "\r" if text else text


class FujiQ1Device(Q1Bridge):
    """Fuji (0001:0000, "ATCL FOR UPS"): 8-byte command packets on interrupt OUT 0x02
    (0x80 0x06 <len+1> 0x03 <command> ... <answer length>); replies, only to queries (an
    answer length > 0), in NUL-padded 8-byte packets on 0x81."""

    def __init__(self, vendor_id: int = 0x0001, product_id: int = 0x0000, **kwargs) -> None:
        kwargs.setdefault("manufacturer", "ATCL FOR UPS")
        kwargs.setdefault("product", "ATCL FOR UPS")
        kwargs.setdefault("interfaces", [d.Interface(
            number=0, interface_class=d.CLASS_HID,
            endpoints=[_interrupt_in(), d.Endpoint(0x02, d.TRANSFER_INTERRUPT, 8, 10)],
            extra=d.hid_descriptor(0x1b))])
        super().__init__(vendor_id, product_id, **kwargs)
        self.packets: list[bytes] = []

    def handle_data_out(self, kind: str, endpoint: int, data: bytes) -> None:
        self.packets.append(data)
        if len(data) != 8 or data[:2] != b"\x80\x06" or data[3] != 0x03:
            raise UsbError(errors.PIPE)
        command = data[4:4 + max(data[2] - 1, 0)]
        reply = self.answer(command)
        if data[7] and reply:
            self.queue_packets(reply, 8)


class SgsQ1Device(Q1Bridge):
    """TS Shara (0483:0035): SET_REPORT (wValue 0x0200) packets of a count byte and up to 7
    characters each way; a reply simply stops (the next read times out)."""

    def __init__(self, vendor_id: int = 0x0483, product_id: int = 0x0035, **kwargs) -> None:
        kwargs.setdefault("product", "UPS USB MON V1.4")
        super().__init__(vendor_id, product_id, **kwargs)
        self.line = LineAssembler()

    def handle_control(self, req: ControlRequest) -> bytes | None:
        if req.request_type == 0x21 and req.request == 0x09 and req.value == 0x0200:
            count = min(req.data[0], 7) if req.data else 0
            for line in self.line.feed(req.data[1:1 + count]):
                reply = self.answer(line)
                for i in range(0, len(reply), 7):
                    part = reply[i:i + 7]
                    self.queue_interrupt((bytes([len(part)]) + part).ljust(8, b"\0"))
            return None
        if req.kind == 0x20:
            raise UsbError(errors.PIPE)
        return super().handle_control(req)


class AblerexQ1Device(Q1Bridge):
    """Ablerex 625L USB (ffff:0000): the command as feature report 5 (0x05, 0, length + 1,
    the command with its CR, 47 bytes), the reply read back as feature report 5 (47 bytes,
    the reply line from its first byte, NUL-padded)."""

    def __init__(self, vendor_id: int = 0xFFFF, product_id: int = 0x0000, **kwargs) -> None:
        kwargs.setdefault("product", "Ablerex USB")
        super().__init__(vendor_id, product_id, **kwargs)
        self.report = b""

    def handle_control(self, req: ControlRequest) -> bytes | None:
        if req.request_type == 0x21 and req.request == 0x09 and req.value == 0x0305:
            if len(req.data) < 3 or req.data[0] != 0x05:
                raise UsbError(errors.PIPE)
            command = req.data[3:3 + req.data[2]].split(b"\r", 1)[0]
            self.report = self.answer(command)
            return None
        if req.request_type == 0xA1 and req.request == 0x01 and req.value == 0x0305:
            return self.report[:47].ljust(47, b"\0")
        if req.kind == 0x20:
            raise UsbError(errors.PIPE)
        return super().handle_control(req)


class ArmacQ1Device(Q1Bridge):
    """Armac (0925:1234, Richcomm bridge). Commands in 4-byte SET_REPORTs (0xA0 + count, up
    to 3 characters); replies in 6-byte packets on 0x81 (count, up to 5 characters), then
    one with count 0 (nothing more: the end of the reply for NUT 2.8.0's framing). With
    ``interrupt=True`` the unit has the 64-byte interrupt pair 0x82/0x02 instead: one OUT
    packet (0xA0 + count, the command) and 64-byte reply packets. A UPS that is switched off
    answers a NUL (``off``)."""

    def __init__(self, vendor_id: int = 0x0925, product_id: int = 0x1234, *,
                 interrupt: bool = False, **kwargs) -> None:
        endpoints = ([d.Endpoint(0x82, d.TRANSFER_INTERRUPT, 64, 10),
                      d.Endpoint(0x02, d.TRANSFER_INTERRUPT, 64, 10)] if interrupt
                     else [_interrupt_in()])
        kwargs.setdefault("interfaces", [d.Interface(
            number=0, interface_class=d.CLASS_HID, endpoints=endpoints,
            extra=d.hid_descriptor(0x1b))])
        kwargs.setdefault("product", "UPS USB MON V1.4")
        super().__init__(vendor_id, product_id, **kwargs)
        self.interrupt = interrupt
        self.line = LineAssembler()
        self.off = False

    def _send(self, reply: bytes) -> None:
        if self.off:
            reply = b"\0"
        if self.interrupt:
            for i in range(0, len(reply), 63):
                part = reply[i:i + 63]
                self.queue_interrupt((bytes([len(part)]) + part).ljust(64, b"\0"), 0x82)
        else:
            for i in range(0, len(reply), 5):
                part = reply[i:i + 5]
                self.queue_interrupt((bytes([len(part)]) + part).ljust(6, b"\0"))
            self.queue_interrupt(bytes(6))

    def _feed(self, data: bytes) -> None:
        for line in self.line.feed(data):
            reply = self.answer(line)
            if reply:
                self._send(reply)

    def handle_control(self, req: ControlRequest) -> bytes | None:
        if req.request_type == 0x21 and req.request == 0x09 and req.value == 0x0200:
            if not req.data or req.data[0] & 0xF0 != 0xA0:
                raise UsbError(errors.PIPE)
            self._feed(req.data[1:1 + (req.data[0] & 0x0F)])
            return None
        if req.kind == 0x20:
            raise UsbError(errors.PIPE)
        return super().handle_control(req)

    def handle_data_out(self, kind: str, endpoint: int, data: bytes) -> None:
        if not data or data[0] & 0xE0 != 0xA0:
            raise UsbError(errors.PIPE)
        self._feed(data[1:1 + (data[0] & 0x3F)])


class PhoenixtecQ1Device(Q1Bridge):
    """Phoenixtec's "USB Cable (V2.00)" (06da:0002, Masterguard A series): the whole
    command in one vendor request (bmRequestType 0x42, bRequest 0x0d); replies in 8-byte
    packets on 0x81. The commands that have no reply (C's list) get none."""

    no_answer = re.compile(rb"(T|TL|S[^A-Z].*|C|CT|M|N|O|SRC|FCLR|SS|TUD|SSN)")

    def __init__(self, vendor_id: int = 0x06DA, product_id: int = 0x0002, **kwargs) -> None:
        kwargs.setdefault("manufacturer", "Phoenixtec Power")
        kwargs.setdefault("product", "USB Cable (V2.00)")
        super().__init__(vendor_id, product_id, **kwargs)
        self.line = LineAssembler()

    def handle_control(self, req: ControlRequest) -> bytes | None:
        if req.request_type == 0x42 and req.request == 0x0D:
            for line in self.line.feed(req.data):
                reply = self.answer(line)
                if reply and not self.no_answer.fullmatch(line):
                    for i in range(0, len(reply), 8):
                        self.queue_interrupt(reply[i:i + 8])
            return None
        if req.kind in (0x20, 0x40):
            raise UsbError(errors.PIPE)
        return super().handle_control(req)


MODELS = {
    "cypress": CypressQ1Device, "phoenix": PhoenixQ1Device, "ippon": IpponQ1Device,
    "krauler": KraulerQ1Device, "fabula": FabulaQ1Device, "hunnox": HunnoxQ1Device,
    "fuji": FujiQ1Device, "sgs": SgsQ1Device, "snr": SnrQ1Device,
    "ablerex": AblerexQ1Device, "armac": ArmacQ1Device, "gtec": GtecQ1Device,
    "phoenixtec": PhoenixtecQ1Device,
}

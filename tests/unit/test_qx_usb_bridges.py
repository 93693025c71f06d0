"""The USB bridges of nutdrv_qx/blazer_usb without a bus: each subdriver against a scripted
device, for the bytes it sends, how it takes replies apart (C's quirks included), and the
transport's reaction to libusb errors; the device table that picks a subdriver."""

from __future__ import annotations

import pytest

from nutpy.drivers.qx import usb as qxusb
from nutpy.drivers.qx.usb import link as L
from nutpy.drivers.qx.usb.armac import Armac
from nutpy.drivers.qx.usb.cypress import Cypress
from nutpy.drivers.qx.usb.fabula import Fabula, command_index
from nutpy.drivers.qx.usb.fuji import Fuji
from nutpy.drivers.qx.usb.hunnox import Hunnox
from nutpy.drivers.qx.usb.ippon import Ippon
from nutpy.drivers.qx.usb.krauler import Krauler
from nutpy.drivers.qx.usb.phoenix import Phoenix
from nutpy.drivers.qx.usb.phoenixtec import Phoenixtec
from nutpy.drivers.qx.usb.sgs import Sgs
from nutpy.drivers.qx.usb.snr import Snr
from nutpy.drivers.qx.usb.transport import UsbTransport

Q1 = b"(230.0 230.0 230.0 013 50.0 13.6 25.0 00001000\r"


def utf16(text: str) -> bytes:
    data = text.encode("utf-16-le")
    return bytes([2 + len(data), 3]) + data


class ScriptedLink:
    """A device: ``packets`` are what interrupt reads return in turn (an int: that libusb
    error), ``strings`` the string descriptors by index, ``feature`` the GET_REPORT
    answer. Every call is logged in ``calls``."""

    def __init__(self, packets=(), strings=None, feature=b"", layout=None) -> None:
        self.packets = list(packets)
        self.strings = dict(strings or {})
        self.feature = feature
        self._layout = layout
        self.calls: list[tuple] = []
        self.fail_clear_halt = False

    def control(self, request_type, request, value, index, data_or_length, timeout_ms):
        self.calls.append(("control", request_type, request, value, index,
                           bytes(data_or_length) if not isinstance(data_or_length, int)
                           else data_or_length))
        if request_type & 0x80:
            if request == 0x06:
                raw = self.strings.get(value & 0xFF)
                if isinstance(raw, list):  # answers in turn
                    raw = raw.pop(0)
                if raw is None:
                    raise L.LinkError(L.ERROR_PIPE)
                if isinstance(raw, int):
                    raise L.LinkError(raw)
                return raw[:data_or_length]
            return self.feature[:data_or_length]
        return len(data_or_length)

    def interrupt_read(self, endpoint, length, timeout_ms):
        self.calls.append(("read", endpoint, length))
        if not self.packets:
            raise L.LinkError(L.ERROR_TIMEOUT)
        packet = self.packets.pop(0)
        if isinstance(packet, int):
            raise L.LinkError(packet)
        return packet[:length]

    def interrupt_write(self, endpoint, data, timeout_ms):
        self.calls.append(("write", endpoint, bytes(data)))
        return len(data)

    def clear_halt(self, endpoint):
        self.calls.append(("clear_halt", endpoint))
        if self.fail_clear_halt:
            raise L.LinkError(L.ERROR_IO)

    def reset(self):
        self.calls.append(("reset",))

    def layout(self):
        return self._layout

    def sent(self):
        return [c[5] for c in self.calls if c[0] == "control" and not c[1] & 0x80]

    def strings_asked(self):
        return [(c[3] & 0xFF, c[4], c[5]) for c in self.calls
                if c[0] == "control" and c[2] == 0x06]


def chunks(data: bytes, size: int = 8) -> list[bytes]:
    return [data[i:i + size].ljust(size, b"\0") for i in range(0, len(data), size)]


# ---- the cypress family

def test_cypress_sends_nul_padded_8_byte_reports_and_reads_to_the_cr():
    link = ScriptedLink(chunks(Q1))
    reply = Cypress(L.Options()).command(link, b"S.5R0003\r", L.QX_BUFLEN)
    assert link.sent() == [b"S.5R0003", b"\r\0\0\0\0\0\0\0"]
    assert all(c[1:4] == (0x21, 0x09, 0x0200) for c in link.calls if c[0] == "control")
    # the count C returns is what was read, padding included
    assert reply.length == 48 and reply.rstrip(b"\0") == Q1


def test_cypress_timeout_is_an_error_and_an_empty_packet_an_empty_reply():
    with pytest.raises(L.LinkError) as e:
        Cypress(L.Options()).command(ScriptedLink([]), b"Q1\r", L.QX_BUFLEN)
    assert e.value.code == L.ERROR_TIMEOUT
    reply = Cypress(L.Options()).command(ScriptedLink([b"(230.0 2", b""]), b"Q1\r",
                                         L.QX_BUFLEN)
    assert reply.length == 0 and reply == b"(230.0 2"


def test_phoenix_drains_stale_packets_first():
    stale = [b"00001000", b"\r\0\0\0\0\0\0\0"]
    link = ScriptedLink(stale + [L.ERROR_TIMEOUT] + chunks(Q1))
    reply = Phoenix(L.Options()).command(link, b"Q1\r", L.QX_BUFLEN)
    assert reply.rstrip(b"\0") == Q1
    kinds = [c[0] for c in link.calls]
    assert kinds[:4] == ["read", "read", "read", "control"]


def test_phoenix_clears_a_stalled_endpoint_while_draining():
    link = ScriptedLink([L.ERROR_PIPE] + chunks(Q1))
    Phoenix(L.Options()).command(link, b"Q1\r", L.QX_BUFLEN)
    assert ("clear_halt", 0x81) in link.calls


def test_ippon_cuts_its_64_byte_report_at_the_cr():
    report = (Q1 + b"stale bytes from before").ljust(64, b"\0")
    link = ScriptedLink([report])
    reply = Ippon(L.Options()).command(link, b"Q1\r", L.QX_BUFLEN)
    assert link.sent() == [b"Q1\r\0\0\0\0\0"]
    assert all(c[3] == 0x0002 for c in link.calls if c[0] == "control")
    assert reply == Q1
    # "no reply": NUL + CR, an empty value with a length of 2 (blazer_usb: 0)
    empty = (b"\0\r" + b"x" * 62)
    assert Ippon(L.Options()).command(ScriptedLink([empty]), b"T\r", L.QX_BUFLEN) == b"\0\r"
    assert Ippon(L.Options(), blazer=True).command(ScriptedLink([empty]), b"T\r",
                                                   L.BLAZER_BUFLEN).length == 0


def test_ippon_reply_without_cr_reads_through_the_command_left_in_the_buffer():
    link = ScriptedLink([b"AB"])
    reply = Ippon(L.Options()).command(link, b"S.5R0003\r", L.QX_BUFLEN)
    # C reads into the buffer that held the command: "AB" + "5R0003\r"
    assert reply == b"AB5R0003\r"


def test_sgs_length_prefixed_packets_both_ways():
    link = ScriptedLink([b"\x07(230.0 ", b"\x03230\0\0\0\0"])
    reply = Sgs(L.Options()).command(link, b"S.5R0003\r", L.QX_BUFLEN)
    assert link.sent() == [b"\x07S.5R000", b"\x023\r\0\0\0\0\0"]
    # the reply ends when the unit stops sending; the missing CR is added
    assert reply == b"(230.0 230\r"


def test_fuji_packets_and_the_commands_it_cannot_send():
    link = ScriptedLink(chunks(Q1))
    assert Fuji(L.Options()).command(link, b"Q1\r", L.QX_BUFLEN) == Q1
    assert link.calls[0] == ("write", 0x02, b"\x80\x06\x03\x03Q1\x00\x2f")
    link = ScriptedLink([])
    with pytest.raises(L.LinkError):  # commands get no reply: the read times out
        Fuji(L.Options()).command(link, b"S.5R0003\r", L.QX_BUFLEN)
    assert link.calls[0] == ("write", 0x02, b"\x80\x06\x04\x03S.5\x00")
    link = ScriptedLink([])
    assert Fuji(L.Options()).command(link, b"QMOD\r", L.QX_BUFLEN) == b"QMOD\r"
    assert link.calls == []


def test_phoenixtec_one_vendor_request_and_no_read_for_silent_commands():
    link = ScriptedLink(chunks(Q1))
    assert Phoenixtec(L.Options()).command(link, b"Q1\r", L.QX_BUFLEN) == Q1
    assert link.calls[0][:5] == ("control", 0x42, 0x0D, 0, 0) and link.calls[0][5] == b"Q1\r"
    for silent in (b"T\r", b"TL\r", b"S.5R0003\r", b"M\r", b"CT\r"):
        link = ScriptedLink([])
        assert Phoenixtec(L.Options()).command(link, silent, L.QX_BUFLEN) == b""
        assert [c[0] for c in link.calls] == ["control"]
    # "M" is silent, "MSO" is not
    link = ScriptedLink([b"(ACK\r"])
    assert Phoenixtec(L.Options()).command(link, b"MSO\r", L.QX_BUFLEN) == b"(ACK\r"


# ---- the string-descriptor bridges

def test_libusb_ascii_strings():
    link = ScriptedLink(strings={0: b"\x04\x03\x09\x04", 3: utf16("(2é0")})
    assert L.get_string_ascii(link, 3, 511) == b"(2?0"
    assert link.strings_asked() == [(0, 0, 4), (3, 0x0409, 255)]
    broken = ScriptedLink(strings={0: b"\x02\x03", 3: utf16("x")})
    with pytest.raises(L.LinkError) as e:
        L.get_string_ascii(broken, 3, 511)
    assert e.value.code == L.ERROR_IO


def test_krauler_replaces_the_junk_first_character_and_asks_again_on_no_ack():
    link = ScriptedLink(strings={0: b"\x04\x03\x09\x04", 3: [
        utf16("UPS No Ack"), utf16("C230.0 230.0 230.0 013 50.0 13.6 25.0 00001000")]})
    reply = Krauler(L.Options()).command(link, b"Q1\r", L.QX_BUFLEN)
    assert reply == Q1  # prefix '(' and the missing CR
    assert [i for i, _, _ in link.strings_asked() if i] == [3, 3]
    # unknown commands never reach the device
    link = ScriptedLink()
    assert Krauler(L.Options()).command(link, b"QGS\r", L.QX_BUFLEN) == b"QGS\r"
    assert link.calls == []


def test_krauler_with_langid_fix_reads_raw_strings_and_checks_their_length():
    bad = bytes([60]) + utf16("X230.0")[1:]       # says 60 bytes, has 14
    good = utf16("#230.0 003 12.00 50.0")
    link = ScriptedLink(strings={0x0D: [bad, good]})
    reply = Krauler(L.Options(langid_fix=0x4095)).command(link, b"F\r", L.QX_BUFLEN)
    assert reply == b"#230.0 003 12.00 50.0\r"
    assert link.strings_asked() == [(0x0D, 0x4095, 511), (0x0D, 0x4095, 511)]


@pytest.mark.parametrize("cmd,index", [
    (b"Q1\r", 0x03), (b"F\r", 0x0D), (b"I\r", 0x0C), (b"Q\r", 0x07), (b"C\r", 0x0A),
    (b"S.5R0000\r", 0x10), (b"S.5\r", 0x18), (b"S.5R0003\r", 0x18), (b"S.7R0001\r", 0x38),
    (b"S.2R0000\r", 0x10), (b"S01R0000\r", 0x60), (b"S02\r", 0x78), (b"S10\r", 0xF8),
    (b"S12R0000\r", 0xF0), (b"CT\r", 0), (b"QGS\r", 0), (b"T\r", 0)])
def test_fabula_command_indexes(cmd, index):
    assert command_index(cmd) == index


def test_fabula_no_ack_is_an_empty_reply_and_the_cr_is_added():
    link = ScriptedLink(strings={0: b"\x04\x03\x09\x04", 0x10: utf16("UPS No Ack"),
                                 0x03: utf16(Q1[:-1].decode())})
    assert Fabula(L.Options()).command(link, b"S.5R0000\r", L.QX_BUFLEN) == b""
    assert Fabula(L.Options()).command(link, b"Q1\r", L.QX_BUFLEN) == Q1


def test_hunnox_lock_step_and_short_requests():
    strings = {i: utf16("x") for i in (0, 1, 3, 0x0C, 0x0D)}
    strings[0x03] = utf16(Q1.decode())
    link = ScriptedLink(strings=strings)
    sub = Hunnox(L.Options(langid_fix=0x0409))
    for cmd in (b"Q1\r", b"F\r", b"Q1\r", b"I\r", b"Q1\r"):
        sub.command(link, cmd, L.QX_BUFLEN)
    assert link.strings_asked() == [
        (0, 0x409, 1026), (0, 0x409, 1026), (1, 0x409, 1026), (3, 0x409, 102),  # wake-up
        (0x0D, 0x409, 102),     # step 1 left out: F is the one asked for
        (3, 0x409, 102),        # step 2 left out: Q1 asked for
        (0x0C, 0x409, 102),     # step 3 left out: I asked for
        (0x0D, 0x409, 102), (3, 0x409, 102)]   # step 1 again, then Q1
    novendor = ScriptedLink(strings=strings)
    sub = Hunnox(L.Options(langid_fix=0x0409, novendor=True))
    for cmd in (b"Q1\r", b"Q1\r", b"Q1\r", b"Q1\r"):
        sub.command(novendor, cmd, L.QX_BUFLEN)
    assert (0x0C, 0x409, 102) not in novendor.strings_asked()


def test_snr_needs_langid_fix_in_2_8_5():
    link = ScriptedLink([b"wake"], strings={3: utf16("X" + Q1[1:].decode())})
    with pytest.raises(L.Fatal, match="args out of range"):
        Snr(L.Options()).command(link, b"Q1\r", L.QX_BUFLEN)
    link = ScriptedLink([b"wake"], strings={3: utf16("X" + Q1[1:].decode())})
    assert Snr(L.Options(langid_fix=0x409)).command(link, b"Q1\r", L.QX_BUFLEN) == Q1
    assert link.calls[0] == ("read", 0x81, 102)


# ---- armac

def test_armac_control_framing():
    packets = [b"\x05(230.", b"\x050 230", b"\x02.0\0\0\0", b"\x01\r\0\0\0\0"]
    link = ScriptedLink([b"\x00\0\0\0\0\0", L.ERROR_TIMEOUT] + packets,
                        layout=L.InterfaceLayout(1, 1, [L.Endpoint(0x81, 3, 8)]))
    reply = Armac(L.Options()).command(link, b"Q1\r", L.QX_BUFLEN)
    assert reply == b"(230.0 230.0\r"
    assert link.sent() == [b"\xa3Q1\r"]
    # the stale packet was drained (100 ms reads) before the command went out
    assert link.calls[:3] == [("read", 0x81, 6), ("read", 0x81, 6),
                              ("control", 0x21, 0x09, 0x0200, 0, b"\xa3Q1\r")]
    long = ScriptedLink(layout=None)
    with pytest.raises(L.LinkError):
        Armac(L.Options()).command(long, b"T01\r", L.QX_BUFLEN)
    assert long.sent() == [b"\xa3T01", b"\xa1\r\0\0"]


def test_armac_nul_bytes():
    off = ScriptedLink([L.ERROR_TIMEOUT, b"\x01\0\0\0\0\0"])
    assert Armac(L.Options()).command(off, b"Q1\r", L.QX_BUFLEN) == b""
    status = b"(230.0 230.0 230.0 013 50.0 13.6 25.0 0"  # 39 characters, then a NUL
    packets = [bytes([len(status[i:i + 5])]) + status[i:i + 5].ljust(5, b"\0")
               for i in range(0, len(status), 5)]
    packets += [b"\x05\x00001\x00", b"\x04000\r\0"]
    link = ScriptedLink([L.ERROR_TIMEOUT] + packets)
    reply = Armac(L.Options()).command(link, b"Q1\r", L.QX_BUFLEN)
    # past column 38 a NUL reads as '0'; a NUL earlier ends the reply
    assert reply.startswith(status) and reply[39:44] == b"00010"


def test_armac_interrupt_pipe_units():
    layout = L.InterfaceLayout(1, 1, [L.Endpoint(0x82, 3, 64), L.Endpoint(0x02, 3, 64)])
    link = ScriptedLink([bytes([len(Q1)]) + Q1.ljust(63, b"\0")], layout=layout)
    assert Armac(L.Options()).command(link, b"Q1\r", L.QX_BUFLEN) == Q1
    assert link.calls[0] == ("write", 0x02, b"\xa3Q1\r")
    assert link.calls[1] == ("read", 0x82, 64)


# ---- the transport's reaction to errors (C's qx_command)

class Failing:
    name = "failing"

    def __init__(self, code):
        self.code = code

    def command(self, link, cmd, buflen):
        raise L.LinkError(self.code)


class FakeHandle:
    closed = False

    def close(self):
        self.closed = True


def transport_with(code, clear_halt_fails=False):
    log = Log()
    t = UsbTransport(Failing(code), L.QX_BUFLEN, log)
    link = ScriptedLink()
    link.fail_clear_halt = clear_halt_fails
    link.handle = FakeHandle()
    t.link = link
    with pytest.raises(OSError):
        t.command(b"Q1\r")
    return t, link, log


class Log:
    def __init__(self):
        self.lines = []

    def debug(self, level, msg):
        self.lines.append((level, msg))

    def error(self, msg):
        self.lines.append(("error", msg))


def test_transport_keeps_the_device_on_timeouts_and_cleared_stalls():
    t, link, _ = transport_with(L.ERROR_TIMEOUT)
    assert not t.lost and t.link is link
    t, link, log = transport_with(L.ERROR_PIPE)
    assert not t.lost and ("clear_halt", 0x81) in link.calls
    assert (1, "Stall condition cleared") in log.lines


@pytest.mark.parametrize("code", [L.ERROR_NO_DEVICE, L.ERROR_IO, L.ERROR_ACCESS,
                                  L.ERROR_NOT_FOUND, L.ERROR_BUSY])
def test_transport_drops_a_lost_device(code):
    t, link, log = transport_with(code)
    assert t.lost and t.link is None and link.handle.closed
    if code == L.ERROR_BUSY:
        assert ("error", "Got disconnected by another driver") in log.lines


def test_transport_resets_a_stall_it_cannot_clear_and_reconnects():
    t, link, log = transport_with(L.ERROR_PIPE, clear_halt_fails=True)
    assert ("reset",) in link.calls and t.lost
    assert (1, "Device reset handled") in log.lines


# ---- choosing the subdriver

@pytest.mark.parametrize("ids,expected", [
    ((0x0665, 0x5161, None, None), "cypress"),
    ((0x06DA, 0x0002, "Phoenixtec Power", "USB Cable (V2.00)"), "phoenixtec"),
    ((0x06DA, 0x0002, "phoenixtec power", "usb cable (v2.00)"), "phoenixtec"),
    ((0x06DA, 0x0002, None, "USB Cable (V2.00)"), "cypress"),
    ((0x06DA, 0x0003, None, None), "ippon"),
    ((0x06DA, 0x0601, None, None), "phoenix"),
    ((0x14F0, 0x00C9, None, None), "phoenix"),
    ((0x0001, 0x0000, "MEC", "MEC0003"), "fabula"),
    ((0x0001, 0x0000, "HUNNOX", "MEC0003"), "hunnox"),
    ((0x0001, 0x0000, None, "MEC0003"), "hunnox"),
    ((0x0001, 0x0000, "ATCL FOR UPS", "ATCL FOR UPS"), "fuji"),
    ((0x0001, 0x0000, "ATCL FOR UPS", None), "krauler"),
    ((0x0001, 0x0000, None, None), "krauler"),
    ((0x0483, 0x0035, None, None), "sgs"),
    ((0xFFFF, 0x0000, None, None), "ablerex"),
    ((0x0925, 0x1234, None, None), "armac"),
    ((0x1CB0, 0x0035, None, None), "krauler"),
    ((0x05B8, 0x0000, None, None), "cypress"),
])
def test_the_table_picks_c_s_subdriver(ids, expected):
    status, entry = qxusb.lookup(qxusb.QX_DEVICES, *ids)
    assert status == qxusb.SUPPORTED and entry.subdriver == expected


def test_the_table_edges():
    assert qxusb.lookup(qxusb.QX_DEVICES, 0x1A86, 0x7523, None, None) == \
        (qxusb.SUPPORTED, qxusb.QX_DEVICES[13])
    assert qxusb.QX_DEVICES[13].subdriver is None   # known, but no bridge code in C
    assert qxusb.lookup(qxusb.QX_DEVICES, 0x06DA, 0x9999, None, None)[0] == \
        qxusb.POSSIBLY_SUPPORTED
    assert qxusb.lookup(qxusb.QX_DEVICES, 0x1234, 0x0001, None, None)[0] == \
        qxusb.NOT_SUPPORTED
    # blazer_usb: IDs only, 0001:0000 and ffff:0000 are krauler's
    for ids, name in (((0x0001, 0, "MEC", "MEC0003"), "krauler"),
                      ((0xFFFF, 0, None, None), "krauler"),
                      ((0x06DA, 0x0003, None, None), "ippon")):
        assert qxusb.lookup(qxusb.BLAZER_DEVICES, *ids)[1].subdriver == name
    assert qxusb.lookup(qxusb.BLAZER_DEVICES, 0x0483, 0x0035, None, None)[0] != qxusb.SUPPORTED


def test_every_subdriver_loads():
    for name in qxusb.QX_SUBDRIVERS:
        assert qxusb.framing(name, L.Options()).name == name

"""armac: the Richcomm bridge of Armac units (C's ``armac_command``; "PowerManagerII"
protocol). Units with a 64-byte interrupt endpoint pair 0x82/0x02 take the command in one
interrupt OUT packet (0xA0 + length, the command) and answer in 64-byte packets on 0x82;
the others get, after their stale packets are drained, the command in 4-byte SET_REPORTs
(0xA0 + count, up to 3 characters) and answer in 6-byte packets on 0x81. Either way the
first byte of a packet says how many characters follow (low 6 bits); the reply ends at its
CR, at a packet with none, or at a NUL (status bits past column 38 read as '0'; a NUL first
means the UPS is off). Commands the unit ignores (QGS, QS, QPI, M, D) are echoed without
reaching it, so that detection does not wait for them."""

from __future__ import annotations

from .link import (
    CLASS_OUT,
    ERROR_IO,
    SET_REPORT,
    InterfaceLayout,
    Link,
    LinkError,
    Options,
    Reply,
    line,
    result_text,
)

NAME = "armac"
CONTROL_PACKET, INTERRUPT_PACKET = 6, 64
UNSUPPORTED = (b"QGS\r", b"QS\r", b"QPI\r", b"M\r", b"D\r")
TRANSFER_TYPE_INTERRUPT = 3


class Armac:
    name = NAME

    def __init__(self, opts: Options, blazer: bool = False) -> None:
        self.opts = opts
        self.layout_read = False
        self.layout: InterfaceLayout | None = None  # C's armac_endpoint_cache (read once)

    def _endpoints(self, link: Link):
        if not self.layout_read:
            self.layout_read = True
            layout = link.layout()
            if layout is not None and (layout.interfaces != 1 or layout.alt_settings != 1
                                       or len(layout.endpoints) != 2):
                layout = None
            self.layout = layout
        if self.layout is None:
            return None, None
        ins = [e for e in self.layout.endpoints if e.address & 0x80]
        outs = [e for e in self.layout.endpoints if not e.address & 0x80]
        return (ins[-1] if ins else None), (outs[-1] if outs else None)

    def _use_interrupt(self, link: Link) -> bool:
        ep_in, ep_out = self._endpoints(link)
        return (ep_in is not None and ep_out is not None and ep_in.address == 0x82
                and ep_in.attributes & TRANSFER_TYPE_INTERRUPT and ep_out.address == 0x02
                and ep_out.attributes & TRANSFER_TYPE_INTERRUPT
                and ep_in.max_packet_size == 64)

    def command(self, link: Link, cmd: bytes, buflen: int) -> Reply:
        opts = self.opts
        # qx_process gives the length without the NUL, so the NUL is never sent
        opts.log.debug(2, "armac_command: strlen(cmd) > cmdlen (provided by caller), would "
                          "effectively truncate!")
        if cmd in UNSUPPORTED:
            opts.log.debug(2, f"armac: unsupported cmd: {line(cmd)}")
            return echo_quiet(cmd, buflen)
        opts.log.debug(4, f"armac command {line(cmd)}")
        interrupt = self._use_interrupt(link) and len(cmd) < 64
        ret = 0
        if interrupt:
            data = cmd[:INTERRUPT_PACKET - 2]
            try:
                ret = link.interrupt_write(0x02, bytes([0xA0 + len(data)]) + data, 5000)
            except LinkError as e:
                ret = e.code
            size, endpoint = INTERRUPT_PACKET, 0x82
        else:
            for i in range(10):
                try:
                    stale = link.interrupt_read(0x81, CONTROL_PACKET, 100)
                except LinkError:
                    break
                if len(stale) != CONTROL_PACKET:
                    break
                opts.log.debug(4, f"armac cleanup ret i={i} ret={len(stale)} "
                                  f"ctrl={stale[0]:02x}")
            for i in range(0, len(cmd), 3):
                chunk = cmd[i:i + 3]
                try:
                    ret = link.control(CLASS_OUT, SET_REPORT, 0x0200, 0,
                                       (bytes([0xA0 + len(chunk)]) + chunk).ljust(4, b"\0"),
                                       5000)
                except LinkError as e:
                    ret = e.code
            size, endpoint = CONTROL_PACKET, 0x81
        if ret <= 0:
            opts.log.debug(1, f"send control: {result_text(ret)} ({ret})")
            if ret < 0:
                raise LinkError(ret)
            return Reply()
        opts.sleep(0.002)
        return self._read(link, cmd, buflen, size, endpoint)

    def _read(self, link: Link, cmd: bytes, buflen: int, size: int, endpoint: int) -> Reply:
        opts = self.opts
        buf = bytearray()
        while len(buf) + size + 1 < buflen:
            try:
                packet = link.interrupt_read(endpoint, size, 1000)
                ret = len(packet)
            except LinkError as e:
                packet, ret = b"", e.code
            if ret != size:
                opts.log.debug(1, f"interrupt read error: {result_text(ret)} ({ret})")
                if ret < 0:
                    raise LinkError(ret)
                return Reply(bytes(buf))
            shown = packet[:6].ljust(6, b"\0")
            chars = "".join(chr(b) for b in shown[1:])
            opts.log.debug(4, f"read: ret {ret} buf {shown[0]:02x}: "
                              + " ".join(f"{b:02x}" for b in shown[1:]) + f"  >{chars}<")
            available = min(packet[0] & 0x3F, size - 1)
            if available == 0:
                break
            done = False
            for i in range(available):
                c = packet[i + 1]
                if c == 0 and not buf:
                    opts.log.debug(3, "null byte read - is UPS off?")
                    return Reply()
                if c == 0:
                    if len(buf) >= 38:
                        opts.log.debug(3, f"found null byte in status bits at {len(buf)} "
                                          "byte, assuming 0.")
                        buf += b"0"
                        continue
                    opts.log.debug(3, "found null byte in data stream - interrupting read.")
                    done = True
                    break
                buf.append(c)
                if c == 0x0D:
                    if i + 1 != available:
                        opts.log.debug(3, f"trailing bytes in serial transmission found: "
                                          f"{i + 1}  copied out of {available}")
                    done = True
                    break
            if done:
                break
            if available <= 2:
                opts.sleep(0.01)
        if len(buf) + size >= buflen:
            opts.log.debug(2, "Protocol error, too much data read.")
            raise LinkError(ERROR_IO)
        opts.log.debug(3, f"armac command {line(cmd)} response read: '{line(bytes(buf))}'")
        return Reply(bytes(buf))


def echo_quiet(cmd: bytes, buflen: int) -> Reply:
    text = cmd.split(b"\0", 1)[0]
    return Reply(text[:buflen - 1], len(text))

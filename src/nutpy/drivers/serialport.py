"""A serial line as C NUT's ``drivers/serial.c`` drives it, over pyserial.

pyserial opens the device and handles the modem lines; the line discipline is then set
exactly as C sets it (raw 8N1 at the given speed, then the driver's canonical-mode
tweaks), and reads follow C's ``select_read``: one ``read()`` after waiting for the
descriptor, so in canonical mode one call returns one reply line, and a reply without its
terminator is a timeout, as with C.

Every call blocks: drivers call them from their device thread (the driver core runs the
hooks in a worker thread), never from the event loop.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import struct
import termios
import time

# Modem lines, as <sys/ioctl.h> numbers them (TIOCM_*).
TIOCM_LE, TIOCM_DTR, TIOCM_RTS, TIOCM_ST, TIOCM_SR = 0x001, 0x002, 0x004, 0x008, 0x010
TIOCM_CTS, TIOCM_CAR, TIOCM_RNG, TIOCM_DSR = 0x020, 0x040, 0x080, 0x100
TIOCM_CD, TIOCM_RI = TIOCM_CAR, TIOCM_RNG

# errno values after which the descriptor is no use any more (device unplugged, pty
# master gone): the port is closed and reopened by the next caller that wants it.
GONE_ERRNOS = frozenset({errno.EIO, errno.ENXIO, errno.ENODEV, errno.EBADF, errno.EPIPE})

_SPEEDS = {rate: getattr(termios, f"B{rate}") for rate in
           (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200) if hasattr(termios, f"B{rate}")}


def _tc(fn, *args):
    """A termios call whose failure is an OSError like every other port error."""
    try:
        return fn(*args)
    except termios.error as e:
        err = e.args[0] if e.args and isinstance(e.args[0], int) else errno.EIO
        raise OSError(err, os.strerror(err)) from None


class PortOpenError(OSError):
    """The device could not be opened (C: ``ser_open_error``)."""


class PortLockedError(OSError):
    """Another process holds the port's lock (C: ``flock`` in ``lock_set``)."""


def _pyserial():
    import serial  # pyserial; loaded only by the serial drivers

    return serial


class SerialPort:
    """One serial device. ``open()`` may be called again after ``close()`` (reconnect)."""

    def __init__(self, path: str, speed: int = 2400, lock: bool = True) -> None:
        self.path = path
        self.speed = speed
        self.lock = lock
        self._serial = None  # pyserial Serial
        self.fd: int | None = None
        self._canonical: dict | None = None  # the last set_canonical() arguments

    # ---- life cycle

    @property
    def is_open(self) -> bool:
        return self.fd is not None

    def open(self, dtr: bool | None = None, rts: bool | None = None) -> None:
        """``ser_open`` + ``ser_set_speed``: open without becoming the controlling tty,
        take the exclusive lock, set raw 8N1 at ``speed`` and drop pending input.
        ``dtr``/``rts`` set the lines as the port opens (None: as the kernel leaves
        them); modem-line errors are ignored, as C ignores them (a pty has none)."""
        serial = _pyserial()
        ser = serial.Serial()
        ser.port = self.path
        ser.baudrate = self.speed
        # pyserial drives DTR/RTS while opening unless told that flow control owns them;
        # the flow-control bits it would set are overwritten by _set_raw below
        ser.dsrdtr = dtr is None
        ser.rtscts = rts is None
        if dtr is not None:
            ser.dtr = dtr
        if rts is not None:
            ser.rts = rts
        try:
            ser.open()
        except serial.SerialException as e:
            err = e.errno if isinstance(e.errno, int) else errno.EIO
            raise PortOpenError(err, os.strerror(err), self.path) from None
        fd = ser.fileno()
        if self.lock:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                ser.close()
                raise PortLockedError(e.errno, f"{self.path} is locked by another process") from None
        self._serial, self.fd = ser, fd
        self._set_raw()
        if self._canonical is not None:
            self.set_canonical(**self._canonical)

    def _set_raw(self) -> None:
        iflag, oflag, cflag, lflag, _, _, cc = _tc(termios.tcgetattr, self.fd)
        speed = _SPEEDS.get(self.speed, termios.B2400)
        cc = list(cc)
        cc[termios.VMIN] = 1
        cc[termios.VTIME] = 0
        attrs = [termios.IGNPAR, 0, termios.CS8 | termios.CLOCAL | termios.CREAD, 0,
                 speed, speed, cc]
        _tc(termios.tcflush, self.fd, termios.TCIFLUSH)
        _tc(termios.tcsetattr, self.fd, termios.TCSANOW, attrs)

    def set_canonical(self, eol: bytes, *, igncr: bool = False, no_signals: bool = False,
                      disable: tuple[str, ...] = ("VEOF", "VERASE", "VINTR", "VKILL",
                                                  "VQUIT", "VSUSP", "VSTART", "VSTOP"),
                      flush: bool = False) -> None:
        """Line-at-a-time input as the Q* and APC drivers ask for it: ICANON with ``eol``
        as VEOL and the named special characters disabled. Remembered and applied again
        when the port is reopened."""
        self._canonical = dict(eol=eol, igncr=igncr, no_signals=no_signals,
                               disable=disable, flush=flush)
        attrs = _tc(termios.tcgetattr, self.fd)
        iflag, oflag, cflag, lflag, ispeed, ospeed, cc = attrs
        cc = list(cc)
        lflag |= termios.ICANON
        if no_signals:
            cflag |= termios.CS8 | termios.CLOCAL | termios.CREAD
            lflag &= ~(termios.ISIG | termios.IEXTEN)
            iflag &= ~(termios.IXON | termios.IXOFF)
        if igncr:
            iflag |= termios.IGNCR | termios.IGNPAR
        for name in disable:
            cc[getattr(termios, name)] = b"\0"  # _POSIX_VDISABLE on Linux
        cc[termios.VEOL] = eol
        if flush:
            _tc(termios.tcflush, self.fd, termios.TCIOFLUSH)
        _tc(termios.tcsetattr, self.fd, termios.TCSANOW,
            [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])

    def clear_hupcl(self) -> None:
        """Keep the modem lines as they are when the port is closed (genericups)."""
        attrs = _tc(termios.tcgetattr, self.fd)
        attrs[2] &= ~termios.HUPCL
        _tc(termios.tcsetattr, self.fd, termios.TCSANOW, attrs)

    def close(self) -> None:
        ser, self._serial, self.fd = self._serial, None, None
        if ser is not None:
            try:
                ser.close()
            except OSError:
                pass

    # ---- modem lines

    def set_dtr(self, state: bool) -> bool:
        """False if the line could not be set (C ignores that; a pty has no lines)."""
        return self._set_line(TIOCM_DTR, state)

    def set_rts(self, state: bool) -> bool:
        return self._set_line(TIOCM_RTS, state)

    def _set_line(self, line: int, state: bool) -> bool:
        # the ioctl itself rather than pyserial's setter, so a failure is reported, not raised
        request = termios.TIOCMBIS if state else termios.TIOCMBIC
        try:
            fcntl.ioctl(self.fd, request, struct.pack("I", line))
        except OSError:
            return False
        return True

    def modem_lines(self) -> int:
        """TIOCMGET: the TIOCM_* bits of all lines. Raises OSError."""
        buf = fcntl.ioctl(self._fd(), termios.TIOCMGET, struct.pack("I", 0))
        return struct.unpack("I", buf)[0]

    def set_modem_lines(self, bits: int) -> None:
        """TIOCMSET: raise exactly the output lines in ``bits``. Raises OSError."""
        fcntl.ioctl(self._fd(), termios.TIOCMSET, struct.pack("I", bits & 0xFFFFFFFF))

    def send_break(self, duration: int = 0) -> None:
        _tc(termios.tcsendbreak, self._fd(), duration)

    # ---- data

    def _fd(self) -> int:
        if self.fd is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return self.fd

    def flush_io(self) -> None:
        """``ser_flush_io``: drop unread input and unsent output."""
        _tc(termios.tcflush, self._fd(), termios.TCIOFLUSH)

    def flush_input(self) -> None:
        _tc(termios.tcflush, self._fd(), termios.TCIFLUSH)

    def flush_output(self) -> None:
        _tc(termios.tcflush, self._fd(), termios.TCOFLUSH)

    def write(self, data: bytes, pace: float = 0.0) -> int:
        """``ser_send_buf_pace``: all of ``data``, one byte at a time with ``pace``
        seconds after each when pacing. Returns the count written; raises OSError."""
        fd = self._fd()
        sent = 0
        while sent < len(data):
            chunk = data[sent:sent + 1] if pace else data[sent:]
            try:
                n = os.write(fd, chunk)
            except BlockingIOError:
                select.select([], [fd], [], 1.0)
                continue
            if n < 1:
                return sent
            sent += n
            if pace:
                time.sleep(pace)
        return sent

    def read(self, size: int, timeout: float) -> bytes:
        """``select_read``: wait up to ``timeout`` seconds, then one ``read()``. b"" on
        timeout; raises OSError on errors, EIO when the line was hung up."""
        fd = self._fd()
        ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            data = os.read(fd, size)
        except BlockingIOError:
            return b""
        if not data:
            # readable yet nothing to read: the line was hung up (device gone). C reads
            # this as a timeout and only notices at its next write; we say so at once.
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return data


def is_gone(exc: OSError) -> bool:
    """True if ``exc`` means the device went away and the port must be reopened."""
    return exc.errno in GONE_ERRNOS


class CommFailures:
    """``ser_comm_fail``/``ser_comm_good``: "Communications with UPS lost: <why>" for the
    first ten failures in a row, then only every tenth (with a warning at the tenth and
    every hundredth), and "re-established" once a read works again."""

    LIMIT, RATE = 10, 100

    def __init__(self, log) -> None:
        self.log = log
        self.count = 0

    def fail(self, why: str) -> None:
        self.count += 1
        if self.count == self.LIMIT or self.count % self.RATE == 0:
            self.log.warning("Warning: excessive comm failures, limiting error reporting")
        if self.count > self.LIMIT and self.count % self.LIMIT:
            return
        self.log.warning(f"Communications with UPS lost: {why}")

    def good(self) -> None:
        if not self.count:
            return
        self.log.notice("Communications with UPS re-established")
        self.count = 0


def open_port(port: SerialPort, log, **lines) -> None:
    """``ser_open``: open or exit as C does ("Unable to open <port>: <error>", then
    "Fatal error: unusable configuration"; a held lock: "<port> is locked by another
    process"). The hints printed in between are nutpy's own words."""
    try:
        port.open(**lines)
    except PortLockedError as e:
        log.fatal(e.strerror)
    except PortOpenError as e:
        import sys

        out = [f"\nUnable to open {port.path}: {e.strerror}\n"]
        try:
            st = os.stat(port.path)
        except OSError:
            out.append("Things to try:\n\n - Check 'port=' in ups.conf (does the device exist?)\n"
                       "\n - Check the permissions of every directory on the way\n")
        else:
            import grp
            import pwd

            def name(lookup, ident):
                try:
                    return lookup(ident)[0]
                except KeyError:
                    return str(ident)
            out.append(f"  Current user id: {name(pwd.getpwuid, os.getuid())} ({os.getuid()})")
            out.append(f"Serial port owner: {name(pwd.getpwuid, st.st_uid)} ({st.st_uid})")
            out.append(f"Serial port group: {name(grp.getgrgid, st.st_gid)} ({st.st_gid})")
            out.append(f"     Mode of port: {st.st_mode & 0o7777:04o}\n")
            out.append("Things to try:\n\n - Another port, or this one with permissions that let "
                       "the driver's user in\n\n - Running the driver as a user who may open it "
                       "('user=...' in ups.conf, or upsdrvctl -u)\n")
        print("\n".join(out))
        sys.stdout.flush()
        log.fatal("Fatal error: unusable configuration")


class DriverLog:
    """The logger the protocol modules are given: C's priorities (``crit`` included and
    ``syslog_debug`` for ``upslogx(LOG_DEBUG, ...)``) over nutpy's log."""

    def __init__(self, log) -> None:
        self._log = log

    def __getattr__(self, name):
        return getattr(self._log, name)

    def crit(self, msg: str) -> None:
        write = getattr(self._log, "_write", None)
        if write is not None:
            write(2, msg)
        else:
            self._log.error(msg)

    def syslog_debug(self, msg: str) -> None:
        write = getattr(self._log, "_write", None)
        if write is not None and self._log.quiet < 1:
            write(7, msg)

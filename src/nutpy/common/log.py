"""Logging as C NUT's daemons do it: messages to stderr while in the foreground and to
syslog (identity = program name) once backgrounded; ``-D`` debug lines carry a relative
timestamp and level, e.g. ``   0.000123\t[D1] text``. Repeated messages about bad input
are rate-limited with ``nutpy.common.ratelimit.Throttle``.

When stderr is systemd's journal (a daemon in the foreground under a unit), each line starts
with its syslog priority (``<3>``, sd-daemon(3)'s convention, which journald turns into the
entry's priority) and debug lines lose their relative timestamp: the journal stamps every
line itself."""

from __future__ import annotations

import os
import sys
import time

_start: float | None = None  # set by the first debug line, as C's timestamps start there


class Log:
    def __init__(self) -> None:
        self.prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "nutpy"
        self.debug_level = 0
        self.debug_min = 0
        self.to_stderr = True
        self.to_syslog = False
        self.quiet = 0  # -q: raise the threshold of non-debug messages
        self._journal: bool | None = None  # stderr is the journal; looked at on first use

    def setup(self, prog: str | None = None, debug_level: int | None = None) -> None:
        if prog:
            self.prog = prog
        if debug_level is None:
            env = os.environ.get("NUT_DEBUG_LEVEL", "")
            debug_level = int(env) if env.isdigit() else 0
        self.debug_level = debug_level

    def use_syslog(self) -> None:
        import syslog

        syslog.openlog(self.prog, syslog.LOG_PID, syslog.LOG_DAEMON)
        self.to_syslog = True
        self.to_stderr = False

    @property
    def journal(self) -> bool:
        if self._journal is None:
            self._journal = stderr_is_journal()
        return self._journal

    @property
    def effective_debug(self) -> int:
        return max(self.debug_level, self.debug_min)

    def _write(self, priority: int, msg: str) -> None:
        if self.to_stderr:
            text = msg
            if self.journal:
                text = "\n".join(f"<{priority}>{line}" for line in msg.split("\n"))
            try:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
        if self.to_syslog:
            import syslog

            syslog.syslog(priority, msg)

    def error(self, msg: str) -> None:
        self._write(3, msg)

    def warning(self, msg: str) -> None:
        if self.quiet < 2:
            self._write(4, msg)

    def notice(self, msg: str) -> None:
        if self.quiet < 1:
            self._write(5, msg)

    def info(self, msg: str) -> None:
        if self.quiet < 1:
            self._write(6, msg)

    def debug(self, level: int, msg: str) -> None:
        if self.effective_debug >= level:
            global _start
            now = time.monotonic()
            if _start is None:
                _start = now
            if self.to_stderr and self.journal:
                self._write(7, f"[D{level}] {msg}")
            else:
                self._write(7, f"{now - _start:11.6f}\t[D{level}] {msg}")

    def fatal(self, msg: str, status: int = 1) -> "NoReturn":  # noqa: F821
        self._write(3, msg)
        raise SystemExit(status)


log = Log()


def stderr_is_journal() -> bool:
    """Is stderr systemd's journal? systemd names the stream it connects in JOURNAL_STREAM
    (``<device>:<inode>``); a stderr redirected elsewhere since no longer matches."""
    value = os.environ.get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(2)
    except OSError:
        return False
    return st.st_dev == int(dev) and st.st_ino == int(ino)


def build_description() -> str:
    """What C 2.8.3+ logs at debug level 1 on start-up and with -V (nut_report_config_flags):
    the NUT release whose behaviour this is, and how this copy was built; the one place
    nutpy names itself in a C program's output."""
    import struct

    from .. import NUT_VERSION, __version__

    impl = {"cpython": "CPython", "pypy": "PyPy"}.get(sys.implementation.name,
                                                      sys.implementation.name)
    python = ".".join(str(v) for v in sys.version_info[:3])
    return (f"Network UPS Tools version {NUT_VERSION} (nutpy {__version__}), "
            f"{struct.calcsize('P') * 8}-bit build for {os.uname().machine}, "
            f"built with {impl} {python} and configured with flags: nutpy")


def report_build() -> None:
    log.debug(1, build_description())

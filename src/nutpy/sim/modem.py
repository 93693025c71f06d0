"""Modem control lines for a simulated serial port.

A pseudo-terminal has no DTR, RTS, CTS, DCD, RI or DSR: the ioctls fail. The small C
library ``modemshim.c`` (compiled here on first use with the system's C compiler) is
preloaded into the driver (``LD_PRELOAD``) and answers those ioctls, and ``tcsendbreak``,
for the simulated port from files in a directory the simulator owns. The same library
serves C NUT's drivers and nutpy's (pyserial's ioctls go through the C library too), so
both see the same lines.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from importlib import resources

from ..drivers.serialport import TIOCM_DTR, TIOCM_RTS


class ShimUnavailable(RuntimeError):
    pass


def shim_path(cache_dir: str | None = None) -> str:
    """The compiled shim, built once per source version; ShimUnavailable without a C
    compiler."""
    source = resources.files("nutpy.sim").joinpath("modemshim.c").read_bytes()
    tag = hashlib.sha256(source).hexdigest()[:12]
    base = cache_dir or os.environ.get("NUTPY_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nutpy")
    target = os.path.join(base, f"nutpy-modemshim-{tag}.so")
    if os.path.exists(target):
        return target
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        raise ShimUnavailable("no C compiler (cc) to build the modem-line shim")
    os.makedirs(base, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "modemshim.c")
        with open(src, "wb") as f:
            f.write(source)
        out = os.path.join(tmp, "shim.so")
        proc = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", out, src, "-ldl"],
                              capture_output=True, text=True)
        if proc.returncode:
            raise ShimUnavailable(f"building the modem-line shim failed: {proc.stderr.strip()}")
        shutil.move(out, target)
    return target


class ModemLines:
    """The simulator's side of the shim: a directory with ``tty``, ``in``, ``out`` and
    ``breaks``."""

    def __init__(self, directory: str | None = None) -> None:
        self.dir = directory or tempfile.mkdtemp(prefix="nutpy-modem-")
        os.makedirs(self.dir, exist_ok=True)
        self._in: tuple[int, int] | None = None
        self.set_inputs(0)
        for name in ("out", "breaks"):
            self._write(name, 0)

    def attach(self, tty_path: str) -> None:
        link = os.path.join(self.dir, "tty")
        tmp = link + ".new"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(os.path.realpath(tty_path), tmp)
        os.replace(tmp, link)

    def env(self, shim: str | None = None) -> dict[str, str]:
        """What a driver's environment needs to see these lines."""
        preload = shim or shim_path()
        old = os.environ.get("LD_PRELOAD")
        return {"LD_PRELOAD": f"{preload} {old}" if old else preload,
                "NUTPY_MODEM_DIR": self.dir}

    def _write(self, name: str, *values: int) -> None:
        path = os.path.join(self.dir, name)
        tmp = f"{path}.sim"
        with open(tmp, "w") as f:
            f.write(" ".join(str(v) for v in values) + "\n")
        os.replace(tmp, path)

    def _read(self, name: str) -> int:
        try:
            with open(os.path.join(self.dir, name)) as f:
                return int((f.read().split() or ["0"])[0])
        except (OSError, ValueError):
            return 0

    def set_inputs(self, bits: int, power: int = 0) -> None:
        """Show ``bits`` on the input lines while the output lines ``power`` are raised
        (all inputs read low otherwise)."""
        if (bits, power) != self._in:
            self._write("in", bits, power)
            self._in = (bits, power)

    def outputs(self) -> int:
        return self._read("out") & (TIOCM_DTR | TIOCM_RTS)

    def breaks(self) -> int:
        return self._read("breaks")

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

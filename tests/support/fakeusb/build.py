"""Builds the stand-in libusb-1.0 from fakelibusb.c with the system C compiler, once per
source version: the result is cached in a directory named after the hash of the source and
the compiler command (under $NUTPY_FAKEUSB_CACHE, default <tmp>/nutpy-fakeusb-<uid>)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("fakelibusb.c")
SONAME = "libusb-1.0.so.0"
CFLAGS = ["-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
          "-fvisibility=hidden", "-Wl,-Bsymbolic", f"-Wl,-soname,{SONAME}"]
LIBS = ["-lpthread"]


def compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")


def cache_root() -> Path:
    root = os.environ.get("NUTPY_FAKEUSB_CACHE")
    if root:
        return Path(root)
    return Path(tempfile.gettempdir()) / f"nutpy-fakeusb-{os.getuid()}"


def build_library(root: Path | None = None) -> Path:
    """The directory holding the built libusb-1.0.so.0 (and the libusb-1.0.so link that
    ctypes.util.find_library's fallbacks look for); builds it when not cached yet."""
    cc = compiler()
    if cc is None:
        raise RuntimeError("no C compiler (gcc) to build the stand-in libusb-1.0")
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + "\0".join([cc, *CFLAGS, *LIBS]).encode()).hexdigest()[:16]
    root = root or cache_root()
    out = root / key
    lib = out / SONAME
    if lib.exists():
        return out
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test runs build it once
        if lib.exists():
            return out
        out.mkdir(exist_ok=True)
        tmp = out / f".{SONAME}.{os.getpid()}"
        r = subprocess.run([cc, *CFLAGS, "-o", str(tmp), str(SOURCE), *LIBS],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise RuntimeError(f"building {SOURCE.name} failed:\n{r.stderr}")
        link = out / "libusb-1.0.so"
        link.unlink(missing_ok=True)
        link.symlink_to(SONAME)
        os.replace(tmp, lib)
    return out

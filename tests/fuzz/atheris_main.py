"""Long, coverage-guided fuzzing of one target of ``support.fuzz_targets`` with atheris
(libFuzzer for Python). Not part of the test suite; see docs/reliability.md.

    .venv/bin/pip install atheris
    .venv/bin/python tests/fuzz/atheris_main.py --list
    .venv/bin/python tests/fuzz/atheris_main.py upsd_request -max_total_time=600
    .venv/bin/python tests/fuzz/atheris_main.py all --seconds 120   # each target in turn

Each target starts from its seeds, written into ``<corpus>/<target>/`` (``$NUTPY_FUZZ_CORPUS``,
default ``~/.cache/nutpy-fuzz``, outside the checkout), and gets the parser's words as a
libFuzzer dictionary. A crash leaves ``crash-<sha1>`` with the
input in the current directory; ``-minimize_crash=1 -runs=10000 crash-...`` shrinks it, and
the minimal input goes into tests/fuzz/test_fuzz_regressions.py with the fix.
Any other libFuzzer flag (``-jobs``, ``-max_len``, ``-runs``) is passed through.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: for support.*


def _dictionary(words: list[str], path: Path) -> None:
    with open(path, "w") as f:
        for w in words:
            escaped = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else f"\\x{ord(c):02x}"
                              for c in w)
            f.write(f'"{escaped}"\n')


def fuzz_one(name: str, corpus_root: Path, extra: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["nutpy"]):
        import nutpy.client.core  # noqa: F401
        import nutpy.common.parseconf  # noqa: F401
        import nutpy.common.upsconf  # noqa: F401
        import nutpy.drivers.apcsmart.protocol  # noqa: F401
        import nutpy.drivers.dummy_ups  # noqa: F401
        import nutpy.drivers.main  # noqa: F401
        import nutpy.drivers.qx  # noqa: F401
        import nutpy.drivers.qx.blazer  # noqa: F401
        import nutpy.drivers.sockserver  # noqa: F401
        import nutpy.drivers.state  # noqa: F401
        import nutpy.drivers.usbhid.hidparser  # noqa: F401
        import nutpy.proto.sockproto  # noqa: F401
        import nutpy.security.credentials  # noqa: F401
        import nutpy.security.tcpwrappers  # noqa: F401
        import nutpy.sim.apcsmart  # noqa: F401
        import nutpy.sim.q1  # noqa: F401
        import nutpy.upsd.config  # noqa: F401
        import nutpy.upsd.protocol  # noqa: F401
        import nutpy.upsd.server  # noqa: F401
        import nutpy.upsd.state  # noqa: F401
        import nutpy.upsmon.config  # noqa: F401
        import nutpy.upsmon.schedconf  # noqa: F401
        import nutpy.upsmon.timers  # noqa: F401
        from nutpy.drivers.qx import subdrivers
        subdrivers()  # imports every subdriver module, instrumented
        from support import fuzz_targets
    t = fuzz_targets.TARGETS.get(name)
    if t is None:
        print(f"unknown target {name}; --list lists them", file=sys.stderr)
        raise SystemExit(2)
    corpus = corpus_root / name
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(t.seeds):
        (corpus / f"seed-{i}").write_bytes(seed)
    args = [sys.argv[0], str(corpus)]
    if t.vocabulary:
        dict_path = corpus_root / f"{name}.dict"
        _dictionary(list(t.vocabulary), dict_path)
        args.append(f"-dict={dict_path}")
    args += extra
    atheris.Setup(args, t.check)
    atheris.Fuzz()


def main() -> int:
    argv = sys.argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    name, rest = argv[0], argv[1:]
    corpus_root = Path(os.environ.get("NUTPY_FUZZ_CORPUS") or
                       Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                       / "nutpy-fuzz")
    if name not in ("all", "--list"):
        # nutpy must first be imported under atheris' instrumentation: not here
        fuzz_one(name, corpus_root, rest)
        return 0
    from support import fuzz_targets

    if name == "--list":
        print("\n".join(sorted(fuzz_targets.TARGETS)))
        return 0
    if name == "all":
        seconds = "60"
        if rest[:1] == ["--seconds"]:
            seconds, rest = rest[1], rest[2:]
        failed = []
        for target in sorted(fuzz_targets.TARGETS):
            print(f"== {target} ({seconds} s)", flush=True)
            r = subprocess.run([sys.executable, __file__, target,
                                f"-max_total_time={seconds}", *rest])
            if r.returncode != 0:
                failed.append(target)
        print("failed: " + (" ".join(failed) or "none"))
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

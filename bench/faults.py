"""Fault injection: real processes (a driver, upsd and upsmon; C NUT 2.8.0's and ours, one
after the other for each fault) put through crashes, stops, restarts, hostile clients, full
or read-only state paths, clock jumps and vanishing devices. Each fault gets a fresh
installation; a good client polls, a writer sends SET/INSTCMD with TRACKING and checks each
acknowledged one, and upsmon (primary, SHUTDOWNCMD recording) watches the UPS throughout.

    .venv/bin/python -m bench.faults                 # every fault, C and ours; writes the
                                                     # table into docs/reliability.md
    .venv/bin/python -m bench.faults hostile upsd_kill --kinds ours --no-write

Needs root (tmpfs mounts, private /run/nut for C upsmon) and Debian's nut packages for the C
side (absent: C rows say so). Bounded: every fault ends by itself (about 20-40 s each, the
whole run about 15 minutes); a watchdog stops the run after 45 minutes.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench._faults.rows import ROWS, Outcome
from bench._faults.stack import close_all

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "reliability.md"
BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"
WATCHDOG = 45 * 60


def have_c() -> bool:
    return all(os.path.exists(f"/lib/nut/{p}") for p in ("dummy-ups", "upsd", "upsmon"))


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run_row(name: str, kind: str) -> Outcome:
    root = Path(tempfile.mkdtemp(prefix=f"nutpy-faults-{name}-{kind}-"))
    try:
        return ROWS[name][1](kind, root)
    except Exception as e:  # a broken row must not hide the others
        traceback.print_exc()
        return Outcome(did=f"row failed: {type(e).__name__}: {e}")
    finally:
        if os.environ.get("NUTPY_FAULTS_KEEP") == "1":  # logs of each process stay there
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def table(results: dict[str, dict[str, Outcome]]) -> str:
    lines = ["| Fault | | What the system did | Recovery | Acknowledged and lost | "
             "upsmon shutdowns |", "|---|---|---|---|---|---|"]
    for name, by_kind in results.items():
        for i, (kind, out) in enumerate(by_kind.items()):
            label = ROWS[name][0] if i == 0 else ""
            did = out.did + ("; " + "; ".join(out.notes) if out.notes else "")
            lines.append(f"| {label} | {'C 2.8.0' if kind == 'C' else 'nutpy'} | "
                         f"{did.replace('|', '/')} | {out.recovery} | {out.lost} | "
                         f"{out.shutdown} |")
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else f"# Reliability\n\n{BEGIN}\n{END}\n"
    if BEGIN not in doc:
        doc += f"\n{BEGIN}\n{END}\n"
    doc = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END),
                 lambda m: f"{BEGIN}\n{text}\n{END}", doc, flags=re.S)
    DOC.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rows", nargs="*", help=f"faults to run (default all): {' '.join(ROWS)}")
    ap.add_argument("--kinds", default="C,ours", help="C, ours or both (default C,ours)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave the doc alone")
    ap.add_argument("--json", help="also write the outcomes as JSON to this file")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    names = args.rows or list(ROWS)
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        ap.error(f"unknown fault(s): {' '.join(unknown)}")
    if os.geteuid() != 0:
        print("bench.faults needs root (tmpfs mounts, drivers and upsd as root)")
        return 1
    kinds = [k for k in args.kinds.split(",") if k]
    if "C" in kinds and not have_c():
        print("C NUT not installed: only our rows are run")
        kinds.remove("C")
    # however the run ends (watchdog, Ctrl-C, SIGTERM from a timeout), every process it
    # started is stopped: the stacks' finally blocks run, and close_all() catches the rest
    signal.signal(signal.SIGALRM, lambda *a: sys.exit("bench.faults: watchdog expired"))
    signal.signal(signal.SIGTERM, lambda *a: sys.exit("bench.faults: terminated"))
    atexit.register(close_all)
    signal.alarm(WATCHDOG)
    started = time.monotonic()
    load_before = loadavg()
    results: dict[str, dict[str, Outcome]] = {}
    for name in names:
        results[name] = {}
        for kind in kinds:  # C then ours, fault by fault: load changes fall on both
            t0 = time.monotonic()
            out = run_row(name, kind)
            results[name][kind] = out
            print(f"[{time.monotonic() - t0:5.1f} s] {name:15s} {kind:4s} {out.did} | "
                  f"recovery {out.recovery} | lost {out.lost} | shutdowns {out.shutdown}",
                  flush=True)
            for key, value in out.figures.items():
                print(f"        {key}: {value}", flush=True)
    elapsed = time.monotonic() - started
    header = (f"Run of {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} CPUs, load average "
              f"{load_before} before, {loadavg()} after; {elapsed / 60:.1f} minutes. Command: "
              f"`.venv/bin/python -m bench.faults{''.join(' ' + r for r in args.rows)}`.")
    text = header + "\n\n" + table(results)
    print("\n" + text)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {n: {k: vars(o) for k, o in r.items()} for n, r in results.items()}, indent=1,
            default=str))
    if not args.no_write and not args.rows:
        write_doc(text)
        print(f"\nwritten into {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

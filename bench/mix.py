"""What real clients send: C upsd 2.8.0 and ours on the same C dummy-ups (the standard
device), CPU per request under the requests Home Assistant's NUT integration, exporters and
web UIs send, with upsmon's polls beside them.

* the mix: ``INTEGRATIONS`` clients each repeating LIST VAR then GET TYPE and GET DESC for
  every variable, and ``UPSMONS`` clients each repeating GET VAR ups.status,
  battery.charge, battery.runtime; every client one request at a time, all at once;
* the same split up: GET TYPE/GET DESC alone, LIST VAR alone, upsmon's GET VARs alone;
* resident memory of both upsds after the runs.

CPU is the server's scheduler run time (/proc/<pid>/task/*/schedstat); C and ours take
turns in ``ROUNDS`` rounds so that a change in the machine's load falls on both alike.
Target: ours <= 0.8x C's CPU per request on the mix.

Reproduce: ``.venv/bin/python -m bench.mix`` (root, Debian's nut packages).
"""

from __future__ import annotations

from bench._common import BENCH_DEV_NOTE
from bench._load import (
    Stack,
    alternate,
    have_c_nut,
    integration_script,
    list_var,
    machine_load,
    rss_mb,
    upsmon_script,
)

INTEGRATIONS = 20
UPSMONS = 5
ROUNDS = 5
REQUESTS = 150_000  # per server, over all rounds
SECONDS = 60.0  # per server at most
TARGET = 0.8


def main() -> None:
    if not have_c_nut():
        print("bench.mix: needs root and C NUT (/lib/nut/upsd, dummy-ups); skipped")
        return
    if BENCH_DEV_NOTE:
        print(BENCH_DEV_NOTE)
    stack = Stack()
    try:
        names = stack.var_names
        ups = stack.names[0]
        n = INTEGRATIONS + UPSMONS
        workloads = {
            "mix": lambda: ([integration_script(ups, names)] * INTEGRATIONS
                            + [upsmon_script(ups)] * UPSMONS),
            "GET TYPE/DESC": lambda: [integration_script(ups, names)[1:]] * n,
            "LIST VAR": lambda: [[list_var(ups)]] * n,
            "GET VAR (upsmon)": lambda: [upsmon_script(ups)] * n,
        }
        scale = {"LIST VAR": 20}  # a LIST is ~65 replies: fewer of them in the same time
        results = {}
        loads = {}
        for name, scripts in workloads.items():
            loads[name] = machine_load()
            targets = {kind: (stack.pids[kind], stack.ports[kind], scripts())
                       for kind in ("C", "ours")}
            results[name] = alternate(targets, n, REQUESTS // scale.get(name, 1), ROUNDS,
                                      SECONDS)
        rss = {kind: rss_mb(pid) for kind, pid in stack.pids.items()}
    finally:
        stack.close()
    print(f"upsd, C 2.8.0 vs ours, same C dummy-ups ({len(names)} variables), "
          f"{INTEGRATIONS} integration + {UPSMONS} upsmon clients, one request at a time each:")
    for name, r in results.items():
        c, o = r["C"], r["ours"]
        ratio = o["cpu"] / c["cpu"]
        spread = (f"rounds ours/C {min(a / b for a, b in zip(o['rounds'], c['rounds'])):.2f}"
                  f"-{max(a / b for a, b in zip(o['rounds'], c['rounds'])):.2f}")
        target = f"  (target <= {TARGET}x)" if name == "mix" else ""
        print(f"  CPU per request, {name:17s} C {c['cpu'] * 1e6:7.2f} us  ours "
              f"{o['cpu'] * 1e6:7.2f} us  ratio {ratio:5.2f}x{target}  [{spread}; "
              f"{o['requests']} requests each; {loads[name]}]")
    print(f"  RSS after the runs   C {rss['C']:6.1f} MB  ours {rss['ours']:6.1f} MB"
          "  (ours: 24 MB idle in bench.upsd)")
    print("reproduce: .venv/bin/python -m bench.mix")


if __name__ == "__main__":
    main()

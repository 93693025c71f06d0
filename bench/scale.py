"""Scale: does upsd's cost per request stay flat as UPSes and clients grow? C upsd 2.8.0 and
ours on the same C dummy-ups drivers, in two configurations:

* small: 1 UPS, ``SMALL_CLIENTS`` clients;
* large: ``LARGE_UPSES`` UPSes (a C dummy-ups each, all serving the standard device) and
  ``LARGE_CLIENTS`` clients spread over them.

In both, 1 client in 10 is an integration client (LIST VAR, then GET TYPE and GET DESC for
every variable) and the others poll like upsmon (GET VAR ups.status, battery.charge,
battery.runtime); every client sends one request at a time, and ``WINDOW`` requests are in
flight at any moment (clients take turns), so both configurations put the same request
load on upsd and differ only in how many UPSes and connections it holds.

Reported: server CPU per request (scheduler run time) in each configuration, the ratio
large/small per server (target for ours: <= 1.1x; C's poll() loop walks every connection
on every wake-up), ours/C in each, and upsd's resident memory.

Reproduce: ``.venv/bin/python -m bench.scale`` (root, Debian's nut packages; starts
``LARGE_UPSES`` C drivers).
"""

from __future__ import annotations

from bench._common import BENCH_DEV_NOTE
from bench._load import (
    Stack,
    alternate,
    have_c_nut,
    integration_script,
    machine_load,
    raise_fd_limit,
    rss_mb,
    upsmon_script,
)

SMALL_CLIENTS = 10
LARGE_UPSES = 200
LARGE_CLIENTS = 2000
WINDOW = 10
ROUNDS = 5
REQUESTS = 100_000  # per server and configuration, over all rounds
SECONDS = 60.0  # per server and configuration at most
TARGET = 1.1


def scripts_for(stack: Stack, clients: int) -> list:
    names = stack.names
    out = []
    for i in range(clients):
        ups = names[i % len(names)]
        out.append(integration_script(ups, stack.var_names) if i % 10 == 0
                   else upsmon_script(ups))
    return out


def main() -> None:
    if not have_c_nut():
        print("bench.scale: needs root and C NUT (/lib/nut/upsd, dummy-ups); skipped")
        return
    if BENCH_DEV_NOTE:
        print(BENCH_DEV_NOTE)
    raise_fd_limit(4 * LARGE_CLIENTS + LARGE_UPSES * 4 + 1000)
    configs = {"small": (1, SMALL_CLIENTS), "large": (LARGE_UPSES, LARGE_CLIENTS)}
    titles = {"small": f"1 UPS, {SMALL_CLIENTS} clients",
              "large": f"{LARGE_UPSES} UPSes, {LARGE_CLIENTS} clients"}
    stacks: dict[str, Stack] = {}
    try:
        # Both configurations run side by side and take turns with C and ours, round by
        # round: the machine's load changes over minutes, and a ratio between figures taken
        # minutes apart would show that instead of upsd.
        for config, (upses, clients) in configs.items():
            # room for every client, the driver sockets and the set-up connections
            stacks[config] = Stack(upses=upses, maxconn=clients + 2 * upses + 200)
        targets = {(config, kind): (stacks[config].pids[kind], stacks[config].ports[kind],
                                    scripts_for(stacks[config], configs[config][1]))
                   for config in configs for kind in ("C", "ours")}
        load = machine_load()
        r = alternate(targets, WINDOW, REQUESTS, ROUNDS, SECONDS)
        rss = {key: rss_mb(pid) for key, (pid, _, _) in targets.items()}
        load += f" .. {machine_load()}"
    finally:
        for stack in stacks.values():
            stack.close()
    print(f"upsd scale, C 2.8.0 vs ours, C dummy-ups drivers, {WINDOW} requests in flight, "
          f"1 client in 10 an integration client, the rest upsmon-like [{load}]:")
    for config in configs:
        c, o = r[config, "C"], r[config, "ours"]
        print(f"  {titles[config]:24s} CPU/request C {c['cpu'] * 1e6:7.2f} us  ours "
              f"{o['cpu'] * 1e6:7.2f} us  ours/C {o['cpu'] / c['cpu']:5.2f}x   RSS C "
              f"{rss[config, 'C']:5.1f} MB ours {rss[config, 'ours']:5.1f} MB")
    for kind in ("C", "ours"):
        large, small = r["large", kind], r["small", kind]
        per_round = [a / b for a, b in zip(large["rounds"], small["rounds"])]
        target = f"  (target <= {TARGET}x)" if kind == "ours" else ""
        print(f"  {kind:4s} large/small CPU per request {large['cpu'] / small['cpu']:5.2f}x"
              f"{target}  [rounds {min(per_round):.2f}-{max(per_round):.2f}]")
    print("reproduce: .venv/bin/python -m bench.scale")


if __name__ == "__main__":
    main()

"""Scale: does upsd's cost per request stay flat as UPSes and clients grow? C upsd 2.8.0 and
ours on the same C dummy-ups drivers, in three set-ups measured side by side:

* small: 1 UPS, ``SMALL_CLIENTS`` clients;
* large, every client polling: ``LARGE_UPSES`` UPSes (a C dummy-ups each, all serving the
  standard device) and ``LARGE_CLIENTS`` clients spread over them, all taking turns: each
  connection sends a request only every ``LARGE_CLIENTS / WINDOW`` turns, so every
  request meets a connection gone cold (in the kernel too: its TCP state is out of the
  CPU's caches and the client's ACK of the last reply came on its own), as in a real fleet
  polling every few seconds;
* large, ``SMALL_CLIENTS`` of the ``LARGE_CLIENTS`` busy: the same UPSes and connections,
  the others connected and quiet: what holding them costs the server on every request
  (C's poll() walks every connection on every wake-up; ours waits on epoll).

In all of them 1 client in 10 is an integration client (LIST VAR, then GET TYPE and GET
DESC for every variable) and the others poll like upsmon (GET VAR ups.status,
battery.charge, battery.runtime); every client sends one request at a time, and ``WINDOW``
requests are in flight at any moment, so every set-up puts the same request load on upsd.
The set-ups and the two servers take turns round by round.

Reported: server CPU per request (scheduler run time) in each set-up, ours/C in each, the
ratio of each large set-up to the small one per server (target for ours: <= 1.1x), and
upsd's resident memory.

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
    raise_fd_limit(6 * LARGE_CLIENTS + LARGE_UPSES * 4 + 1000)
    # set-up -> (stack, clients, clients taking turns)
    setups = {"small": ("small", SMALL_CLIENTS, SMALL_CLIENTS),
              "large, all polling": ("large", LARGE_CLIENTS, LARGE_CLIENTS),
              f"large, {SMALL_CLIENTS} busy": ("large", LARGE_CLIENTS, SMALL_CLIENTS)}
    stacks: dict[str, Stack] = {}
    try:
        # All set-ups run side by side and take turns with C and ours, round by round: the
        # machine's load changes over minutes, and a ratio between figures taken minutes
        # apart would show that instead of upsd.
        # room for every client (twice on the large stack), the driver sockets and the
        # set-up connections
        stacks["small"] = Stack(upses=1, maxconn=SMALL_CLIENTS + 200)
        stacks["large"] = Stack(upses=LARGE_UPSES, maxconn=2 * LARGE_CLIENTS + 2 * LARGE_UPSES
                                + 200)
        targets = {}
        for setup, (name, clients, active) in setups.items():
            stack = stacks[name]
            for kind in ("C", "ours"):
                targets[setup, kind] = (stack.pids[kind], stack.ports[kind],
                                        scripts_for(stack, clients), active)
        load = machine_load()
        r = alternate(targets, WINDOW, REQUESTS, ROUNDS, SECONDS)
        rss = {(name, kind): rss_mb(stack.pids[kind]) for name, stack in stacks.items()
               for kind in ("C", "ours")}
        load += f" .. {machine_load()}"
    finally:
        for stack in stacks.values():
            stack.close()
    print(f"upsd scale, C 2.8.0 vs ours, C dummy-ups drivers, {WINDOW} requests in flight, "
          f"1 client in 10 an integration client, the rest upsmon-like [{load}]:")
    for setup, (name, clients, active) in setups.items():
        c, o = r[setup, "C"], r[setup, "ours"]
        upses = 1 if name == "small" else LARGE_UPSES
        print(f"  {setup:18s} ({upses:3d} UPS, {clients:4d} clients) CPU/request C "
              f"{c['cpu'] * 1e6:7.2f} us  ours {o['cpu'] * 1e6:7.2f} us  ours/C "
              f"{o['cpu'] / c['cpu']:5.2f}x")
    for setup in list(setups)[1:]:
        for kind in ("C", "ours"):
            large, small = r[setup, kind], r["small", kind]
            per_round = [a / b for a, b in zip(large["rounds"], small["rounds"])]
            target = f"  (target <= {TARGET}x)" if kind == "ours" else ""
            print(f"  {kind:4s} {setup} / small: {large['cpu'] / small['cpu']:5.2f}x{target}"
                  f"  [rounds {min(per_round):.2f}-{max(per_round):.2f}]")
    print(f"  RSS: small C {rss['small', 'C']:.1f} MB ours {rss['small', 'ours']:.1f} MB; "
          f"large ({2 * LARGE_CLIENTS} clients) C {rss['large', 'C']:.1f} MB ours "
          f"{rss['large', 'ours']:.1f} MB")
    print("reproduce: .venv/bin/python -m bench.scale")


if __name__ == "__main__":
    main()

"""``nutpy sim``: a simulated UPS a user starts by hand, driven from standard input and
from the control socket, with a driver of ours reading it."""

from __future__ import annotations

import os
import socket
import subprocess

from support.harness import our_prog, wait_for
from support.serial_sim import parse_dump


def test_sim_apcsmart_by_hand(tmp_path):
    control = tmp_path / "ctl"
    sim = subprocess.Popen([our_prog("nutpy"), "sim", "apcsmart", "--link", str(tmp_path / "tty"),
                            "--control", str(control)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = sim.stdout.readline()
        assert first.startswith("Simulated apcsmart UPS on ") and first.strip().endswith("/tty")
        port = first.split(" on ", 1)[1].strip()
        wait_for(control.exists, 10, what="the control socket")
        sim.stdin.write("power fail\n")
        sim.stdin.flush()
        wait_for(lambda: "OK power fail" in sim.stdout.readline(), 10, what="the answer")
        env = dict(os.environ, NUT_STATEPATH=str(tmp_path))
        proc = subprocess.run([our_prog("apcsmart"), "-s", "u", "-u", "root", "-x",
                               f"port={port}", "-d", "1", "-i", "1"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert parse_dump(proc.stdout)["ups.status"] == "OB", proc.stderr
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(control))
            s.sendall(b"show\n")
            reply = b""
            while not reply.endswith(b"\n\n"):
                reply += s.recv(4096)
        assert "online: False" in reply.decode() and "'Q'" not in reply.decode()
    finally:
        sim.terminate()
        sim.wait(10)
        for stream in (sim.stdin, sim.stdout, sim.stderr):
            stream.close()

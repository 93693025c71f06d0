"""``nutpy sim q1|apcsmart|genericups``: a simulated UPS on a pseudo-terminal.

Prints the port to give the driver (``port = ...`` in ups.conf), then takes control
commands, one per line, from standard input and, with ``--control PATH``, from clients of
a Unix socket (each answer ends with an empty line). ``help`` lists the commands; e.g.
``power fail``, ``battery low``, ``fault silent``, ``fault none``, ``unplug``, ``replug``.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading

import click

from .pty import PtyPort, Runner


def _serve_control(device, path: str, stop: threading.Event) -> threading.Thread:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    server.settimeout(0.2)

    def client(conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as f:
            for raw in f:
                answer = device.control(raw.decode("utf-8", "replace").strip())
                f.write(answer.encode() + b"\n\n")
                f.flush()

    def loop() -> None:
        with server:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                threading.Thread(target=client, args=(conn,), daemon=True).start()
        try:
            os.unlink(path)
        except OSError:
            pass

    thread = threading.Thread(target=loop, name="sim-control", daemon=True)
    thread.start()
    return thread


def run(device, link: str | None, control: str | None, extra_lines: list[str] = ()) -> None:
    port = PtyPort(link)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    with Runner(device, port):
        click.echo(f"Simulated {device.kind} UPS on {port.path}")
        for line in extra_lines:
            click.echo(line)
        if control:
            _serve_control(device, control, stop)
            click.echo(f"Control socket: {control}")
        click.echo("Type 'help' for the commands; Ctrl-D or Ctrl-C ends the simulation.")
        sys.stdout.flush()

        def read_stdin() -> None:
            for line in sys.stdin:
                answer = device.control(line.strip())
                if answer:
                    click.echo(answer)
                    sys.stdout.flush()
            if not control:
                stop.set()

        threading.Thread(target=read_stdin, name="sim-stdin", daemon=True).start()
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


_link = click.option("--link", type=click.Path(dir_okay=False),
                     help="Also make this symlink to the port; it follows unplug/replug.")
_control = click.option("--control", type=click.Path(dir_okay=False),
                        help="Serve control commands on this Unix socket as well.")


@click.group("sim")
def command() -> None:
    """A simulated UPS on a pseudo-terminal, for trying drivers without hardware."""


@command.command("q1")
@click.option("--dialect", default="megatec", show_default=True,
              type=click.Choice(["megatec", "mustek", "megatec/old", "zinto", "q1",
                                 "voltronic-qs", "voltronic-qs-hex"]),
              help="Which member of the Megatec Q1 family to be.")
@click.option("--drain", type=float, default=0.5, show_default=True,
              help="Battery volts lost per minute at full load while on battery.")
@_link
@_control
def q1(dialect: str, drain: float, link: str | None, control: str | None) -> None:
    """A Megatec Q1-family UPS (nutdrv_qx, blazer_ser)."""
    from .q1 import Q1Ups

    device = Q1Ups(dialect)
    device.drain = drain
    run(device, link, control)


@command.command("apcsmart")
@click.option("--model", default="Smart-UPS 1500", show_default=True)
@_link
@_control
def apcsmart(model: str, link: str | None, control: str | None) -> None:
    """An APC Smart-UPS speaking the APC Smart protocol (apcsmart)."""
    from .apcsmart import ApcSmartUps

    device = ApcSmartUps()
    device.set("model", model)
    run(device, link, control)


@command.command("genericups")
@click.option("--upstype", type=int, default=0, show_default=True,
              help="The cable, as genericups' upstype numbers them (genericups -h).")
@click.option("--lines-dir", type=click.Path(file_okay=False),
              help="Where the modem lines live (default: a new temporary directory).")
@_link
@_control
def genericups(upstype: int, lines_dir: str | None, link: str | None, control: str | None) -> None:
    """A contact-closure UPS (genericups); drivers reach its modem lines through a
    preloaded shim, printed as the environment to run them with."""
    from .genericups import ContactClosureUps
    from .modem import ModemLines, ShimUnavailable

    lines = ModemLines(lines_dir)
    device = ContactClosureUps(upstype, lines)
    try:
        env = lines.env()
    except ShimUnavailable as e:
        raise click.ClickException(str(e))
    shown = " ".join(f"{k}={v}" for k, v in env.items())
    run(device, link, control,
        [f"Cable: {device.cable.desc} (upstype={upstype})",
         f"Run the driver with this environment: {shown}"])

"""``nutpy``: the commands C NUT has no program for (demo, simulators, systemd set-up, ...).

The C-named programs (upsd, upsc, the drivers, ...) keep C's getopt behaviour and never go
through here. Each subcommand lives in its own module and is imported only when it runs, so
``nutpy --help`` stays cheap; add one by adding a line to ``SUBCOMMANDS``.
"""

from __future__ import annotations

import importlib

import click

# name -> ("module", "attribute of a click.Command in it")
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("nutpy.demo", "command"),
    "install-systemd": ("nutpy.ops.systemd", "command"),
    "check-config": ("nutpy.ops.checkconfig", "command"),
    "sim": ("nutpy.sim.cli", "command"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        where = SUBCOMMANDS.get(name)
        if where is None:
            return None
        module, attr = where
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nutpy", prog_name="nutpy")
def main() -> None:
    """nutpy: Network UPS Tools in Python. The NUT programs keep their C names
    (upsd, upsc, upsmon, drivers, ...); this command holds the extras."""


if __name__ == "__main__":
    main()

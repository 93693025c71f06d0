"""POSIX ``getopt`` with glibc's messages, for every nutpy program that takes C's options.

C NUT's programs use getopt(3) with ``+`` optstrings (stop at the first operand) and print
glibc's complaints; Python's ``getopt`` words them differently and loads gettext, which a
client's start-up and upsd's memory should not pay for."""


import sys


def err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class GetOpt:
    """POSIX ``getopt`` (stop at the first non-option, as C's ``+`` optstrings do).

    Iterating yields ``(option, argument)`` in order; an unknown option or a missing
    argument prints glibc's message and yields ``("?", letter)`` (so a program exits at
    the same point C does). ``operands`` holds what follows the options."""

    def __init__(self, argv: list[str], optstring: str) -> None:
        self.prog = argv[0] if argv else ""
        self.args = argv[1:]
        self.optstring = optstring
        self.operands = self.args

    @classmethod
    def for_args(cls, args: list[str], optstring: str, default_prog: str) -> "GetOpt":
        """For a ``main(args)`` given its arguments without argv[0]: messages name the
        program as it was run, as glibc's do."""
        prog = sys.argv[0] if sys.argv and sys.argv[0] else default_prog
        return cls([prog, *args], optstring)

    def __iter__(self):
        args, optstring = self.args, self.optstring
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                i += 1
                break
            if not arg.startswith("-") or arg == "-":
                break
            j = 1
            while j < len(arg):
                ch = arg[j]
                pos = optstring.find(ch)
                if ch == ":" or pos < 0:
                    err(f"{self.prog}: invalid option -- '{ch}'")
                    yield "?", ch
                    j += 1
                    continue
                if pos + 1 < len(optstring) and optstring[pos + 1] == ":":
                    if j + 1 < len(arg):
                        value = arg[j + 1:]
                    elif i + 1 < len(args):
                        i += 1
                        value = args[i]
                    else:
                        err(f"{self.prog}: option requires an argument -- '{ch}'")
                        yield "?", ch
                        break
                    yield ch, value
                    break
                yield ch, None
                j += 1
            i += 1
        self.operands = args[i:]

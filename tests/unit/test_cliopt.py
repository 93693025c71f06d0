"""The shared POSIX getopt (nutpy.common.cliopt): POSIX rules and glibc's messages."""

from nutpy.common.cliopt import GetOpt


def parse(argv, spec):
    parser = GetOpt(["prog", *argv], spec)
    return list(parser), parser.operands


def test_posix_rules(capsys):
    assert parse(["-ab", "-cval", "-c", "v2", "x", "-a"], "abc:") == (
        [("a", None), ("b", None), ("c", "val"), ("c", "v2")], ["x", "-a"])
    assert parse(["--", "-a"], "a") == ([], ["-a"])
    assert parse(["-", "-a"], "a") == ([], ["-", "-a"])
    assert capsys.readouterr().err == ""


def test_glibc_messages(capsys):
    assert parse(["-x", "-c"], "c:") == ([("?", "x"), ("?", "c")], [])
    assert capsys.readouterr().err == (
        "prog: invalid option -- 'x'\nprog: option requires an argument -- 'c'\n")
    # ':' is never an option letter, even though it is in the spec
    assert parse(["-:"], "c:") == ([("?", ":")], [])
    assert capsys.readouterr().err == "prog: invalid option -- ':'\n"


def test_options_are_read_lazily(capsys):
    """C acts on each option before getopt looks at the next: a program that exits on
    the first bad option must not complain about the second."""
    parser = iter(GetOpt(["prog", "-x", "-y"], "a"))
    assert next(parser) == ("?", "x")
    assert capsys.readouterr().err == "prog: invalid option -- 'x'\n"


def test_clients_getopt_agrees_with_getopt(capsys):
    """The client programs skip loading the parser when the first argument is no option;
    what they get must be what GetOpt gives, for every shape of command line."""
    from nutpy.clients import _cli
    for argv in ([], ["ups@host"], ["ups@host", "-l"], ["-"], ["-", "-a"], [""], ["--", "x"],
                 ["-l"], ["-lx", "y"], ["-x"], ["-W", "3", "ups"], ["ups", "var", "extra"]):
        ours = _cli.getopt(["prog", *argv], "lW:")
        theirs = GetOpt(["prog", *argv], "lW:")
        assert (list(ours), ours.operands) == (list(theirs), theirs.operands), argv
    assert capsys.readouterr().err == "prog: invalid option -- 'x'\n" * 4

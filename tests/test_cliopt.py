"""The shared POSIX getopt (nutpy.common.cliopt) and the option errors of upsd and upsdrvctl,
which must read as glibc's under C's programs."""

import pytest

from nutpy.common.cliopt import GetOpt
from support.harness import c_prog, help_shape, our_prog, require_c_nut


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


@pytest.mark.interop
@pytest.mark.parametrize("prog", ["upsd", "upsdrvctl"])
@pytest.mark.parametrize("args", [["-x"], ["-u"], ["-x", "-y"], ["-V", "-x"]])
def test_option_errors_as_c(nutenv, prog, args):
    require_c_nut()
    nutenv.write("ups.conf", "")
    c = nutenv.run([c_prog(prog), *args])
    ours = nutenv.run([our_prog(prog), *args])
    assert ours.returncode == c.returncode
    # glibc names the program by argv[0], which is each one's own path
    assert ours.stderr.replace(our_prog(prog), "PROG") == c.stderr.replace(c_prog(prog), "PROG")
    assert help_shape(ours.stdout).splitlines()[:1] == help_shape(c.stdout).splitlines()[:1]

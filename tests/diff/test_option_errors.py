"""The option errors of upsd and upsdrvctl read as glibc's under C's programs."""

import pytest

from support.harness import c_prog, help_shape, our_prog, require_c_nut, run_as_c


@pytest.mark.interop
@pytest.mark.parametrize("prog", ["upsd", "upsdrvctl"])
@pytest.mark.parametrize("args", [["-x"], ["-u"], ["-x", "-y"], ["-V", "-x"]])
def test_option_errors_as_c(nutenv, prog, args):
    require_c_nut()
    nutenv.write("ups.conf", "")
    c = nutenv.run([c_prog(prog), *args])
    ours = run_as_c(nutenv.run, [our_prog(prog), *args])
    assert ours.returncode == c.returncode
    # glibc names the program by argv[0], which is each one's own path
    assert ours.stderr.replace(our_prog(prog), "PROG") == c.stderr.replace(c_prog(prog), "PROG")
    assert help_shape(ours.stdout).splitlines()[:1] == help_shape(c.stdout).splitlines()[:1]

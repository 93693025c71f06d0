"""Where C prints its version in text, we print C's line with our name after the version
number (``nutpy.VERSION_TEXT``), and nothing else changes; machine-read version values stay
the NUT release as it is. Every other comparison with C reads past the suffix (harness.as_c)."""

import socket

import pytest

from nutpy import NUT_VERSION, VERSION_TEXT, __version__
from support.harness import c_prog, our_prog, require_c_nut


def test_version_text_is_the_release_then_our_name():
    assert VERSION_TEXT == f"{NUT_VERSION} (nutpy {__version__})"


@pytest.mark.interop
@pytest.mark.parametrize("prog, args", [
    ("upsc", ["-V"]), ("upscmd", ["-V"]), ("upsrw", ["-V"]), ("upslog", ["-V"]),
    ("upsd", ["-V"]), ("upsmon", ["-V"]), ("upsdrvctl", ["-V"]), ("dummy-ups", ["-V"]),
])
def test_banner_is_cs_with_our_name_after_the_version(nutenv, prog, args):
    require_c_nut()
    nutenv.write("ups.conf", "")
    c = nutenv.run([c_prog(prog), *args])
    ours = nutenv.run([our_prog(prog), *args])
    c_lines = (c.stdout + c.stderr).splitlines()  # some clients print it on stderr
    banner = next(line for line in c_lines if line.startswith("Network UPS Tools"))
    assert NUT_VERSION in banner
    ours_banner = banner.replace(NUT_VERSION, VERSION_TEXT, 1)
    assert ours_banner in (ours.stdout + ours.stderr).splitlines(), (ours, banner)
    assert ours.returncode == c.returncode


def test_upsd_names_itself_in_ver_and_server_info_not_in_server_version(nutenv):
    nutenv.write("ups.conf", "[x]\n driver = dummy-ups\n port = none\n")
    nutenv.write("upsd.conf", f"LISTEN 127.0.0.1 {nutenv.port}\n")
    nutenv.write("upsd.users", "")
    nutenv.start([our_prog("upsd"), "-F", "-u", "root"])
    nutenv.wait_port()
    with socket.create_connection(("127.0.0.1", nutenv.port), timeout=10) as s:
        s.sendall(b"VER\nGET VAR x server.info\nGET VAR x server.version\n")
        data = b""
        while data.count(b"\n") < 3:
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
    ver, info, version = data.decode().splitlines()
    text = f"Network UPS Tools upsd {VERSION_TEXT} - http://www.networkupstools.org/"
    assert ver == text
    assert info == f'VAR x server.info "{text}"'
    assert version == f'VAR x server.version "{NUT_VERSION}"'

"""Every failure the fuzz targets found, as the smallest input that showed it, with the
behaviour it has since the fix (docs/reliability.md lists them)."""

from __future__ import annotations

from support.fuzz_targets import (
    TARGETS,
    _tokenized,
    check_driver_request,
    check_upsd_connection,
    dummy_driver,
)


def test_set_of_an_empty_name_on_a_driver_socket():
    """Found by driver_request: ``SET "" x`` created a variable with an empty name, which
    DUMPALL then sent as ``SETINFO  "x"`` (two words: upsd drops it)."""
    check_driver_request(b'SET "" x TRACKING 3\n')
    core, drv = dummy_driver()
    drv.init_info()
    state = core.state
    before = state.names()
    for name in ("", "a b", "x=y", '"lead', "tab\there", "hash#", "back\\slash"):
        assert not state.setinfo(name, "1")
    assert state.names() == before
    # the well-formed unknown name is created, as C dummy-ups does
    assert state.setinfo("new.var", "1") and "new.var" in state.names()
    for line in _tokenized(state.dump()):
        if line.words[0] == "SETINFO":
            assert len(line.words) == 3


def _encode_one_read(data: bytes) -> bytes:
    """``data``, padded with empty lines to 1 + 9k bytes, as one read of client 0 in
    upsd_connection's input form."""
    data += b"\n" * (-(len(data) - 1) % 9)
    k = (len(data) - 1) // 9
    assert k < 64
    return bytes([0x40 | k]) + data


def test_logout_at_the_end_of_c_s_512_byte_read():
    """Found by upsd_connection: a LOGOUT whose line ends C's 512-byte read closes the
    connection in C even when more requests follow in the same write; our line-by-line
    path answered them (and kept the connection)."""
    poll = b"GET VAR Fake ups.status\n"
    head = poll * 20
    head += b"X" * (512 - len(head) - len(b"LOGOUT\n") - 1) + b"\n" + b"LOGOUT\n"
    assert len(head) == 512
    check_upsd_connection(_encode_one_read(head + b"HELP\nVER\n"))
    # a request after LOGOUT within the same 512 bytes keeps the connection open (as C)
    check_upsd_connection(_encode_one_read(b"LOGOUT\nHELP\n" + b"\n" * 509 + poll))


def test_every_target_accepts_empty_input():
    for t in TARGETS.values():
        t.check(b"")


def test_numlogins_reply_with_trailing_junk():
    """Found by atheris on client_reply: ``NUMLOGINS Fake 2S`` raised ValueError out of the
    client library (``int()``); it now reads the count as C upsmon does (strtol: 2)."""
    from nutpy.client import core

    TARGETS["client_reply"].check(b"NUMLOGINS Fake 2S")
    assert core._numlogins(core.parse_get("NUMLOGINS Fake 2S", ("NUMLOGINS", "Fake"))) == 2
    assert core._numlogins(["NUMLOGINS", "Fake", "x"]) == 0


def test_hosts_allow_file_pattern_with_a_nul_byte():
    """Found by atheris on hosts_allow: a '/file' pattern holding a NUL byte made open()
    raise ValueError out of hosts_access (upsd's LOGIN/SET check); it is now a file that
    cannot be opened: no match."""
    from nutpy.security import tcpwrappers as tw

    rules = tw.parse_table(b"upsd: /etc/hosts\x00.allow\nupsd: 127.0.0.1\n")
    req = tw.Request("upsd", "127.0.0.1", "admin", "localhost", "127.0.0.1", "localhost")
    decision = tw.evaluate(None, rules, req)
    assert not decision.allowed and decision.line == 2
    TARGETS["hosts_allow"].check(b"upsd: 54.0.0.\x00\x00!LOCAL\nupsd: /x\x00y\n")


def test_hid_field_with_an_empty_logical_range():
    """Found by atheris on hid_descriptor (a property, not a parser bug): LogMin 1 above
    LogMax 0 clamps a value both ways, as C's GetValue does, so it cannot read back."""
    data = bytes.fromhex("1c0009040000001c750c950109301501000000303500460001b102c0")
    TARGETS["hid_descriptor"].check(data)


def test_hid_field_with_an_inverted_physical_range():
    """Found by atheris on hid_descriptor (a property, not a parser bug): PhyMin 0 above
    PhyMax -1 means no physical scaling (as in C), so a logical -124 with exponent -64
    goes out as -1.24e-62 and comes back as C's truncating cast makes it, -123: one
    outside LogMax. The conversions do what C's do."""
    from nutpy.drivers.usbhid import hidparser as hp

    data = bytes.fromhex("190055e355c0ff0100000000000016298445ae8445ff25042584755f9501"
                         "09300035" "00b1252f")
    TARGETS["hid_descriptor"].check(data)
    f = next(f for f in hp.parse(data[1:]).fields if f.log_max == -124)
    assert (f.phy_min, f.phy_max) == (0, -1)
    assert hp.value_to_logical(f, hp.logical_to_value(f, -124)) == -123

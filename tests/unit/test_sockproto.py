"""The driver-socket codec on its own: every line one side builds, the other side parses
back to what was meant (through the tokenizer both sides use)."""

import pytest

from nutpy.common.parseconf import Tokenizer
from nutpy.proto import sockproto as sp


def words(line: bytes) -> list[str]:
    (parsed,) = Tokenizer().feed(line)
    return parsed.words


@pytest.mark.parametrize("built, kind, name, args", [
    (sp.setinfo("ups.status", 'OL "odd" # value'), "SETINFO", "ups.status", ('OL "odd" # value',)),
    (sp.delinfo("ups.test"), "DELINFO", "ups.test", ()),
    (sp.addenum("input.transfer.low", "180"), "ADDENUM", "input.transfer.low", ("180",)),
    (sp.delenum("input.transfer.low", "180"), "DELENUM", "input.transfer.low", ("180",)),
    (sp.addrange("input.transfer.high", 250, 280), "ADDRANGE", "input.transfer.high", ("250", "280")),
    (sp.delrange("input.transfer.high", 250, 280), "DELRANGE", "input.transfer.high", ("250", "280")),
    (sp.setaux("ups.id", 8), "SETAUX", "ups.id", ("8",)),
    (sp.setflags("ups.id", ["RW", "STRING"]), "SETFLAGS", "ups.id", ("RW", "STRING")),
    (sp.addcmd("beeper.off"), "ADDCMD", "beeper.off", ()),
    (sp.delcmd("beeper.off"), "DELCMD", "beeper.off", ()),
    (sp.tracking("1A-2B", sp.INVALID), "TRACKING", "1A-2B", ("2",)),
    (sp.DATAOK, "DATAOK", "", ()),
    (sp.DATASTALE, "DATASTALE", "", ()),
    (sp.DUMPDONE, "DUMPDONE", "", ()),
    (sp.PONG, "PONG", "", ()),
])
def test_driver_messages_round_trip(built, kind, name, args):
    assert sp.parse_driver_message(words(built)) == sp.DriverMessage(kind, name, args)


@pytest.mark.parametrize("line", [
    [], ["SETINFO", "ups.status"], ["ADDRANGE", "x", "1"], ["ADDCMD"], ["HELLO", "x", "y"],
])
def test_short_or_unknown_driver_lines_are_not_messages(line):
    assert sp.parse_driver_message(line) is None


def test_driver_message_commands_ignore_case_and_extra_words():
    assert sp.parse_driver_message(["setinfo", "a", "1", "extra"]) == \
        sp.DriverMessage("SETINFO", "a", ("1", "extra"))


@pytest.mark.parametrize("built, expected", [
    (sp.PING, sp.Request("PING")),
    (sp.DUMPALL, sp.Request("DUMPALL")),
    (sp.set_var("ups.id", "my ups"), sp.Request("SET", "ups.id", "my ups")),
    (sp.set_var("ups.id", "x", tracking_id="T1"), sp.Request("SET", "ups.id", "x", "T1")),
    (sp.instcmd("beeper.off"), sp.Request("INSTCMD", "beeper.off")),
    (sp.instcmd("test.battery.start", "60"), sp.Request("INSTCMD", "test.battery.start", "60")),
    (sp.instcmd("beeper.off", tracking_id="T2"), sp.Request("INSTCMD", "beeper.off", None, "T2")),
    (sp.instcmd("load.off", "5", tracking_id="T3"), sp.Request("INSTCMD", "load.off", "5", "T3")),
])
def test_requests_round_trip(built, expected):
    assert sp.parse_request(words(built)) == expected


def test_instcmd_parameter_with_spaces_arrives_as_several_words_as_with_c():
    # upsd escapes but does not quote the parameter: a driver sees extra words
    assert sp.parse_request(words(sp.instcmd("x.y", "a b c"))) == \
        sp.BadRequest("Malformed INSTCMD request")


@pytest.mark.parametrize("line, expected", [
    (["NOBROADCAST"], sp.Request("NOBROADCAST")),
    (["BROADCAST"], sp.Request("BROADCAST")),
    (["BROADCAST", "0"], sp.Request("BROADCAST", value="0")),
    (["GETPID"], sp.Request("GETPID")),
    (["LOGOUT"], sp.Request("LOGOUT")),
    (["DUMPVALUE", "ups.status"], sp.Request("DUMPVALUE", "ups.status")),
    (["DUMPSTATUS"], sp.Request("DUMPSTATUS")),
    (["PING", "extra"], None),
    (["BROADCAST", "1", "2"], None),
    (["DUMPVALUE"], None),
    (["FOO"], None),
    (["SET", "x"], sp.BadRequest(None)),
    (["SET", "x", "1", "TRACKING"], sp.BadRequest(None)),
    (["SET", "x", "1", "FOO", "id"], sp.BadRequest("Got SET <var> with unsupported parameters (FOO/id)")),
    (["INSTCMD"], sp.BadRequest("Malformed INSTCMD request")),
])
def test_request_shapes(line, expected):
    assert sp.parse_request(line) == expected

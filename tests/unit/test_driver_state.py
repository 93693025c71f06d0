"""The driver data tree: change events, DUMPALL order, flags, enums, ranges, commands,
status/alarm builders."""

from nutpy.common.parseconf import Tokenizer
from nutpy.drivers.state import NUMBER, RW, STRING, DriverState, parse_flags


def recording():
    sent: list[bytes] = []
    return DriverState(sent.append), sent


def test_setinfo_emits_only_changes_and_escapes():
    s, sent = recording()
    assert s.setinfo("ups.id", 'a "b" \\c #d')
    assert not s.setinfo("ups.id", 'a "b" \\c #d')
    assert sent == [b'SETINFO ups.id "a \\"b\\" \\\\c \\#d"\n']
    # what upsd's tokenizer makes of it is the raw value again
    assert Tokenizer().feed(sent[0])[0].words == ["SETINFO", "ups.id", 'a "b" \\c #d']
    assert s.get("UPS.ID") == 'a "b" \\c #d'  # names are case-insensitive


def test_case_only_change_is_a_change():
    s, sent = recording()
    s.setinfo("ups.status", "OL")
    s.setinfo("ups.status", "ol")
    assert sent[-1] == b'SETINFO ups.status "ol"\n'


def test_values_are_clipped_to_c_buffer():
    s, _ = recording()
    s.setinfo("x", "y" * 400)
    assert len(s.get("x")) == 255


def test_immutable_override():
    s, sent = recording()
    s.setinfo("ups.model", "forced")
    s.make_immutable("ups.model")
    assert not s.setinfo("ups.model", "device")
    assert not s.delinfo("ups.model")
    assert s.get("ups.model") == "forced"


def test_dump_order_and_content():
    s, _ = recording()
    s.setinfo("ups.status", "OL")
    s.setflags("ups.status", RW | STRING)
    s.setaux("ups.status", 32)
    s.setinfo("Battery.charge", "90")
    s.setinfo("input.sensitivity", "normal")
    s.addenum("input.sensitivity", "low")
    s.addenum("input.sensitivity", "low")
    s.addenum("input.sensitivity", "normal")
    s.setinfo("input.transfer.low", "160")
    s.addrange("input.transfer.low", 150, 170)
    s.addrange("input.transfer.low", 140, 170)  # C quirk: same max counts as duplicate
    s.addrange("input.transfer.low", 100, 90)  # min > max rejected
    s.addcmd("test.battery.start")
    s.addcmd("beeper.toggle")
    s.addcmd("BEEPER.toggle")
    assert s.dump() == (
        b"DATASTALE\n"
        b'SETINFO Battery.charge "90"\n'
        b'SETINFO input.sensitivity "normal"\n'
        b'ADDENUM input.sensitivity "low"\n'
        b'ADDENUM input.sensitivity "normal"\n'
        b'SETINFO input.transfer.low "160"\n'
        b"ADDRANGE input.transfer.low 150 170\n"
        b'SETINFO ups.status "OL"\n'
        b"SETAUX ups.status 32\n"
        b"SETFLAGS ups.status RW STRING\n"
        b"ADDCMD beeper.toggle\n"
        b"ADDCMD test.battery.start\n"
        b"DUMPDONE\n")
    s.dataok()
    assert s.dump().endswith(b"ADDCMD test.battery.start\nDATAOK\nDUMPDONE\n")
    assert s.dump_value("ups.status") == (
        b'SETINFO ups.status "OL"\nSETAUX ups.status 32\nSETFLAGS ups.status RW STRING\n'
        b"DATAOK\nDUMPDONE\n")
    assert s.dump_value("nope") == b"DATAOK\nDUMPDONE\n"


def test_data_latch_broadcasts_transitions_only():
    s, sent = recording()
    s.dataok()
    s.dataok()
    s.datastale()
    s.datastale()
    s.dataok()
    assert sent == [b"DATAOK\n", b"DATASTALE\n", b"DATAOK\n"]


def test_enum_range_cmd_removal():
    s, sent = recording()
    s.setinfo("v", "1")
    s.addenum("v", "Abc")
    assert s.delenum("v", "aBC")  # case-insensitive removal
    s.addrange("v", 1, 5)
    assert s.delrange("v", 1, 99)  # either bound matches
    s.addcmd("load.off")
    assert s.delcmd("LOAD.OFF")
    assert not s.delcmd("load.off")
    assert s.delinfo("v")
    assert sent[-1] == b"DELINFO v\n"
    assert s.dump() == b"DATASTALE\nDUMPDONE\n"


def test_flags_words():
    s, sent = recording()
    s.setinfo("v", "1")
    s.setflags("v", RW | NUMBER)
    s.setflags("v", RW | NUMBER)
    assert sent[-1] == b"SETFLAGS v RW NUMBER\n"
    assert parse_flags(["rw", "STRING", "bogus"]) == RW | STRING


def test_status_dedup_alarm_and_ignorelb():
    s, _ = recording()
    st = s.status
    st.init()
    for t in ("OL", "CHRG", "OL", "LB"):
        st.set(t)
    st.commit()
    assert s.get("ups.status") == "OL CHRG LB"
    s.alarm.init()
    s.alarm.set("Replace battery!")
    s.alarm.commit()
    st.commit()
    assert s.get("ups.status") == "ALARM OL CHRG LB"
    assert s.get("ups.alarm") == "Replace battery!"
    s.alarm.init()
    s.alarm.commit()
    st.commit()
    assert s.get("ups.alarm") is None and s.get("ups.status") == "OL CHRG LB"
    # ignorelb: the device's LB is dropped, the driver computes it from charge.low
    st.ignorelb = True
    s.setinfo("battery.charge", "50")
    s.setinfo("battery.charge.low", "20")
    st.init()
    st.set("OB")
    st.set("LB")
    st.commit()
    assert s.get("ups.status") == "OB"
    s.setinfo("battery.charge", "10")
    st.commit()
    assert s.get("ups.status") == "OB LB"


def test_tree_text_is_escaped_and_sorted():
    s, _ = recording()
    s.setinfo("b", 'x"y')
    s.setinfo("A", "1")
    assert s.tree_text() == 'A: 1\nb: x\\"y\n'

"""upsmon over STARTTLS to our upsd (PEM CERTFILE): CERTPATH/CERTVERIFY/FORCESSL as C
enforces them, and CERTHOST rules per host."""

from __future__ import annotations

import pytest

from support import certs
from support.harness import wait_for
from support.upsmon_stack import Stack, Upsmon


@pytest.fixture(scope="module")
def tls_stack():
    made = {}

    def write_certs(root):
        ca = certs.make_ca()
        server = certs.issue(ca, "upsd.test", ["upsd.test", "localhost"], ["127.0.0.1"])
        made["ca_pem"] = root / "ca.pem"
        made["ca_pem"].write_bytes(ca.cert_pem)
        made["other_ca_pem"] = root / "other-ca.pem"
        made["other_ca_pem"].write_bytes(certs.make_ca("other CA").cert_pem)
        pem = server.write_pem(root / "upsd.pem")
        return f"CERTFILE {pem}\n"

    s = Stack(upses=("zeta",), upsd="ours", before_upsd=write_certs)
    s.ca_pem, s.other_ca_pem = made["ca_pem"], made["other_ca_pem"]
    yield s
    s.close()


def watch(stack, name: str, extra: str) -> Upsmon:
    return Upsmon(stack, name, "ours", ["zeta@PORT 1 sec secpw secondary"], extra=extra,
                  args=("-F", "-DD")).start()


def test_verified_and_forced(tls_stack):
    m = watch(tls_stack, "verified", f"CERTPATH {tls_stack.ca_pem}\nCERTVERIFY 1\nFORCESSL 1\n")
    try:
        wait_for(lambda: f"pollups: {m.system('zeta')} [SSL]" in m.stderr(), 15, 0.05,
                 "a poll over TLS")
        assert tls_stack.numlogins("zeta") == 1
        tls_stack.set_status("zeta", "OB")
        m.wait_types("ONBATT")
        tls_stack.set_status("zeta", "OL")
        m.wait_types("ONLINE")
    finally:
        m.stop()
    assert "COMMBAD" not in m.types()


def test_tried_without_verification(tls_stack):
    """No CERT* lines: STARTTLS is tried (C's TRYSSL) and taken, the server not checked."""
    m = watch(tls_stack, "tried", "")
    try:
        wait_for(lambda: f"pollups: {m.system('zeta')} [SSL]" in m.stderr(), 15, 0.05,
                 "a poll over TLS")
    finally:
        m.stop()


@pytest.mark.parametrize("name,extra,why", [
    ("untrusted", "CERTPATH {other}\nCERTVERIFY 1\n", "certificate verify failed"),
    ("misnamed", "CERTPATH {ca}\nCERTHOST 127.0.0.1 not-upsd.test 1 1\n",
     "certificate verify failed"),
])
def test_refused_servers(tls_stack, name, extra, why):
    m = watch(tls_stack, name, extra.format(other=tls_stack.other_ca_pem,
                                            ca=tls_stack.ca_pem))
    try:
        m.wait_types("COMMBAD")
    finally:
        m.stop()
    assert why in m.stderr()
    assert f"UPS [{m.system('zeta')}]: connect failed: SSL error" in m.stderr()

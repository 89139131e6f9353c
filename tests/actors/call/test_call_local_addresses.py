"""How the B2BUA names itself per transport: TLS has a listener of its own."""

from __future__ import annotations

import pytest

from actors.call.legs import LocalSip, branch_via, contact_uri


@pytest.mark.parametrize(("transport", "port", "param"), [
    ("UDP", 5060, ""), ("TCP", 5060, ";transport=tcp"), ("TLS", 5061, ";transport=tls"),
])
def test_contact_and_via_name_the_listener_of_the_transport(
        transport: str, port: int, param: str) -> None:
    local = LocalSip(host="192.0.2.10", port=5060, domain="example.com", tls_port=5061)
    assert contact_uri(local, transport) == f"sip:contactor@192.0.2.10:{port}{param}"
    via = branch_via(local, transport, "c1", "agent", 1).value
    assert via.startswith(f"SIP/2.0/{transport} 192.0.2.10:{port};branch=")


def test_without_a_tls_listener_every_transport_names_the_main_port() -> None:
    local = LocalSip(host="::1", port=5070, domain="example.com")
    assert contact_uri(local, "TLS") == "sip:contactor@[::1]:5070;transport=tls"

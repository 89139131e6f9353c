"""The trunk registration state machine, sans-IO: REGISTERs out, responses in, time as data.

The provider is played with :class:`sip.digest.DigestServer` (it issues and checks nonces)
or with fixed challenges whose digest is recomputed here from RFC 2617/7616 formulas.
"""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from sip.builders import make_response
from sip.digest import DigestServer, compute_ha1, parse_auth_header
from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.serializer import serialize
from sip.transaction import Target
from telephony.trunk_registration import (
    BACKOFF_FIRST_S,
    BACKOFF_MAX_S,
    TRANSITIONS,
    RegistrationSpec,
    SendRegister,
    StateChanged,
    TrunkRegistration,
)

PROVIDER = Target(transport="UDP", host="127.0.0.3", port=5080)
SPEC = RegistrationSpec(
    trunk="prov", username="contactor", password="s3cret", aor="sip:contactor@provider.example",
    registrar="sip:provider.example", contact="sip:contactor@127.0.0.1:5060", target=PROVIDER,
    local_host="127.0.0.1", local_port=5060, expires=600,
)
CALL_ID = "reg1@127.0.0.1"
REALM = "provider.example"


def machine(**kw: float) -> TrunkRegistration:
    return TrunkRegistration(SPEC, call_id=CALL_ID, from_tag="t1", **kw)  # type: ignore[arg-type]


def sends(outputs: list[object]) -> list[SendRegister]:
    return [o for o in outputs if isinstance(o, SendRegister)]


def changes(outputs: list[object]) -> list[tuple[str, str]]:
    return [(o.before, o.after) for o in outputs if isinstance(o, StateChanged)]


def only_send(outputs: list[object]) -> SendRegister:
    (send,) = sends(outputs)
    return send


def first_register(m: TrunkRegistration, now: float = 0.0) -> SendRegister:
    send = only_send(m.start(now))
    assert m.start(now) == [] and m.next_timer() is None  # started once; the layer times it
    return send


def reply(send: SendRegister, status: int, headers: list[tuple[str, str]] | None = None
          ) -> Response:
    """The provider's response, through the wire and back (as the stack would hand it)."""
    response = make_response(send.request, status, to_tag="prov1", headers=headers or [])
    parsed = parse_datagram(serialize(response))
    assert isinstance(parsed, Response)
    return parsed


def challenge(nonce: str = "abc123", *, algorithm: str = "MD5", stale: bool = False,
              proxy: bool = False) -> tuple[str, str]:
    name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    value = f'Digest realm="{REALM}", nonce="{nonce}", algorithm={algorithm}, qop="auth"'
    return name, value + (", stale=true" if stale else "")


def credentials(request: Request, header: str = "Authorization") -> dict[str, str]:
    value = request.headers.get(header)
    assert value is not None, f"no {header} in\n{serialize(request).decode()}"
    scheme, params = parse_auth_header(value)
    assert scheme == "Digest"
    return params


def expected_response(params: dict[str, str], *, password: str = "s3cret",
                      method: str = "REGISTER") -> str:
    algorithm = params.get("algorithm", "MD5")
    h = (lambda s: hashlib.md5(s.encode()).hexdigest()) if algorithm == "MD5" \
        else (lambda s: hashlib.sha256(s.encode()).hexdigest())
    ha1 = h(f"{params['username']}:{params['realm']}:{password}")
    ha2 = h(f"{method}:{params['uri']}")
    return h(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}")


def registered(m: TrunkRegistration, now: float = 0.0, granted: str = "") -> SendRegister:
    """Take ``m`` through 401 and 200; returns the authenticated REGISTER."""
    send = first_register(m, now)
    authed = only_send(m.receive(send.key, reply(send, 401, [challenge()]), now))
    contact = f"<{SPEC.contact}>" + (f";expires={granted}" if granted else "")
    m.receive(authed.key, reply(authed, 200, [("Contact", contact)]), now)
    assert m.state == "registered"
    return authed


# ---------------------------------------------------------------- wire vectors


def test_the_first_register_on_the_wire() -> None:
    send = first_register(machine())
    seed = hashlib.sha256(CALL_ID.encode()).hexdigest()[:12]
    assert send.target == PROVIDER
    assert serialize(send.request).decode() == (
        "REGISTER sip:provider.example SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKreg{seed}.1;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:contactor@provider.example>;tag=t1\r\n"
        "To: <sip:contactor@provider.example>\r\n"
        "Call-ID: reg1@127.0.0.1\r\n"
        "CSeq: 1 REGISTER\r\n"
        "Contact: <sip:contactor@127.0.0.1:5060>\r\n"
        "Expires: 600\r\n"
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO\r\n"
        "User-Agent: Contactor\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    assert send.key == f"z9hG4bKreg{seed}.1|REGISTER"


def test_a_401_is_answered_with_md5_digest_on_a_new_branch_and_the_next_cseq() -> None:
    m = machine()
    send = first_register(m)
    authed = only_send(m.receive(send.key, reply(send, 401, [challenge()]), 0.1))
    request = authed.request
    assert request.call_id == CALL_ID and request.from_.tag == "t1"
    assert request.cseq.seq == 2 and request.top_via.branch != send.request.top_via.branch
    params = credentials(request)
    assert params["username"] == "contactor" and params["realm"] == REALM
    assert params["uri"] == "sip:provider.example" and params["nonce"] == "abc123"
    assert params["qop"] == "auth" and params["nc"] == "00000001"
    assert params["cnonce"] == hashlib.sha256(f"{CALL_ID}:2".encode()).hexdigest()[:16]
    assert params["response"] == expected_response(params)
    assert m.state == "registering" and m.failures == 0


def test_a_407_is_answered_with_proxy_authorization_and_sha256_is_preferred() -> None:
    m = machine()
    send = first_register(m)
    headers = [challenge("n-md5", proxy=True), challenge("n-sha", algorithm="SHA-256", proxy=True)]
    authed = only_send(m.receive(send.key, reply(send, 407, headers), 0.1))
    assert authed.request.headers.get("Authorization") is None
    params = credentials(authed.request, "Proxy-Authorization")
    assert params["algorithm"] == "SHA-256" and params["nonce"] == "n-sha"
    assert params["response"] == expected_response(params)


def test_a_digest_server_accepts_what_we_answer() -> None:
    server = DigestServer(realm=REALM, secret=b"p" * 32, algorithms=("SHA-256", "MD5"))

    def ha1(user: str, realm: str, algorithm: str) -> str | None:
        return compute_ha1(user, realm, "s3cret", algorithm) if user == "contactor" else None

    m = machine()
    send = first_register(m, 10.0)
    verdict = server.verify(send.request, now=10.0, ha1_lookup=ha1)
    assert not verdict.ok and verdict.status == 401
    authed = only_send(m.receive(send.key, reply(send, 401, list(verdict.headers)), 10.0))
    assert server.verify(authed.request, now=10.0, ha1_lookup=ha1).ok


# ---------------------------------------------------------------- granted, refreshed


def test_the_granted_contact_expires_sets_the_refresh_time() -> None:
    m = machine()
    out_send = first_register(m, 5.0)
    authed = only_send(m.receive(out_send.key, reply(out_send, 401, [challenge()]), 5.0))
    outputs = m.receive(authed.key, reply(authed, 200, [
        ("Contact", "<sip:someone-else@192.0.2.1>;expires=3600"),
        ("Contact", f"<{SPEC.contact}>;expires=120"), ("Expires", "999")]), 6.0)
    assert changes(outputs) == [("registering", "registered")]
    assert m.granted == 120 and m.next_timer() == 6.0 + 0.75 * 120
    stats = m.stats(16.0)
    assert stats["registered"] is True and stats["expires_in"] == 110.0
    assert stats["state"] == "registered" and stats["last_status"] == 200
    assert stats["next_attempt_in"] == 80.0


def test_without_our_contact_the_expires_header_then_the_request_decide() -> None:
    m = machine()
    send = first_register(m)
    m.receive(send.key, reply(send, 200, [("Expires", "300")]), 1.0)
    assert m.granted == 300
    m2 = machine()
    send = first_register(m2)
    m2.receive(send.key, reply(send, 200), 1.0)
    assert m2.granted == SPEC.expires


def test_a_refresh_answers_the_known_challenge_in_advance_with_the_next_nonce_count() -> None:
    m = machine()
    first = registered(m, 0.0, granted="100")
    assert m.next_timer() == 75.0
    assert m.handle_timer(74.9) == [] and m.state == "registered"
    outputs = m.handle_timer(75.0)
    refresh = only_send(outputs)
    assert changes(outputs) == [("registered", "refreshing")]
    assert refresh.request.call_id == CALL_ID and refresh.request.cseq.seq == 3
    params = credentials(refresh.request)
    assert params["nonce"] == credentials(first.request)["nonce"] and params["nc"] == "00000002"
    assert params["response"] == expected_response(params)
    assert m.stats(75.0)["registered"] is True  # the binding holds while we refresh
    m.receive(refresh.key, reply(refresh, 200, [("Contact", f"<{SPEC.contact}>;expires=100")]),
              75.5)
    assert m.state == "registered" and m.next_timer() == 75.5 + 75.0


def test_a_stale_nonce_is_answered_again_without_counting_a_failure() -> None:
    m = machine()
    registered(m, 0.0, granted="100")
    refresh = only_send(m.handle_timer(75.0))
    outputs = m.receive(refresh.key, reply(refresh, 401, [challenge("fresh", stale=True)]), 75.1)
    again = only_send(outputs)
    assert changes(outputs) == [] and m.state == "refreshing" and m.failures == 0
    params = credentials(again.request)
    assert params["nonce"] == "fresh" and params["nc"] == "00000001"
    m.receive(again.key, reply(again, 200), 75.2)
    assert m.state == "registered" and m.failures == 0


def test_endless_stale_nonces_end_the_attempt() -> None:
    m = machine()
    send = first_register(m)
    send = only_send(m.receive(send.key, reply(send, 401, [challenge("n0")]), 0.0))
    for i in range(1, 10):
        outputs = m.receive(send.key, reply(send, 401, [challenge(f"n{i}", stale=True)]), 0.0)
        if m.state == "failing":
            break
        send = only_send(outputs)
    assert m.state == "failing" and i == 4  # three stale answers, the fourth is too many


# ---------------------------------------------------------------- failures


def test_wrong_credentials_are_not_retried_at_once() -> None:
    for second in (challenge(), challenge("another")):  # same nonce, or a fresh one
        m = machine()
        send = first_register(m, 0.0)
        authed = only_send(m.receive(send.key, reply(send, 401, [challenge()]), 0.0))
        outputs = m.receive(authed.key, reply(authed, 401, [second]), 0.5)
        assert sends(outputs) == [] and changes(outputs) == [("registering", "failing")]
        stats = m.stats(0.5)
        assert stats["state"] == "failing" and stats["registered"] is False
        assert stats["last_status"] == 401 and stats["last_reason"] == "credentials refused"
        assert stats["next_attempt_in"] == BACKOFF_FIRST_S and stats["failures"] == 1


def test_403_fails_and_the_retries_back_off_exponentially_up_to_a_bound() -> None:
    m = machine(backoff_first_s=1.0, backoff_max_s=10.0)
    now = 0.0
    delays = []
    for _ in range(7):
        send = first_register(m, now) if m.state == "idle" else only_send(m.handle_timer(now))
        m.receive(send.key, reply(send, 403), now)
        assert m.state == "failing" and m.last_status == 403 and m.last_reason == "Forbidden"
        due = m.next_timer()
        assert due is not None
        delays.append(due - now)
        now = due
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    send = only_send(m.handle_timer(now))
    m.receive(send.key, reply(send, 200), now)
    assert m.state == "registered" and m.failures == 0


def test_retry_after_is_honoured_within_the_bounds() -> None:
    m = machine()
    send = first_register(m)
    m.receive(send.key, reply(send, 503, [("Retry-After", "42 (maintenance)")]), 1.0)
    assert m.next_timer() == 43.0
    send = only_send(m.handle_timer(43.0))
    m.receive(send.key, reply(send, 503, [("Retry-After", "86400")]), 43.0)
    assert m.next_timer() == 43.0 + BACKOFF_MAX_S


def test_a_timeout_is_a_failure_with_408() -> None:
    m = machine()
    send = first_register(m)
    assert m.failed("someone-else|REGISTER", 32.0) == []
    outputs = m.failed(send.key, 32.0)
    assert changes(outputs) == [("registering", "failing")]
    assert m.last_status == 408 and m.last_reason == "timeout"
    assert m.next_timer() == 32.0 + BACKOFF_FIRST_S


def test_423_is_retried_at_once_with_min_expires() -> None:
    m = machine()
    send = first_register(m)
    again = only_send(m.receive(send.key, reply(send, 423, [("Min-Expires", "1800")]), 0.0))
    assert again.request.headers.get("Expires") == "1800" and m.state == "registering"
    # A registrar that keeps asking for less than it gets is a failure, not a loop.
    third = only_send(m.receive(again.key, reply(again, 423, [("Min-Expires", "3600")]), 0.0))
    outputs = m.receive(third.key, reply(third, 423, [("Min-Expires", "7200")]), 0.0)
    assert sends(outputs) == [] and m.state == "failing" and m.last_status == 423


def test_a_refused_advance_answer_is_answered_again_without_reusing_a_nonce_count() -> None:
    m = machine()
    registered(m, 0.0, granted="100")
    refresh = only_send(m.handle_timer(75.0))
    assert credentials(refresh.request)["nc"] == "00000002"
    again = only_send(m.receive(refresh.key, reply(refresh, 401, [challenge()]), 75.1))
    params = credentials(again.request)
    assert params["nonce"] == "abc123" and params["nc"] == "00000003"
    assert params["response"] == expected_response(params)


def test_a_423_while_stopping_sends_nothing_more() -> None:
    m = machine()
    send = first_register(m)
    m.stop(0.1)
    outputs = m.receive(send.key, reply(send, 423, [("Min-Expires", "7200")]), 0.2)
    assert sends(outputs) == [] and m.done


def test_late_and_provisional_responses_are_ignored() -> None:
    m = machine()
    send = first_register(m)
    assert m.receive(send.key, reply(send, 100), 0.0) == []
    authed = only_send(m.receive(send.key, reply(send, 401, [challenge()]), 0.0))
    assert m.receive(send.key, reply(send, 401, [challenge()]), 0.1) == []  # the old one
    assert m.pending_key == authed.key and m.state == "registering"


# ---------------------------------------------------------------- un-registering


def test_stop_unregisters_with_expires_zero_and_credentials() -> None:
    m = machine()
    registered(m, 0.0, granted="100")
    outputs = m.stop(10.0)
    unregister = only_send(outputs)
    assert changes(outputs) == [("registered", "unregistering")]
    assert unregister.request.headers.get("Expires") == "0"
    assert unregister.request.headers.get("Contact") == f"<{SPEC.contact}>"
    assert credentials(unregister.request)["nc"] == "00000002"
    assert m.next_timer() is None and not m.done
    # The provider wants a fresh nonce: answered once more, still with Expires: 0.
    again = only_send(m.receive(unregister.key,
                                reply(unregister, 401, [challenge("n2", stale=True)]), 10.1))
    assert again.request.headers.get("Expires") == "0"
    outputs = m.receive(again.key, reply(again, 200), 10.2)
    assert changes(outputs) == [("unregistering", "stopped")] and m.done
    assert m.stats(10.2)["registered"] is False


def test_stop_waits_for_the_register_in_flight() -> None:
    m = machine()
    send = first_register(m)
    assert sends(m.stop(0.1)) == [] and m.state == "stopping"
    unregister = only_send(m.receive(send.key, reply(send, 200), 0.2))
    assert unregister.request.headers.get("Expires") == "0" and m.state == "unregistering"
    m.receive(unregister.key, reply(unregister, 200), 0.3)
    assert m.done


def test_stop_without_a_binding_sends_nothing() -> None:
    idle = machine()
    assert idle.stop(0.0) == [StateChanged(trunk="prov", before="idle", after="stopped")]
    assert idle.done
    failing = machine()
    send = first_register(failing)
    failing.receive(send.key, reply(send, 403), 0.0)
    assert sends(failing.stop(1.0)) == [] and failing.done and failing.next_timer() is None


def test_a_refused_unregister_still_stops() -> None:
    m = machine()
    registered(m)
    unregister = only_send(m.stop(1.0))
    m.receive(unregister.key, reply(unregister, 500), 1.1)
    assert m.done and m.last_status == 500


# ---------------------------------------------------------------- the table, and any run


STATES = {"idle", "registering", "registered", "refreshing", "failing", "stopping",
          "unregistering", "stopped"}


def test_the_transition_table_names_only_known_states_and_stopped_is_final() -> None:
    assert {s for s, _e in TRANSITIONS} | set(TRANSITIONS.values()) <= STATES
    assert not any(s == "stopped" for s, _e in TRANSITIONS)


PROVIDER_MOVES = st.sampled_from(["ok", "challenge", "stale", "forbidden", "busy", "timeout",
                                  "brief"])
LIVE = {"registering", "registered", "refreshing", "failing"}


def provider_answer(move: str, m: TrunkRegistration, request: Request, now: float
                    ) -> Response:
    status, headers = {
        "ok": (200, [("Contact", f"<{SPEC.contact}>;expires=60")]),
        "challenge": (401, [challenge(f"n{now}")]),
        "stale": (401, [challenge(f"s{now}.{m.cseq}", stale=True)]),
        "forbidden": (403, []), "busy": (503, []),
        "brief": (423, [("Min-Expires", str(m.expires + 60))]),
    }[move]
    return make_response(request, status, to_tag="p", headers=headers)


@settings(max_examples=150, deadline=None)
@given(st.lists(PROVIDER_MOVES, min_size=1, max_size=40))
def test_any_provider_behaviour_keeps_the_machine_sane(moves: list[str]) -> None:
    m = machine(backoff_first_s=1.0, backoff_max_s=8.0)
    now, last_cseq = 0.0, 0
    send: SendRegister | None = only_send(m.start(0.0))
    for move in moves:
        if send is None:  # nothing in flight: a next attempt is planned, and soon enough
            due = m.next_timer()
            assert due is not None, m.state
            assert m.state == "registered" or due - now <= 8.0
            now = max(now, due)
            send = only_send(m.handle_timer(now))
        assert m.pending_key == send.key and send.request.call_id == CALL_ID
        assert send.request.cseq.seq > last_cseq  # one at a time, CSeq always rising
        last_cseq = send.request.cseq.seq
        if move == "timeout":
            out = m.failed(send.key, now)
        else:
            out = m.receive(send.key, provider_answer(move, m, send.request, now), now)
        new = sends(out)
        assert len(new) <= 1 and m.state in LIVE
        send = new[0] if new else None
        assert (m.pending_key is None) == (send is None)
        now += 0.5
    out = m.stop(now)
    for _ in range(4):  # the provider now agrees to everything
        new = sends(out)
        if new:
            send = new[0]
            assert send.request.headers.get("Expires") == "0"
        elif m.pending_key is None:
            break
        assert send is not None and m.pending_key == send.key
        out = m.receive(send.key, make_response(send.request, 200, to_tag="p"), now)
    assert m.done and m.next_timer() is None and m.stats(now)["registered"] is False

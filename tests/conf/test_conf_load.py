from __future__ import annotations

import ipaddress
import textwrap
from pathlib import Path

import pytest

from conf.load import load_config, parse_config
from conf.schema import ConfigError, Target

DEMO = Path(__file__).resolve().parents[2] / "conf" / "contactor.toml"


def _write(tmp_path: Path, text: str, name: str = "center.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def _error(tmp_path: Path, text: str) -> tuple[str, str]:
    """(file name as reported, full message) of the ConfigError the text provokes."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(path), str(info.value)


def test_demo_config_loads() -> None:
    config = load_config(DEMO)
    assert config.source == DEMO
    assert [q.name for q in config.queues] == ["sales", "support"]
    assert [a.extension for a in config.agents] == ["1001", "1002", "1003", "1004", "1005"]
    assert all(a.password and a.phone == f"sip:{a.extension}@127.0.0.1" for a in config.agents)
    assert config.agent("chloe").skills["technical"] == 9
    assert config.ivr("main").scheme == DEMO.parent / "ivr" / "main.yaml"
    assert config.ivr("main").scheme.is_file()
    assert len(config.trunks) == 1
    assert config.trunks[0].allow == (ipaddress.ip_network("127.0.0.1/32"),)
    roles = {u.login: u.roles for u in config.users}
    assert "supervisor" in roles["sophie"] and "admin" in roles["admin"]
    route = config.route_for("+33140000000")
    assert route is not None and route.target == Target(kind="ivr", name="main")
    assert config.route_for("2000").target == Target(kind="queue", name="sales")  # type: ignore[union-attr]
    assert config.route_for("2001").target == Target(kind="queue", name="support")  # type: ignore[union-attr]
    assert config.route_for("9999") is None
    assert config.center.data_dir == DEMO.parent.parent / "var"


def test_minimal_file_gets_defaults(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, '[center]\nname = "Tiny"\n'))
    assert config.center.name == "Tiny"
    assert config.center.data_dir == tmp_path / "var"
    assert config.media.recordings_dir == tmp_path / "var" / "recordings"
    assert config.store.url is None
    assert str(config.sip.listen) == "127.0.0.1:5060"
    assert config.sip.transports == ("udp", "tcp")
    assert config.media.workers >= 1
    assert config.queues == () and config.routes == ()
    assert load_config(_write(tmp_path, "", "empty.toml")).center.name == "Contactor"


def test_bad_type(tmp_path: Path) -> None:
    file, message = _error(tmp_path, """
        [sip]
        listen = "127.0.0.1:5060"
        t1 = "fast"
    """)
    assert message == f"{file}:3: sip.t1: expected a positive number; got 'fast'"


def test_bool_is_not_an_integer(tmp_path: Path) -> None:
    file, message = _error(tmp_path, """
        [[queue]]
        name = "sales"
        priority = true
    """)
    assert message == f"{file}:3: queue[0].priority: expected an integer from 0 to 100; got true"


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    file, message = _error(tmp_path, """
        [[queue]]
        name = "sales"
        stratgy = "random"
    """)
    assert message == f"{file}:3: queue[0].stratgy: unknown key (did you mean 'strategy'?)"


def test_unknown_section(tmp_path: Path) -> None:
    file, message = _error(tmp_path, """
        [[queues]]
        name = "sales"
    """)
    assert message == f"{file}:1: queues: unknown key (did you mean 'queue'?)"


def test_bad_enum(tmp_path: Path) -> None:
    file, message = _error(tmp_path, """
        [[queue]]
        name = "sales"

        [[queue]]
        name = "support"
        strategy = "fastest"
    """)
    assert message == (
        f"{file}:6: queue[1].strategy: expected one of longest-idle, round-robin, "
        "fewest-calls, least-talk-time, skills-weighted, ring-all, random; got 'fastest'"
    )


def test_dangling_references(tmp_path: Path) -> None:
    file, message = _error(tmp_path, """
        [center]
        skills = ["english"]

        [[route]]
        match = "2000"
        target = "queue:salse"

        [[queue]]
        name = "sales"

        [[agent]]
        login = "anna"
        name = "Anna"
        password = "pw"
        extension = "1001"
        queues = ["sales", "support"]
        skills = { englsh = 5 }
    """)
    assert message.splitlines() == [
        f"{file}:6: route[0].target: expected a queue defined in [[queue]] (sales); "
        "got 'salse' (did you mean 'sales'?)",
        f"{file}:16: agent[0].queues[1]: expected a queue defined in [[queue]] (sales); "
        "got 'support'",
        f"{file}:17: agent[0].skills.englsh: expected a skill defined in center.skills "
        "(english); got 'englsh' (did you mean 'english'?)",
    ]


def test_route_to_unknown_ivr_and_external_without_trunk(tmp_path: Path) -> None:
    file, message = _error(tmp_path, """
        [[route]]
        match = "_0."
        target = "ivr:main"

        [[route]]
        match = "_00."
        target = "external:+33999"
    """)
    assert message.splitlines() == [
        f"{file}:3: route[0].target: expected an ivr defined in [[ivr]] (none defined); "
        "got 'main'",
        f"{file}:7: route[1].target: expected a [[trunk]] to reach external targets; "
        "got external:+33999 and no trunk",
    ]


def test_bad_target_syntax(tmp_path: Path) -> None:
    file, message = _error(tmp_path, """
        [[route]]
        match = "2000"
        target = "queu:sales"
    """)
    assert message == (
        f"{file}:3: route[0].target: expected '<kind>:<name>' with kind one of ivr, queue, "
        "agent, external; got 'queu:sales' (did you mean 'queue'?)"
    )


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    file, message = _error(tmp_path, """
        [center]
        name = "ok"
        timezone = Europe/Paris
    """)
    assert message == f"{file}:3:12: TOML syntax error: Invalid value"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    _, message = _error(tmp_path, """
        [media]
        recording_format = "mp3"
        rtp_port_min = 20001

        [[queue]]
        strategy = "random"
    """)
    assert [line.split(": ", 1)[1] for line in message.splitlines()] == [
        "media.rtp_port_min: expected an even port (RTP uses even, RTCP odd); got 20001",
        "media.recording_format: expected one of flac, opus, wav; got 'mp3'",
        "queue[0].name: required key is missing (expected a name of letters, digits, "
        "'_', '.', '-')",
    ]


def test_table_where_array_of_tables_expected(tmp_path: Path) -> None:
    file, message = _error(tmp_path, """
        [queue]
        name = "sales"
    """)
    assert message == f"{file}:1: queue: expected an array of tables ([[queue]]); got a table"


def test_duplicates(tmp_path: Path) -> None:
    file, message = _error(tmp_path, """
        [[queue]]
        name = "sales"

        [[queue]]
        name = "sales"

        [[agent]]
        login = "anna"
        name = "Anna"
        password = "pw"
        extension = "1001"

        [[user]]
        login = "anna"
        name = "Anna again"
        roles = ["supervisor"]
        token = "t"
    """)
    assert message.splitlines() == [
        f"{file}:5: queue[1].name: expected a unique name; got 'sales', already used by "
        "queue[0]",
        f"{file}:14: user[0].login: expected a login not used elsewhere; got 'anna', "
        "already used by agent[0]",
    ]


def test_section_specific_rules(tmp_path: Path) -> None:
    _, message = _error(tmp_path, """
        [center]
        timezone = "Mars/Olympus"

        [sip]
        listen = "localhost"
        transports = ["udp", "tls"]

        [[trunk]]
        name = "carrier"
        host = "192.0.2.1"
        register = true
        allow = ["192.0.2.0/24", "not-an-ip"]

        [[route]]
        match = "_2[5-1]X"
        target = "queue:q"

        [[user]]
        login = "boss"
        name = "Boss"
        roles = ["god"]
    """)
    assert [line.split(": ", 1)[1] for line in message.splitlines()] == [
        "center.timezone: expected an IANA time zone like 'Europe/Paris'; got 'Mars/Olympus'",
        "sip.listen: expected 'host:port' like '127.0.0.1:5060' or '[::1]:5060'; "
        "got 'localhost'",
        "sip.tls_cert: required key is missing (expected a path, since transports include "
        "'tls')",
        "sip.tls_key: required key is missing (expected a path, since transports include "
        "'tls')",
        "trunk[0].username: required key is missing (expected a string, since register = true)",
        "trunk[0].password: required key is missing (expected a string, since register = true)",
        "trunk[0].allow[1]: expected an IP address or network like '192.0.2.10' or "
        "'192.0.2.0/24'; got 'not-an-ip'",
        "route[0].match: expected a dial pattern; got '_2[5-1]X': range 5-1 at position 2 "
        "is backwards",
        "user[0].roles[0]: expected one of operator, supervisor, technologist, "
        "quality-manager, admin; got 'god'",
        "user[0]: expected a password or a token; got neither",
    ]


def test_missing_ivr_scheme_file(tmp_path: Path) -> None:
    file, message = _error(tmp_path, """
        [[ivr]]
        name = "main"
        scheme = "ivr/nowhere.yaml"
    """)
    assert message == (f"{file}:3: ivr[0].scheme: expected an existing scheme file; "
                       f"got '{tmp_path / 'ivr' / 'nowhere.yaml'}'")


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match=rf"^{missing}: cannot read: .*No such file"):
        load_config(missing)


def test_config_error_is_a_value_error_with_problems(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        parse_config("[stats]\nmetrics_port = 0\n", source="inline.toml", base_dir=tmp_path)
    assert isinstance(info.value, ConfigError)
    (problem,) = info.value.problems
    assert (problem.file, problem.key, problem.line) == ("inline.toml", "stats.metrics_port", 2)
    assert problem.message == "expected an integer from 1 to 65535; got 0"


def test_secrets_stay_out_of_repr() -> None:
    config = load_config(DEMO)
    text = repr(config)
    assert "anna-1001" not in text and "demo-admin-token-change-me" not in text


def test_a_supervisor_phone_and_the_anchored_media_default(tmp_path: Path) -> None:
    config = load_config(DEMO)
    sophie = next(u for u in config.users if u.login == "sophie")
    assert (sophie.extension, sophie.phone) == ("1901", "sip:1901@127.0.0.1")
    assert config.media.mode == "anchored"
    from telephony.registrar import phone_passwords

    assert phone_passwords(config)["1901"] == "supervise-me"
    file, message = _error(tmp_path, """
        [[user]]
        login = "boss"
        name = "Boss"
        roles = ["supervisor"]
        token = "t"
        extension = "1902"
        """)
    assert message == (f"{file}:6: user[0].extension: a phone extension needs a password "
                       "(its SIP digest secret)")

"""How CLI commands reach a running center: through its gateway, as a user or as local admin.

Without ``--user`` the CLI acts as ``local-admin`` with a token signed by the center's secret
(``<data>/run/secret``, readable only by the center's owner): being able to read the data
directory is what makes someone the local administrator. ``--user NAME`` logs in with the
password from ``--password`` or ``$CONTACTOR_PASSWORD``, and the gateway then checks that
user's roles like for any other client.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from bus.auth import Authenticator
from bus.catalogue import default_codec
from bus.client import GatewayClient
from cli.common import config_path, data_dir, load_config


class NoCenter(RuntimeError):
    """No center's secret in this data dir: nothing runs there (or never ran)."""


def add_user_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", help="act as this user (default: local admin)")
    parser.add_argument("--password", help="the user's password (default: $CONTACTOR_PASSWORD)")


def center_of(args: argparse.Namespace) -> Any:
    from supervision.composition import Center

    return Center(load_config(config_path(args)), data_dir(args))


def connect(args: argparse.Namespace) -> GatewayClient:
    from supervision.composition import LOCAL_ADMIN

    center = center_of(args)
    topo = center.topology
    client = GatewayClient(topo.gateway_router, topo.gateway_pub, default_codec())
    user = getattr(args, "user", None)
    if user:
        password = getattr(args, "password", None) or os.environ.get("CONTACTOR_PASSWORD", "")
        client.login(user, password)
        return client
    secret_file = Path(data_dir(args)) / "run" / "secret"
    try:
        secret = secret_file.read_bytes()
    except FileNotFoundError:
        client.close()
        raise NoCenter(f"no center runs on {data_dir(args)} (no {secret_file})") from None
    session = Authenticator(center.users(), secret).issue(LOCAL_ADMIN, time.time(),
                                                          os.urandom(8).hex())
    client.token = session.token
    return client

"""``python -m supervision.boot --data DIR``: create a center's actor system and root.

Run by :func:`supervision.center.launch` with a pickled
:class:`supervision.center.BootRequest` on stdin.  Creates the Thespian actor system (whose
admin daemonizes itself), the root supervisor, hands it the tree, records
``<data>/run/center.json`` and exits; the daemons it forked keep running.  ``--data`` is
only there so that ``ps`` shows which data directory the daemons serve.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
import traceback

from supervision import actorsystem
from supervision.control import BootRequest, RunInfo, write_info
from supervision.lifeline import set_process_name
from supervision.messages import CommandReply

START_TIMEOUT_S = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m supervision.boot")
    parser.add_argument("--data", required=True, help="data directory (for ps)")
    parser.parse_args(argv)
    request: BootRequest = pickle.load(sys.stdin.buffer)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the daemons must not hold our parent's pipe
    os.close(devnull)
    start = request.start
    set_process_name("ctr:boot")
    actorsystem.install()
    actorsystem.prepare_environment(request.bind_host, start.data_dir / "logs")

    from thespian.actors import ActorSystem

    from supervision.supervisor import RootSupervisor

    system = ActorSystem(actorsystem.SYSTEM_BASE,
                         actorsystem.capabilities(request.admin_port), transientUnique=True)
    try:
        root = system.createActor(RootSupervisor, globalName=actorsystem.ROOT_NAME)
        reply = system.ask(root, start, START_TIMEOUT_S)
        if not isinstance(reply, CommandReply) or not reply.ok:
            detail = reply.error if isinstance(reply, CommandReply) else f"no answer ({reply})"
            print(f"boot: the root supervisor refused the tree: {detail}", file=sys.stderr)
            system.shutdown()
            return 1
        root_host, root_port = actorsystem.address_endpoint(root)
        write_info(RunInfo(
            data_dir=start.data_dir, config_path=start.config_path,
            admin_port=request.admin_port, bind_host=request.bind_host,
            root_host=root_host, root_port=root_port, boot_pid=os.getpid(),
            started_at=time.time(),
        ))
    except Exception:
        traceback.print_exc()
        system.shutdown()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

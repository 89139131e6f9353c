"""Media commands: ``recordings`` (list, ``get``) and ``sounds`` (the prompt library).

Recordings are read from the store and the recordings folder, so these commands run on a
machine with the data directory. Who may read them: admins, quality managers and
supervisors. With ``--user`` the password is checked against the config's users and
agents; without it, whoever can read the data directory is taken as its local admin (the
files are there for them to copy anyway), which is root or the data directory's owner.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    InvalidConfig,
    config_path,
    data_dir,
    error,
    load_config,
)

READERS = frozenset({"admin", "quality-manager", "supervisor"})
EXIT_DENIED = 4


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    auth = argparse.ArgumentParser(add_help=False)
    auth.add_argument("--user", default=None, help="log in as this user (else: local admin)")
    auth.add_argument("--password", default=None,
                      help="the user's password (default: asked on the terminal)")
    recordings = subparsers.add_parser(
        "recordings", parents=[common, auth], help="list and download call recordings",
        description="List call recordings, or download one with 'recordings get CALL_ID -o "
        "FILE'. Allowed to admins, quality managers and supervisors.")
    recordings.add_argument("--call", default=None, metavar="ID", help="only this call")
    recordings.add_argument("--json", action="store_true", help="print JSON")
    recordings.add_argument("--limit", type=int, default=100)
    recordings.set_defaults(run=cmd_recordings_list)
    actions = recordings.add_subparsers(dest="action", metavar="ACTION")
    get = actions.add_parser("get", parents=[common, auth], help="download a recording")
    get.add_argument("call_id", metavar="CALL_ID")
    get.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                     help="where to write it ('-' for standard output)")
    get.set_defaults(run=cmd_recordings_get)

    sounds = subparsers.add_parser("sounds", parents=[common], help="manage prompts",
                                   description="The prompt library under <data>/sounds.")
    sound_actions = sounds.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sound_actions.add_parser("list", parents=[common], help="list prompts")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=cmd_sounds_list)
    imp = sound_actions.add_parser("import", parents=[common], help="import an audio file")
    imp.add_argument("name")
    imp.add_argument("file", type=Path)
    imp.add_argument("--ulaw", action="store_true", help="store raw µ-law, not 16-bit WAV")
    imp.set_defaults(run=cmd_sounds_import)
    say = sound_actions.add_parser("say", parents=[common], help="speak a text prompt")
    say.add_argument("name")
    say.add_argument("text")
    say.add_argument("--voice", default="en")
    say.set_defaults(run=cmd_sounds_say)
    delete = sound_actions.add_parser("delete", parents=[common], help="delete a prompt")
    delete.add_argument("name")
    delete.set_defaults(run=cmd_sounds_delete)


# ------------------------------------------------------------------ access


def _allowed(args: argparse.Namespace, config: Any, data: Path) -> str | None:
    """None if allowed, else why not."""
    if args.user is None:
        if os.geteuid() in (0, data.stat().st_uid if data.exists() else os.geteuid()):
            return None
        return "not the data directory's owner: log in with --user"
    people: dict[str, tuple[str, frozenset[str]]] = {
        a.login: (a.password, frozenset(a.roles)) for a in config.agents}
    for u in config.users:
        if u.password:
            people[u.login] = (u.password, frozenset(u.roles))
    password = args.password if args.password is not None else getpass.getpass("password: ")
    known = people.get(args.user)
    if known is None or not hmac.compare_digest(known[0].encode(), password.encode()):
        return f"wrong user or password for {args.user!r}"
    if not known[1] & READERS:
        return f"{args.user!r} may not read recordings (needs one of: {', '.join(sorted(READERS))})"
    return None


def _open_store(args: argparse.Namespace) -> tuple[Any, Any] | int:
    try:
        config = load_config(config_path(args))
    except InvalidConfig as exc:
        error(str(exc))
        return EXIT_USAGE
    data = data_dir(args)
    denied = _allowed(args, config, data)
    if denied is not None:
        error(denied)
        return EXIT_DENIED
    from media.recording_store import RecordingStore
    from store.db import database_url, open_pool

    pool = open_pool(database_url(config.store.url, data), min_size=1, max_size=1)
    return RecordingStore(pool), pool


# ------------------------------------------------------------------ recordings


def cmd_recordings_list(args: argparse.Namespace) -> int:
    opened = _open_store(args)
    if isinstance(opened, int):
        return opened
    store, pool = opened
    try:
        rows = store.find(call_id=args.call, limit=args.limit)
    finally:
        pool.close()
    if args.json:
        print(json.dumps([r.as_json() for r in rows], indent=2))
        return EXIT_OK
    if not rows:
        print("no recordings")
        return EXIT_OK
    print(f"{'call':<24} {'started (UTC)':<19} {'secs':>7} {'agent':<10} {'queue':<10} "
          f"{'format':<6} {'size':>9}  path")
    for r in rows:
        note = "" if r.complete else "  (cut short)"
        print(f"{r.call_id:<24} {r.started_at:%Y-%m-%d %H:%M:%S} {r.duration_s:>7.1f} "
              f"{r.agent:<10} {r.queue:<10} {r.format:<6} {r.bytes:>9}  {r.path}{note}")
    return EXIT_OK


def cmd_recordings_get(args: argparse.Namespace) -> int:
    opened = _open_store(args)
    if isinstance(opened, int):
        return opened
    store, pool = opened
    try:
        rows = store.find(call_id=args.call_id)
    finally:
        pool.close()
    if not rows:
        error(f"no recording of call {args.call_id!r}")
        return EXIT_FAILURE
    row = rows[-1]  # the latest, if a call was recorded more than once
    source = Path(row.path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        error(f"recording of call {args.call_id!r} is registered but unreadable: {exc}")
        return EXIT_FAILURE
    if hashlib.sha256(data).hexdigest() != row.sha256:
        error(f"{source} does not match its registered sha256: the file was altered")
        return EXIT_FAILURE
    if str(args.output) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        partial = args.output.with_name(args.output.name + ".part")
        partial.write_bytes(data)
        shutil.move(partial, args.output)
        print(f"{args.output} ({row.format}, {row.duration_s:.1f} s, sha256 {row.sha256[:12]}…)")
    return EXIT_OK


# ------------------------------------------------------------------ sounds


def _library(args: argparse.Namespace) -> Any:
    from media.sounds import SoundLibrary

    config = load_config(config_path(args))
    return SoundLibrary(data_dir(args) / "sounds", ivr_schemes=[i.scheme for i in config.ivrs],
                        moh_prompts=[q.moh for q in config.queues])


def _sound_command(args: argparse.Namespace, action: Any) -> int:
    from media.sounds import SoundError

    try:
        action(_library(args))
    except InvalidConfig as exc:
        error(str(exc))
        return EXIT_USAGE
    except SoundError as exc:
        error(str(exc))
        return EXIT_FAILURE
    return EXIT_OK


def cmd_sounds_list(args: argparse.Namespace) -> int:
    def show(library: Any) -> None:
        infos = library.entries()
        if args.json:
            print(json.dumps([{"name": i.name, "path": str(i.path), "format": i.format,
                               "seconds": round(i.seconds, 2)} for i in infos], indent=2))
            return
        for i in infos:
            print(f"{i.name:<24} {i.seconds:>6.1f} s  {i.format:<5} {i.path}")

    return _sound_command(args, show)


def cmd_sounds_import(args: argparse.Namespace) -> int:
    return _sound_command(args, lambda lib: print(
        lib.import_file(args.name, args.file, fmt="ulaw" if args.ulaw else "wav")))


def cmd_sounds_say(args: argparse.Namespace) -> int:
    return _sound_command(args, lambda lib: print(lib.say(args.name, args.text,
                                                          voice=args.voice)))


def cmd_sounds_delete(args: argparse.Namespace) -> int:
    return _sound_command(args, lambda lib: lib.delete(args.name))

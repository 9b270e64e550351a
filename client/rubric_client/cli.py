"""The ``rubric`` command: log in, push items, export, watch a project.

The server's URL and token come from ``RUBRIC_URL`` and ``RUBRIC_TOKEN``, else from the config
file ``rubric login`` writes (``RUBRIC_CONFIG``, default ``~/.config/rubric/config.json``,
readable by its owner only: 0600).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from rubric_client.client import Client
from rubric_client.errors import RubricError


def config_path() -> Path:
    configured = os.environ.get("RUBRIC_CONFIG")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "rubric" / "config.json"


def read_config() -> dict[str, str]:
    path = config_path()
    if not path.exists():
        return {}
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SystemExit(
            f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}` first."
        )
    config = json.loads(path.read_text())
    if not isinstance(config, dict):
        raise SystemExit(f"{path} is not a JSON object; run `rubric login` again.")
    return {str(k): str(v) for k, v in config.items()}


def write_config(url: str, token: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created 0600 from the start: the token is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"url": url, "token": token}, out)
    os.chmod(path, 0o600)
    return path


def client_from_environment() -> Client:
    config = read_config()
    url = os.environ.get("RUBRIC_URL") or config.get("url")
    token = os.environ.get("RUBRIC_TOKEN") or config.get("token")
    if not url or not token:
        raise SystemExit("Not logged in: run `rubric login` or set RUBRIC_URL and RUBRIC_TOKEN.")
    return Client(url, token)


def _jsonl(path: str) -> Iterator[dict[str, Any]]:
    handle = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    try:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SystemExit(f"{path}:{number}: not JSON: {exc}") from None
    finally:
        if handle is not sys.stdin:
            handle.close()


def _count_lines(path: str) -> int | None:
    if path == "-":
        return None
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def cmd_login(args: argparse.Namespace) -> int:
    url = (args.url or os.environ.get("RUBRIC_URL") or "").rstrip("/")
    if not url:
        url = input("Server URL: ").strip().rstrip("/")
    token = args.token or os.environ.get("RUBRIC_TOKEN")
    if not token:
        username = args.username or input("Username: ").strip()
        password = os.environ.get("RUBRIC_PASSWORD") or getpass.getpass("Password: ")
        response = httpx.post(
            f"{url}/api/v1/auth/token/",
            json={"username": username, "password": password, "name": "rubric-cli"},
            timeout=30,
        )
        if response.status_code != 200:
            detail = response.json().get("detail") if response.content else response.status_code
            print(f"Login failed: {detail}", file=sys.stderr)
            return 1
        token = response.json()["token"]
    with Client(url, token) as client:
        projects = client.projects()  # the token works
    path = write_config(url, token)
    print(f"Logged in to {url}; {len(projects)} project(s). Token saved in {path} (mode 600).")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    total = _count_lines(args.file)
    with client_from_environment() as client:
        result = client.push_items(
            args.project,
            _jsonl(args.file),
            batch_size=args.batch_size,
            total=total,
            progress=not args.quiet,
        )
    print(
        f"created {result.created}, updated {result.updated}, unchanged {result.unchanged} "
        f"({result.batches} batch(es)); {len(result.duplicates)} duplicate(s) reported"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with client_from_environment() as client:
        job = client.start_export(args.project, args.format, split=args.split)
        print(f"export {job['id']}: {job['status']}", file=sys.stderr)
        if not args.wait and job["status"] != "done":
            print(job["id"])
            return 0
        job = client.wait_export(job["id"], progress=not args.quiet, poll=args.poll)
        if args.output:
            path = client.download_export(job["id"], args.output, progress=not args.quiet)
            print(f"{path}: {job['records']} records, sha256 {job['sha256']} (verified)")
        else:
            print(json.dumps(job, indent=2))
    return 0


def _status_line(client: Client, project: int) -> dict[str, Any]:
    board = client.dashboard(project)
    progress = board["progress"]
    status = {k: progress[k] for k in ("items", "open", "in_review", "approved", "rejected")}
    status["stalled"] = progress.get("stalled", 0)
    return status


def cmd_status(args: argparse.Namespace) -> int:
    with client_from_environment() as client:
        project = client.project(args.project)
        status = _status_line(client, args.project)
        print(f"{project['name']} (#{project['id']})")
        share = status["approved"] / status["items"] if status["items"] else 0.0
        print(
            f"items {status['items']}: approved {status['approved']} ({share:.0%}), "
            f"in review {status['in_review']}, open {status['open']} "
            f"(stalled {status['stalled']}), rejected {status['rejected']}"
        )
        try:
            report = client.agreement(args.project)
        except RubricError as exc:
            print(f"agreement: none yet ({exc.detail})")
            return 0
        fields = report.get("fields") or {}
        if not fields:
            print("agreement: no report yet")
        for name, figures in sorted(fields.items()):
            alpha = figures.get("alpha_nominal")
            if alpha is None:
                alpha = figures.get("alpha_ordinal")
            units = figures.get("units")
            shown = "n/a" if alpha is None else f"{alpha:.3f}"
            print(f"agreement {name}: alpha {shown} over {units} units")
    return 0


def _agreement_state(client: Client, project: int) -> dict[str, Any] | None:
    """The latest finished agreement report's id and time, and a newer failed one's id."""
    try:
        report = client.agreement(project)
    except RubricError:
        return None
    pending = report.get("pending") or {}
    return {
        "id": report.get("id"),
        "computed_at": report.get("computed_at"),
        "failed": pending.get("id") if pending.get("status") == "failed" else None,
        "error": pending.get("error"),
    }


def _agreement_events(
    before: dict[str, Any] | None, now: dict[str, Any] | None
) -> list[dict[str, Any]]:
    if now is None:
        return []
    before = before or {}
    events = []
    if now["id"] is not None and now["id"] != before.get("id"):
        events.append(
            {
                "type": "agreement.finished",
                "id": now["id"],
                "status": "done",
                "computed_at": now["computed_at"],
            }
        )
    if now["failed"] is not None and now["failed"] != before.get("failed"):
        events.append(
            {
                "type": "agreement.finished",
                "id": now["failed"],
                "status": "failed",
                "error": now["error"],
            }
        )
    return events


def cmd_tail(args: argparse.Namespace) -> int:
    """Follow a project: a JSON line whenever its item counts change, an export finishes or an
    agreement report finishes (it polls every ``--interval`` seconds)."""
    with client_from_environment() as client:
        before = _status_line(client, args.project)
        seen = {job["id"]: job["status"] for job in client.exports(args.project)}
        report = _agreement_state(client, args.project)
        print(json.dumps({"type": "status", **before}), flush=True)
        rounds = 0
        while args.count is None or rounds < args.count:
            time.sleep(args.interval)
            rounds += 1
            now = _status_line(client, args.project)
            changes = {k: now[k] - before[k] for k in now if now[k] != before[k]}
            if changes:
                print(json.dumps({"type": "status", **now, "changed": changes}), flush=True)
                before = now
            for job in client.exports(args.project):
                if seen.get(job["id"]) != job["status"] and job["status"] in ("done", "failed"):
                    print(
                        json.dumps(
                            {
                                "type": "export.finished",
                                "id": job["id"],
                                "status": job["status"],
                                "sha256": job.get("sha256"),
                            }
                        ),
                        flush=True,
                    )
                seen[job["id"]] = job["status"]
            latest = _agreement_state(client, args.project)
            for event in _agreement_events(report, latest):
                print(json.dumps(event), flush=True)
            report = latest if latest is not None else report
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="rubric", description=__doc__.split("\n\n")[0])
    commands = main.add_subparsers(dest="command", required=True)

    login = commands.add_parser("login", help="save the server's URL and a token")
    login.add_argument("--url")
    login.add_argument("--username")
    login.add_argument("--token", help="an API token made on the account page (no password)")
    login.set_defaults(run=cmd_login)

    push = commands.add_parser("push", help="push items from a JSON Lines file ('-': stdin)")
    push.add_argument("project", type=int)
    push.add_argument("file")
    push.add_argument("--batch-size", type=int, default=10_000)
    push.add_argument("-q", "--quiet", action="store_true")
    push.set_defaults(run=cmd_push)

    export = commands.add_parser("export", help="start an export, wait, download and verify")
    export.add_argument("project", type=int)
    export.add_argument("--format", required=True)
    export.add_argument("--split", default="train", choices=["train", "eval", "all"])
    export.add_argument("--wait", action="store_true", help="wait for the export to be built")
    export.add_argument("-o", "--output", help="download the file here (implies --wait)")
    export.add_argument("--poll", type=float, default=1.0)
    export.add_argument("-q", "--quiet", action="store_true")
    export.set_defaults(run=cmd_export)

    status = commands.add_parser("status", help="progress and agreement of a project")
    status.add_argument("project", type=int)
    status.set_defaults(run=cmd_status)

    tail = commands.add_parser(
        "tail", help="follow a project's progress, exports and agreement reports (polls)"
    )
    tail.add_argument("project", type=int)
    tail.add_argument("--interval", type=float, default=5.0)
    tail.add_argument("--count", type=int, help="stop after this many polls")
    tail.set_defaults(run=cmd_tail)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "output", None):
        args.wait = True
    try:
        return int(args.run(args))
    except RubricError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for error in exc.errors[:20]:
            print(f"  {json.dumps(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

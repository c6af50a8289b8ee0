"""`kyr`: the one command for residents' chat, editors' checks and operators."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterable, Optional

from bot.settings import Settings, load_settings

if TYPE_CHECKING:
    from bot.app.services import Services


def _quiet_libraries() -> None:
    """Rasa and TensorFlow talk a lot; residents' terminals and script output stay clean."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("rasa", "tensorflow", "absl", "apscheduler", "sanic", "matplotlib"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _load_services(settings: Settings) -> "Services":
    from bot.app.services import build, settle

    with contextlib.redirect_stdout(sys.stderr):  # anything a library prints is not output
        services = build(settings)
    settle()
    return services


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from bot.engine.training import train

    with contextlib.redirect_stdout(sys.stderr):
        train(settings, force=args.force)
    return 0


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.channels.terminal.channel import run_script, run_terminal

    if args.lang and args.lang not in settings.languages:
        print(f"language '{args.lang}' is not live; live: {', '.join(settings.languages)}",
              file=sys.stderr)
        return 2
    out = sys.stdout
    conversation = _load_services(settings).conversation
    if args.script:
        lines: Iterable[bytes]
        source: IO[bytes] = sys.stdin.buffer if args.script == "-" else open(args.script, "rb")
        with source:
            lines = iter(source.readline, b"")
            with contextlib.redirect_stdout(sys.stderr):
                asyncio.run(run_script(conversation, lines, out, args.lang, args.user))
        return 0
    try:
        asyncio.run(run_terminal(conversation, args.lang, args.user))
    except KeyboardInterrupt:
        print()
    return 0


def cmd_content_check(args: argparse.Namespace, settings: Settings) -> int:
    from bot.catalogs.checks import check_all
    from bot.channels.registry import strictest
    from bot.core.check import review_summary, run_check
    from bot.core.content import load_content

    problems = run_check(settings.home, limits=strictest()) + check_all(settings.home)
    for problem in problems:
        print(problem)
    print("\nLawyer review of the legal texts, per topic:")
    print(review_summary(load_content(settings.content_dir, settings.home)[0]))
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    print(f"content check: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if errors else 0


def cmd_flows_graph(args: argparse.Namespace, settings: Settings) -> int:
    from bot.catalogs.flowpics import all_flows_html, drawing
    from bot.core.content import load_content
    from bot.core.flows import load_flows

    flows, _ = load_flows(settings.flows_dir, settings.home)
    content, _ = load_content(settings.content_dir, settings.home)
    if args.all:
        page, laid_out = all_flows_html(flows, content)
        if not laid_out:
            print("Graphviz (dot) is not installed: the page shows Mermaid text "
                  "(make setup installs it)", file=sys.stderr)
        text = page
    elif args.flow not in flows:
        print(f"no flow '{args.flow}'; flows: {', '.join(sorted(flows))}", file=sys.stderr)
        return 2
    else:
        made, text = drawing(flows[args.flow], content, args.format)
        if made != args.format:
            print(f"Graphviz (dot) is not installed: wrote Mermaid instead of {args.format} "
                  "(make setup installs it)", file=sys.stderr)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_i18n(args: argparse.Namespace, settings: Settings) -> int:
    from bot.catalogs import tools

    home = settings.home
    languages = args.lang or tools.catalog_languages(home)
    if args.i18n_command == "extract":
        print(f"wrote {tools.extract(home)}")
    elif args.i18n_command == "update":
        targets = args.lang or [code for code in settings.languages if code != "en"]
        tools.update(home, targets)
        print(f"updated {', '.join(targets)} from {tools.pot_path(home)}")
    elif args.i18n_command == "compile":
        from bot.catalogs import passed
        from bot.catalogs.checks import check_catalog
        from bot.catalogs.extract import button_keys

        buttons = button_keys((home / "flows").resolve())
        for lang, count in tools.compile_catalogs(home, languages).items():
            errors = check_catalog(home, lang, buttons)  # once here, not in a resident's turn
            passed.record(home, lang, not errors)
            print(f"{lang}: {count} translated messages compiled" + (
                f"; {len(errors)} error(s): not loaded by a running bot (run 'kyr content "
                "check')" if errors else ""))
    else:
        print(tools.coverage_table(home, languages))
        print("\nLegal translations signed by a reviewer (# reviewed-by:), per topic:")
        print(tools.topic_coverage_table(home, languages))
    return 0


def cmd_parse(args: argparse.Namespace, settings: Settings) -> int:
    from bot.engine import training
    from bot.engine.nlu import Parser, run_parse

    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        parser = Parser(training.model_path(settings), training.language_model_path(settings),
                        settings.languages)
        run_parse(parser, iter(sys.stdin.buffer.readline, b""), out)
    return 0


def cmd_eval_nlu(args: argparse.Namespace, settings: Settings) -> int:
    from bot.engine.evaluation import report

    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        text = report(settings, args.folds)
    out.write(text)
    return 0


# A served worker is one process per core: numpy's BLAS threads (OpenBLAS starts one per
# core, and they spin between calls) only take CPU from the other workers, the database and
# the HTTP server. Measured in the serving bench (SQLite, one worker, 2,500 messages): 67-96
# msg/s and 27-37 CPU-seconds with them, 98.7-109.2 msg/s and 19.1-20.4 s with one.
# Set before numpy loads; an operator's own setting wins; uvicorn's workers inherit it.
SERVE_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    for name, value in SERVE_THREADS.items():
        os.environ.setdefault(name, value)
    from bot.engine.engine import silence_rasa_event_logs
    from bot.web.app import serve

    silence_rasa_event_logs()
    serve(settings, args.host, args.port, args.workers)
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    import datetime

    from bot.app.residents import Residents
    from bot.handoff.tickets import TicketService
    from bot.network.alerts import AlertService
    from bot.network.reports import ReportService
    from bot.network.subscriptions import Subscriptions
    from bot.storage.db import make_engine
    from bot.storage.tracker_store import KyrTrackerStore

    days = args.older_than if args.older_than is not None else settings.retention_days
    hours = settings.transcript_hours
    db, secret = make_engine(settings.database_url), settings.secret_key()
    tickets = TicketService(db, secret)
    residents = Residents(db, secret, tickets, KyrTrackerStore(None, db),
                          reports=ReportService(db, secret), subscriptions=Subscriptions(db),
                          alerts=AlertService(db, secret))
    conversations, lines = residents.purge_expired(datetime.timedelta(days=days),
                                                   datetime.timedelta(hours=hours))
    print(f"deleted {conversations} conversation(s) idle for over {days} day(s)")
    print(f"deleted the text of {lines} transcript line(s) of tickets closed over {hours} hour(s) ago")
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    """`kyr db upgrade`: the database to the newest schema; `kyr db check`: models vs migrations."""
    from bot.storage import migrate
    from bot.storage.db import describe, make_engine

    engine = make_engine(settings.database_url, upgrade=False)
    if args.db_command == "upgrade":
        print(f"{describe(settings.database_url)} is at revision {migrate.upgrade(engine)}")
        return 0
    with engine.connect() as connection:
        now = migrate.current(connection)
    if now != migrate.head():
        print(f"the database is at {now or 'no revision'}, the newest is {migrate.head()}: "
              "run 'kyr db upgrade'", file=sys.stderr)
        return 1
    found = migrate.differences(engine)
    for difference in found:
        print(difference)
    print(f"schema check: {len(found)} difference(s) between bot/storage/schema.py and the "
          "migrations", file=sys.stderr)
    return 1 if found else 0


def cmd_staff(args: argparse.Namespace, settings: Settings) -> int:
    """Console accounts: `kyr staff add NAME --role staff --languages es,pl`, `kyr staff list`."""
    import getpass

    from bot.handoff.staff import StaffDirectory, StaffError
    from bot.storage.db import make_engine

    directory = StaffDirectory(make_engine(settings.database_url))
    if args.staff_command == "list":
        for name in directory.names():
            staff = directory.get(name)
            if staff is None:  # removed since names() was read
                continue
            print(f"{staff.name}\t{staff.role}\t{','.join(staff.languages) or '-'}")
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("the passwords differ; nothing changed", file=sys.stderr)
            return 1
    languages = tuple(c.strip() for c in (args.languages or "").split(",") if c.strip())
    unknown = [c for c in languages if c not in settings.languages]
    if unknown:
        print(f"unknown language code(s): {', '.join(unknown)} (known: {', '.join(settings.languages)})",
              file=sys.stderr)
        return 1
    try:
        staff = directory.add(args.name, args.role, languages, password)
    except StaffError as exc:
        print(f"not added: {exc}", file=sys.stderr)
        return 1
    print(f"{staff.name} can log in at /staff as {staff.role}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kyr", description="Know Your Rights bot")
    sub = parser.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="chat in the terminal, or run a JSON-lines script")
    chat.add_argument("--lang", help="language code to start in (default: English)")
    chat.add_argument("--script", metavar="FILE", help="JSON lines in ('-' for stdin), JSON lines out")
    chat.add_argument("--user", default="local", help="conversation id when a line names none")
    chat.set_defaults(func=cmd_chat)

    train = sub.add_parser("train", help="train the Rasa model if flows or NLU data changed")
    train.add_argument("--force", action="store_true", help="train even if nothing changed")
    train.set_defaults(func=cmd_train)

    content = sub.add_parser("content", help="tools for content editors")
    content_sub = content.add_subparsers(dest="content_command", required=True)
    check = content_sub.add_parser("check", help="check flows and content; non-zero on errors")
    check.set_defaults(func=cmd_content_check)

    flows = sub.add_parser("flows", help="tools for flows")
    flows_sub = flows.add_subparsers(dest="flows_command", required=True)
    graph = flows_sub.add_parser("graph", help="draw a flow, or every flow on one page")
    graph.add_argument("flow", nargs="?", help="the flow's id (or --all)")
    graph.add_argument("--all", action="store_true", help="every flow on one HTML page")
    graph.add_argument("--format", choices=("svg", "mermaid", "dot"), default="svg",
                       help="svg: laid out by Graphviz (Mermaid when dot is missing)")
    graph.add_argument("-o", "--output", help="write to this file instead of stdout")
    graph.set_defaults(func=cmd_flows_graph)
    i18n = sub.add_parser("i18n", help="catalogs: extract, update, compile, coverage")
    i18n.add_argument("i18n_command", choices=("extract", "update", "compile", "coverage"))
    i18n.add_argument("--lang", action="append", help="only this language (repeatable)")
    i18n.set_defaults(func=cmd_i18n)

    parse = sub.add_parser("parse", help="NLU only: JSON lines {text, lang?} in, {intent, "
                           "confidence, lang} out")
    parse.add_argument("--jsonl", action="store_true", required=True,
                       help="read JSON lines on stdin (the only format)")
    parse.set_defaults(func=cmd_parse)

    evaluate = sub.add_parser("eval-nlu", help="held-out and cross-validated NLU accuracy")
    evaluate.add_argument("--folds", type=int, default=5, help="cross-validation folds (1: skip)")
    evaluate.set_defaults(func=cmd_eval_nlu)

    serve = sub.add_parser("serve", help="webhooks, health and every configured channel")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes (more than 1 needs PostgreSQL and Telegram webhooks)")
    serve.set_defaults(func=cmd_serve)

    purge = sub.add_parser("purge", help="delete conversations idle for longer than the retention")
    purge.add_argument("--older-than", type=float, metavar="DAYS",
                       help="days of inactivity (default KYR_RETENTION_DAYS, 30)")
    purge.set_defaults(func=cmd_purge)

    db = sub.add_parser("db", help="the database schema (Alembic migrations)")
    db.add_argument("db_command", choices=("upgrade", "check"),
                    help="upgrade: to the newest revision; check: models and migrations agree")
    db.set_defaults(func=cmd_db)

    staff = sub.add_parser("staff", help="hotline staff accounts for the console at /staff")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_sub.add_parser("add", help="add an account, or set its role, languages and password")
    add.add_argument("name")
    # bot.handoff.staff.ROLES, written out: the parser is built without importing argon2
    add.add_argument("--role", choices=("staff", "dispatcher", "supervisor", "admin"),
                     default="staff", help="dispatcher: verifies reports and approves alerts")
    add.add_argument("--languages", default="", help="codes they answer in, e.g. es,pl")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of stdin instead of asking")
    staff_sub.add_parser("list", help="names, roles and languages")
    staff.set_defaults(func=cmd_staff)

    from bot.transparency.cli import add_parser as add_report_parser

    add_report_parser(sub)  # kyr report ...: the transparency report (bot/transparency/cli.py)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    settings = load_settings()
    from bot.core.problems import ContentError, StartupError, UsageError

    try:
        return int(args.func(args, settings))
    except StartupError as exc:
        print(f"kyr: {exc}", file=sys.stderr)
        return 3
    except UsageError as exc:
        print(f"kyr: {exc}", file=sys.stderr)
        return 2
    except ContentError as exc:
        print("The content has errors; run 'kyr content check':", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

"""`kyr report`: preview or export a report, publish a quarter, record legal requests.

    kyr report --quarter 2026Q4 --format html|csv|json|pdf [--lang es] [-o FILE]
    kyr report --from 2026-10-01 --to 2026-10-31 --format csv
    kyr report publish 2026Q4 --by NAME        (after previewing it)
    kyr report published
    kyr report legal-request add --received 2026-11-03 --kind subpoena [--answered DATE --outcome refused]
    kyr report legal-request answer ID --answered DATE --outcome no_data
    kyr report legal-request list
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from bot.core.problems import UsageError
from bot.settings import Settings

FORMATS = ("html", "csv", "json", "pdf")


def add_parser(sub: Any) -> None:
    from bot.transparency.i18n import LANGUAGES
    from bot.transparency.store import OUTCOMES, REQUEST_KINDS

    parser = sub.add_parser("report", help="transparency report: preview, export, publish")
    parser.add_argument("--quarter", help="e.g. 2026Q4 (default: the last quarter that ended)")
    parser.add_argument("--from", dest="start", metavar="DATE", help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="last", metavar="DATE", help="last day, YYYY-MM-DD")
    parser.add_argument("--format", choices=FORMATS, default="html")
    parser.add_argument("--lang", choices=LANGUAGES, default="en")
    parser.add_argument("-o", "--output", help="write to this file (default: stdout)")
    parser.add_argument("--threshold", type=int, default=10,
                        help="smallest count shown (default 10); smaller ones are hidden")
    parser.add_argument("--noise", type=float, metavar="SCALE",
                        help="add discrete Laplace noise of this scale (epsilon = 1/SCALE)")
    actions = parser.add_subparsers(dest="report_command")
    publish = actions.add_parser("publish", help="publish an ended quarter to /transparency")
    publish.add_argument("quarter_to_publish", metavar="QUARTER")
    publish.add_argument("--by", required=True, help="the admin publishing it")
    publish.add_argument("--replace", action="store_true", help="publish it again, replacing it")
    actions.add_parser("published", help="list the published quarters")
    legal = actions.add_parser("legal-request", help="legal requests for residents' data")
    legal_actions = legal.add_subparsers(dest="legal_command", required=True)
    add = legal_actions.add_parser("add", help="record a request received")
    add.add_argument("--received", required=True, metavar="DATE")
    add.add_argument("--kind", required=True, choices=REQUEST_KINDS)
    add.add_argument("--answered", metavar="DATE")
    add.add_argument("--outcome", choices=OUTCOMES, default="pending")
    add.add_argument("--by", default="admin", help="the admin entering it")
    answer = legal_actions.add_parser("answer", help="record how a request was answered")
    answer.add_argument("id", type=int)
    answer.add_argument("--answered", required=True, metavar="DATE")
    answer.add_argument("--outcome", required=True, choices=OUTCOMES[1:])
    legal_actions.add_parser("list", help="every request, oldest first")
    parser.set_defaults(func=cmd_report)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"not a date: {text!r} (write YYYY-MM-DD)") from None


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from bot.storage.db import make_engine
    from bot.transparency import report
    from bot.transparency.render import render
    from bot.transparency.service import PublishError, Transparency
    from bot.transparency.store import TransparencyError

    if args.threshold < 2:
        print("kyr report: " + "--threshold must be at least 2", file=sys.stderr)
        return 2
    if args.noise is not None and args.noise <= 0:
        print("kyr report: " + "--noise must be a positive scale", file=sys.stderr)
        return 2
    service = Transparency(settings, make_engine(settings.database_url), args.threshold)
    try:
        if args.report_command == "publish":
            data = service.publish(args.quarter_to_publish, args.by, args.noise, args.replace)
            hidden = sum(t["suppressed_primary"] + t["suppressed_secondary"] for t in data["tables"])
            print(f"published {data['period']['label']} ({hidden} count(s) hidden); it is now on "
                  "/transparency")
            return 0
        if args.report_command == "published":
            for quarter in service.store.quarters():
                found = service.store.published(quarter)
                assert found is not None
                print(f"{quarter}\t{found.published_at:%Y-%m-%d}\t{found.published_by}")
            return 0
        if args.report_command == "legal-request":
            return _legal(args, service)
        if args.quarter and (args.start or args.last):
            print("kyr report: " + "give --quarter or --from/--to, not both", file=sys.stderr)
            return 2
        if bool(args.start) != bool(args.last):
            print("kyr report: " + "--from and --to go together", file=sys.stderr)
            return 2
        if args.start:
            period = report.between(args.start, args.last)
        elif args.quarter:
            period = report.quarter(args.quarter)
        else:
            today = dt.date.today()
            period = report.quarter_of(report.quarter_of(today).start - dt.timedelta(days=1))
        body = render(service.build(period, args.noise), args.format, args.lang, settings.home)
    except (report.PeriodError, PublishError, TransparencyError) as exc:
        print(f"kyr report: {exc}", file=sys.stderr)
        return 2
    if args.output:
        Path(args.output).write_bytes(body)
        print(f"wrote {args.output} ({len(body)} bytes)", file=sys.stderr)
    elif args.format == "pdf" and sys.stdout.isatty():
        print("kyr report: " + "a PDF is not for the terminal: add -o FILE", file=sys.stderr)
        return 2
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    return 0


def _legal(args: argparse.Namespace, service: Any) -> int:
    store = service.store
    if args.legal_command == "add":
        answered = _date(args.answered) if args.answered else None
        request_id = store.add_request(_date(args.received), args.kind, args.outcome, answered,
                                       args.by)
        print(f"legal request {request_id} recorded")
    elif args.legal_command == "answer":
        store.answer_request(args.id, _date(args.answered), args.outcome)
        print(f"legal request {args.id}: {args.outcome}")
    else:
        for r in store.requests():
            when = r.answered_on.isoformat() if r.answered_on else "-"
            print(f"{r.id}\t{r.received_on.isoformat()}\t{r.kind}\t{when}\t{r.outcome}")
    return 0

"""syndicator (转载中枢) command line.

    python main.py run [--config F]            the daemon
    python main.py demo                        sandbox + hub on the embedded demo config
    python main.py sandbox                     the look-alike upstream and platforms only
    python main.py check-config [--config F] [--online]   validate (--online: credentials, nothing published)
    python main.py sources list|probe ID       source health; fetch one source once (stores nothing)
    python main.py sources snapshot [ID…] --out DIR   record raw responses + manifest for replay in tests
    python main.py status                      counts by state, oldest open delivery, warnings
    python main.py deadline TIME [--rule R]    when is an item published at TIME due?
    python main.py reload                      recompute deadlines a new or edited calendar override affects
    python main.py calendar propose --from URL|FILE / calendar confirm YEAR   the holiday notice
    python main.py delays / report --month M   the delay log and the monthly report
    python main.py evidence --unit U --month M --out DIR   per-unit proof of every reprint
    python main.py retry N | skip N REASON | pause ACCOUNT [REASON] | resume ACCOUNT
    python main.py hash-password               a password hash for [dashboard.users]
    python main.py migrate                     bring the database schema to this release (upgrades)
    python main.py hash-api-key                a new API key and its hash for [web] api_keys
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from syndicator import commands, logs, redact

ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIG = os.environ.get("SYNDICATOR_CONFIG", str(ROOT / "config" / "syndicator.toml"))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="main.py", description="转载中枢 syndicator")
    p.add_argument("--log-level", default=os.environ.get("SYNDICATOR_LOG_LEVEL", "INFO"))
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(name: str, help_text: str, default: str = DEFAULT_CONFIG) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_text)
        sp.add_argument("--config", default=default, help=f"config file (default {default})")
        return sp

    with_config("run", "run the daemon")
    demo = with_config("demo", "sandbox + hub on the demo config", str(ROOT / "config" / "demo.toml"))
    demo.add_argument("--publish-every", type=float, default=20.0, help="seconds between new upstream items")
    demo.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: until Ctrl-C)")
    sb = sub.add_parser("sandbox", help="serve the look-alike upstream sites and platforms")
    sb.add_argument("--host", default="127.0.0.1")
    cc = with_config("check-config", "validate a config file")
    cc.add_argument("--online", action="store_true",
                    help="also check each account's credentials against its platform, publishing nothing")
    src = with_config("sources", "source health and probing")
    src.add_argument("action", choices=["list", "probe", "snapshot"])
    src.add_argument("source_id", nargs="*", help="probe: one source id; snapshot: ids (default: all enabled)")
    src.add_argument("--limit", type=int, default=10, help="probe / snapshot: article pages to fetch at most")
    src.add_argument("--out", help="snapshot: directory for the raw responses and manifest.json")
    with_config("status", "counts by state, oldest open delivery, warnings")
    with_config("reload", "recompute deadlines after a calendar override was added or edited")
    cal = with_config("calendar", "the State Council holiday notice: propose a draft override, confirm it")
    cal.add_argument("action", choices=["propose", "confirm"])
    cal.add_argument("year", nargs="?", type=int, help="confirm: the year whose draft to adopt")
    cal.add_argument("--from", dest="source", help="propose: the notice's URL, saved page or text file")
    hp = sub.add_parser("hash-password", help="print a password hash for [dashboard.users]")
    hp.add_argument("--iterations", type=int, default=600_000)
    sub.add_parser("hash-api-key", help="print a new API key and its hash for [web] api_keys (or hash one from stdin)")
    dl = with_config("deadline", "compute a deadline")
    dl.add_argument("time", help="publication time: ISO 8601 or 'YYYY-MM-DD HH:MM' (Beijing time)")
    dl.add_argument("--rule", choices=["next_working_day_end", "working_days", "working_hours"])
    dl.add_argument("--days", type=int)
    delays = with_config("delays", "list delay records")
    delays.add_argument("--since")
    delays.add_argument("--until")
    delays.add_argument("--unit")
    delays.add_argument("--channel")
    delays.add_argument("--format", choices=["table", "csv", "json"], default="table")
    rp = with_config("report", "monthly report per unit and channel")
    rp.add_argument("--month", required=True, help="YYYY-MM")
    rp.add_argument("--format", choices=["md", "csv", "html"], default="md")
    ev = with_config("evidence", "per-unit evidence for a month: CSV (UTF-8 with BOM) + platform receipts as JSON")
    ev.add_argument("--unit", required=True)
    ev.add_argument("--month", required=True, help="YYYY-MM")
    ev.add_argument("--out", required=True, help="directory to write into")
    ct = with_config("correct-time", "correct an item's upstream publication time (audited; deadlines recomputed)")
    ct.add_argument("item_id", type=int)
    ct.add_argument("time", help="ISO 8601 or 'YYYY-MM-DD HH:MM' (Beijing time)")
    ct.add_argument("reason")
    r = with_config("retry", "send a delivery again now")
    r.add_argument("delivery_id", type=int)
    sk = with_config("skip", "do not send a delivery (reason goes on record)")
    sk.add_argument("delivery_id", type=int)
    sk.add_argument("reason")
    pa = with_config("pause", "pause an account (its deliveries are held)")
    pa.add_argument("account_id")
    pa.add_argument("reason", nargs="?", default="运维操作")
    re_ = with_config("resume", "resume a paused or re-authorised account")
    re_.add_argument("account_id")
    with_config("migrate", "apply database migrations (the hub also does this when it starts)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Every line the command line prints, and every log line, goes through one redaction (syndicator.redact).
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = redact.RedactingStream(out), redact.RedactingStream(err)  # type: ignore[assignment]
    stop_logging = logs.configure(args.log_level, sys.stderr)
    handler = getattr(commands, "cmd_" + args.command.replace("-", "_"))
    try:
        return asyncio.run(handler(args))
    except commands.UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        stop_logging()       # what is still queued is written before the process exits
        sys.stdout, sys.stderr = out, err


if __name__ == "__main__":
    sys.exit(main())

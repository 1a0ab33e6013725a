"""The ``parkwatch`` command. Each subcommand imports only what it needs, so a gateway
with just the ``agent`` extra never loads FastAPI, and ``parkwatch agent run`` loads no
collector or simulator module (tests/test_agent_imports.py): the agent's memory is what it
polls with, not the product's other commands."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from parkwatch.core.conf import ConfigError, UserError, package_version


def _terminate(signum, frame):
    raise SystemExit(0)


CLOCK_OFFSET_ENV = "PARKWATCH_CLOCK_OFFSET_S"


def _clock_offset() -> float:
    """A test hook (docs/faults.md): run the agent as if the gateway's clock were off by
    this many seconds. Only the process's wall clock moves; the domain code is given the
    clock, as always."""
    import math
    import os

    text = os.environ.get(CLOCK_OFFSET_ENV, "").strip()
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UserError(f"{CLOCK_OFFSET_ENV} must be a number of seconds, got {text!r}")
    return value


def _agent_run(args) -> int:
    import time

    from agent import config

    cfg = config.load(args.config)  # a mistake is reported before the heavy imports
    offset = _clock_offset()
    from agent import service

    clock = (lambda: time.time() + offset) if offset else time.time
    try:
        service.run(cfg, clock=clock)
    except service.StartError as e:
        print(f"parkwatch: {e}", file=sys.stderr)
        return 1
    return 0


def _agent_install_service(args) -> int:
    from pathlib import Path

    from agent import install

    return install.install(Path(args.unit_dir), Path(args.config_dir),
                           args.exec or install.parkwatch_exe(), print_only=args.print)


def _collector_run(args) -> int:
    from collector import config

    cfg = config.load(args.config)  # a mistake is reported before FastAPI is imported
    from collector import service

    return service.run(cfg)  # non-zero when its store or a worker thread failed


def _report_monthly(args) -> int:
    from collector.workflow.cli import report_monthly

    return report_monthly(args)


def _demo(args) -> int:
    from simulators import demo

    return demo.run(api_port=args.port, embedded_broker=args.embedded_broker,
                    duration_s=args.duration, zone=args.timezone)


def _profile_check(args) -> int:
    from agent.profiles import commands

    return commands.check(args.files)


def _profile_decode(args) -> int:
    from agent.profiles import commands

    return commands.decode(args.profile, args.frame, args.reply, args.text)


def _sim_proxy(args) -> int:
    from simulators import netproxy

    try:
        return netproxy.run(args.listen_port, args.upstream, args.listen_host)
    except ValueError as e:
        raise UserError(str(e)) from None


def _sim_site(args) -> int:
    from simulators import site

    return site.run(args.config, control_port=args.control_port,
                    write_config=args.write_config, link_dir=args.link_dir,
                    duration_s=args.duration)


def _sim_scenario(args) -> int:
    from simulators.scenario import cli as commands

    return commands.sim_scenario(args)


def _report_budget(args) -> int:
    from collector.downtime import cli as commands

    return commands.report_budget(args)


def _zone(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"is not a known time zone: {text!r} (use an IANA "
                                         "name such as 'Asia/Shanghai')") from None
    return text


def _year(text: str) -> int:
    if not text.isdigit() or not 2000 <= int(text) <= 2200:
        raise argparse.ArgumentTypeError(f"must be a year like 2026, got {text!r}")
    return int(text)


DESCRIPTION = ("Monitoring for parking-lot front-end hardware: the site agent, the central "
               "collector, device simulators and reports.")


def _verbose_everywhere(parser: argparse.ArgumentParser) -> None:
    """Accept -v after any subcommand too (``parkwatch agent run --config F -v``); the
    top-level value stands unless the flag is given there."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                if not any("-v" in a.option_strings for a in child._actions):
                    child.add_argument("-v", "--verbose", action="store_true",
                                       default=argparse.SUPPRESS, help="log debug messages")
                _verbose_everywhere(child)


class _Version(argparse.Action):
    """argparse's ``version`` action, the version looked up only when asked for: reading
    the package metadata costs the agent ~3 MB of RSS (importlib.metadata, email, zipfile)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show program's version number and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser._print_message(f"parkwatch {package_version()}\n", sys.stdout)
        parser.exit()


BUILTIN_COMMANDS = ("agent", "collector", "profile", "sim", "report", "demo")


def _command(argv: list[str]) -> str | None:
    """The subcommand ``argv`` names (top-level options take no value), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; given the ``command`` about to run, one of ours, the
    collector's extra subcommands (user, site, broker, cluster: they import the collector's
    password hashing and its broker config) are left out, which changes nothing else."""
    p = argparse.ArgumentParser(prog="parkwatch", description=DESCRIPTION)
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    p.add_argument("--version", action=_Version)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    agent = sub.add_parser("agent", help="the site agent").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    run = agent.add_parser("run", help="poll the devices and publish to the broker")
    run.add_argument("--config", required=True, help="agent TOML config file")
    run.set_defaults(func=_agent_run)
    svc = agent.add_parser("install-service",
                           help="write the systemd unit and a sample config (or print them)")
    svc.add_argument("--print", action="store_true", help="print them; write nothing")
    svc.add_argument("--unit-dir", default="/etc/systemd/system",
                     help="where the unit goes (default /etc/systemd/system)")
    svc.add_argument("--config-dir", default="/etc/parkwatch",
                     help="where the sample agent.toml goes unless one exists "
                          "(default /etc/parkwatch)")
    svc.add_argument("--exec", default=None,
                     help="the parkwatch command the unit runs (default: this one)")
    svc.set_defaults(func=_agent_install_service)

    col = sub.add_parser("collector", help="the central collector").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    run = col.add_parser("run", help="ingest from the broker and serve the API")
    run.add_argument("--config", required=True, help="collector TOML config file")
    run.set_defaults(func=_collector_run)

    prof = sub.add_parser("profile", help="firmware profiles").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    check = prof.add_parser("check", help="validate profiles and run their golden vectors")
    check.add_argument("files", nargs="*", metavar="FILE",
                       help="profile files (default: every shipped profile)")
    check.set_defaults(func=_profile_check)
    dec = prof.add_parser("decode", help="decode a captured frame and show fields and state")
    dec.add_argument("profile", help="a shipped profile's name or a profile file")
    dec.add_argument("frame", help="hex bytes (\"5B 01 81 …\") or a file holding the frame")
    dec.add_argument("--reply", help="the reply to decode it as (needed for HTTP bodies)")
    dec.add_argument("--text", action="store_true",
                     help="FRAME is an ASCII line; \\r and \\n escapes are understood")
    dec.set_defaults(func=_profile_decode)

    sim = sub.add_parser("sim", help="simulated devices and scenarios").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    site = sim.add_parser("site", help="simulate every device of an agent config")
    site.add_argument("--config", required=True, help="agent TOML config file")
    site.add_argument("--control-port", type=int, default=0,
                      help="port of the HTTP control interface (default: a free one)")
    site.add_argument("--write-config", metavar="OUT",
                      help="write an agent config pointing at the simulators")
    site.add_argument("--link-dir", metavar="DIR",
                      help="put a stable symlink per serial port here (for unplug/replug)")
    site.add_argument("--duration", type=float, default=None,
                      help="stop after this many seconds (default: run until Ctrl-C)")
    site.set_defaults(func=_sim_site)

    px = sim.add_parser("proxy", help="a TCP proxy that cuts, blackholes, delays or throttles "
                                      "a link on commands read from stdin (docs/faults.md)")
    px.add_argument("--listen-port", type=int, required=True,
                    help="port to listen on (0: a free one, printed at start)")
    px.add_argument("--upstream", required=True, metavar="HOST:PORT",
                    help="where to forward to, e.g. the broker 127.0.0.1:1883")
    px.add_argument("--listen-host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1)")
    px.set_defaults(func=_sim_proxy)

    sc = sim.add_parser("scenario", help="run a scenario file (docs/scenarios.md) through "
                                         "the collector's cores; leaves its database")
    sc.add_argument("file", help="scenario TOML file")
    sc.add_argument("--db", required=True, help="collector database to create")
    sc.add_argument("--replace", action="store_true", help="overwrite an existing database")
    sc.add_argument("--json", action="store_true", help="print the summary as JSON")
    sc.set_defaults(func=_sim_scenario)

    rep = sub.add_parser("report", help="reports from a collector database").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    bud = rep.add_parser("budget", help="yearly network-down budget per project "
                                        "(docs/budget.md)")
    bud.add_argument("--db", required=True, help="collector database")
    bud.add_argument("--year", required=True, type=_year, help="calendar year, e.g. 2026")
    bud.add_argument("--project", help="one project (default: all)")
    bud.add_argument("--json", action="store_true", help="JSON instead of a table")
    bud.set_defaults(func=_report_budget)

    monthly = rep.add_parser("monthly", help="monthly scores per group: K1/K2/K3, grades and "
                             "tiers, penalty items")
    monthly.add_argument("--month", required=True, help="the month, YYYY-MM")
    fmt = monthly.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON")
    fmt.add_argument("--csv", action="store_true", help="print CSV, one row per group")
    monthly.add_argument("--config", help="collector TOML config: its database and [workflow]")
    monthly.add_argument("--database", "--db", dest="database",
                         help="the collector's SQLite database (instead of --config's)")
    monthly.set_defaults(func=_report_monthly)

    if command not in BUILTIN_COMMANDS:
        _collector_subcommands(sub)

    demo = sub.add_parser("demo", help="broker, two simulated sites and a collector, locally")
    demo.add_argument("--port", type=int, default=8080, help="API port (default 8080)")
    demo.add_argument("--embedded-broker", action="store_true",
                      help="use the embedded broker even when mosquitto is installed")
    demo.add_argument("--duration", type=float, default=None,
                      help="stop after this many seconds (default: run until Ctrl-C)")
    demo.add_argument("--timezone", type=_zone, default=None, metavar="ZONE",
                      help="the demo project's IANA time zone (default: Asia/Shanghai while "
                           "08:00-22:00 there, else one where it is midday, so SLA clocks run)")
    demo.set_defaults(func=_demo)
    _verbose_everywhere(p)
    return p


def _collector_subcommands(sub) -> None:
    try:
        from collector.web.users_cli import add_parser as add_user_parser
    except ImportError:  # a gateway without the collector extra
        return
    add_user_parser(sub)
    from collector.db import db_cli
    from collector.fleet import broker_cli, cluster_cli
    from collector.fleet import site_cli as fleet_cli

    fleet_cli.add_parser(sub)
    broker_cli.add_parser(sub)
    cluster_cli.add_parser(sub)
    db_cli.add_parser(sub)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_command(argv)).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = args.func(args)
        sys.stdout.flush()  # inside the try: a reader that went away is seen here
        return code
    except (ConfigError, UserError) as e:
        print(f"parkwatch: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``report budget --json | head``): not an error of ours.
        # Point stdout at nothing so the interpreter's final flush does not complain.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())

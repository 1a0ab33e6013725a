"""The ``parkwatch`` command. Each subcommand imports only what it needs, so a gateway
with just the ``agent`` extra never loads FastAPI."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from agent.conf import ConfigError


def _terminate(signum, frame):
    raise SystemExit(0)


def _agent_run(args) -> int:
    from agent import config, service

    cfg = config.load(args.config)
    service.run(cfg)
    return 0


def _collector_run(args) -> int:
    from collector import config, service

    cfg = config.load(args.config)
    service.run(cfg)
    return 0


def _demo(args) -> int:
    from simulators import demo

    return demo.run(api_port=args.port, embedded_broker=args.embedded_broker,
                    duration_s=args.duration)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="parkwatch", description=__doc__.split("\n")[0])
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    agent = sub.add_parser("agent", help="the site agent").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    run = agent.add_parser("run", help="poll the devices and publish to the broker")
    run.add_argument("--config", required=True, help="agent TOML config file")
    run.set_defaults(func=_agent_run)

    col = sub.add_parser("collector", help="the central collector").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    run = col.add_parser("run", help="ingest from the broker and serve the API")
    run.add_argument("--config", required=True, help="collector TOML config file")
    run.set_defaults(func=_collector_run)

    try:
        from collector.users_cli import add_parser as add_user_parser
    except ImportError:  # a gateway without the collector extra
        pass
    else:
        add_user_parser(sub)

    demo = sub.add_parser("demo", help="broker, two simulated sites and a collector, locally")
    demo.add_argument("--port", type=int, default=8080, help="API port (default 8080)")
    demo.add_argument("--embedded-broker", action="store_true",
                      help="use the embedded broker even when mosquitto is installed")
    demo.add_argument("--duration", type=float, default=None,
                      help="stop after this many seconds (default: run until Ctrl-C)")
    demo.set_defaults(func=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"parkwatch: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Entry point of the ``zactor`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import bench, demo


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``zactor`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="zactor", description="zactor: a fast actor framework for Python."
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="level of the log lines written to stderr (default: WARNING)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo_parser = commands.add_parser(
        "demo", help="count the words of a directory of text with actors"
    )
    demo.add_arguments(demo_parser)
    demo_parser.set_defaults(run=demo.run)

    bench_parser = commands.add_parser(
        "bench", help="measure zactor against the floor and other frameworks"
    )
    bench.add_arguments(bench_parser)
    bench_parser.set_defaults(run=bench.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``zactor``; returns the process exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        status: int = args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())

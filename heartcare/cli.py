"""The single `heartcare` command.

The CLI is thin: each subpackage owns a `commands.py` with `register(subparsers)`
that adds its subcommands, each bound to a typed library function. Library code
never parses argv. Command modules keep their imports light so `--help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from heartcare import __version__
from heartcare.errors import HeartcareError

# Subpackages contributing subcommands, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "heartcare.ecg.commands",
    "heartcare.agent.commands",
    "heartcare.sim.commands",
    "heartcare.render.commands",
    "heartcare.beat.commands",
    "heartcare.model.commands",
    "heartcare.bench.commands",
    "heartcare.serve.commands",
    "heartcare.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heartcare",
        description="Multimodal ECG toolkit: read, simulate, render, tokenize, build QA datasets and benchmark models.",
    )
    parser.add_argument("--version", action="version", version=f"heartcare {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        result = handler(args)
    except HeartcareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `heartcare info x --json | head` closed our stdout: not an error of ours.
        sys.stderr.close()
        return 0
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

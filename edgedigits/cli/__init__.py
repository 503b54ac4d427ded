"""The ``edgedigits`` command: one entry point, one small module per subcommand.

Each subcommand module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
and imports anything heavy inside ``run``. Errors raised as :class:`EdgeDigitsError` become one line
on stderr and a non-zero exit code, without a traceback.

Exit codes (the README's "Command line" lists them too): 0 done; 1 the work failed - a file, model,
camera, backend, dataset or accuracy gate named on a valid command line is missing, broken or
not good enough; 2 the command line itself is wrong - an unknown command, flag or name, a value out
of range, contradictory options, or an output that exists without ``--force`` (argparse's own
convention, kept for the checks made after parsing: :class:`~edgedigits.errors.UsageError`);
130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .._version import __version__
from ..errors import EdgeDigitsError
from ..runtimes import NAMES

# The subcommands, in the order `edgedigits --help` lists them (module names under edgedigits.cli).
COMMANDS = ("camera", "predict", "export", "backends", "bench", "eval", "train", "data", "serve", "batch")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgedigits", description="Handwritten digit recognition for edge devices.")
    parser.add_argument("--version", action="version", version=f"edgedigits {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{name}_cmd")
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except EdgeDigitsError as exc:
        print(f"edgedigits {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"edgedigits {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`): not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


def number(kind=float, low=None, high=None, low_open: bool = False):
    """An argparse ``type`` parsing ``kind`` within [low, high] (``low_open``: strictly above low)."""
    import argparse

    if low is not None and high is not None:
        wanted = f"a number between {low} and {high}"
    elif low is not None:
        wanted = f"a number {'above' if low_open else 'of at least'} {low}"
    else:
        wanted = "a number"
    if kind is int:
        wanted = wanted.replace("a number", "a whole number", 1)

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high) or value != value:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}")
        return value

    return parse


def backend_name(text: str) -> str:
    """An argparse ``type`` for ``--backend``: 'auto' or a backend edgedigits knows (exit 2 otherwise)."""
    import argparse

    name = text.strip().lower()
    if name != "auto" and name not in NAMES:
        raise argparse.ArgumentTypeError(f"unknown backend {text!r}; choose auto or one of: {', '.join(NAMES)}")
    return name


positive_int = number(int, 1)
nonneg_int = number(int, 0)
positive_float = number(float, 0, low_open=True)
nonneg_float = number(float, 0)
probability = number(float, 0, 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""`edgedigits bench` (not yet available)."""

NAME = "bench"
HELP = "(not yet available in this release)"


def add_arguments(parser) -> None:
    parser.add_argument("rest", nargs="*", help="ignored")


def run(args) -> int:
    from ..errors import EdgeDigitsError
    raise EdgeDigitsError("'edgedigits bench' is not yet available in this release; see the README for what is.")

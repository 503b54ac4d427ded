"""`edgedigits camera` (not yet available)."""

NAME = "camera"
HELP = "(not yet available in this release)"


def add_arguments(parser) -> None:
    parser.add_argument("rest", nargs="*", help="ignored")


def run(args) -> int:
    from ..errors import EdgeDigitsError
    raise EdgeDigitsError("'edgedigits camera' is not yet available in this release; see the README for what is.")

"""`edgedigits backends`: every inference backend, whether it runs here and why, and the auto pick."""

from __future__ import annotations

import json

from ..bundle import load_bundle
from ..errors import EdgeDigitsError
from ..runtimes import backends
from ..runtimes.select import choose

NAME = "backends"
HELP = "list the inference backends, what each can run here (or why not) and what 'auto' picks"


def add_arguments(p) -> None:
    p.add_argument("--model", default=None, help="bundle folder to pick for (default: the shipped model)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def describe_backends() -> list[dict]:
    """One dict per backend, in priority order (also the --json layout)."""
    rows = []
    for b in backends():
        ok, reason = b.availability()
        rows.append(
            {
                "name": b.name,
                "available": ok,
                "reason": reason,
                "version": b.version(),
                "devices": b.devices(),
                "precisions": {d: b.precisions(d) for d in b.devices()},
                "formats": list(b.formats),
                "role": b.role,
                "auto_candidate": b.auto_candidate,
            }
        )
    return rows


def describe_pick(model) -> dict:
    """What ``Recognizer(model)`` would run on, and why; {'error': ...} when nothing can."""
    try:
        bundle = load_bundle(model)
        choice = choose(bundle)
    except EdgeDigitsError as exc:
        return {"error": str(exc)}
    return {
        "bundle": str(bundle.path),
        "backend": choice.backend,
        "device": choice.device,
        "precision": choice.precision,
        "artifact": choice.artifact.id,
        "routes": choice.describe_routes() if choice.routes else [],
        "why": choice.why,
    }


def _table(rows: list[dict]) -> str:
    header = ("backend", "available", "version", "devices: precisions", "reason")
    body = [
        (
            r["name"],
            "yes" if r["available"] else "no",
            r["version"] or "-",
            "; ".join(f"{d}: {','.join(p)}" for d, p in r["precisions"].items()) or "-",
            r["reason"],
        )
        for r in rows
    ]
    widths = [max(len(str(x[i])) for x in (header, *body)) for i in range(len(header) - 1)]
    lines = []
    for row in (header, *body):
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths)) + "  " + row[-1])
    return "\n".join(lines)


def run(args) -> int:
    rows = describe_backends()
    pick = describe_pick(args.model)
    if args.json:
        print(json.dumps({"backends": rows, "auto": pick}, indent=2))
        return 0
    print(_table(rows))
    print()
    if "error" in pick:
        print(f"auto: nothing can run the model here: {pick['error']}")
        return 1
    print(
        f"auto pick for {pick['bundle']}: {pick['backend']} on {pick['device']}, {pick['precision']} "
        f"({pick['artifact']})"
    )
    for route in pick["routes"]:
        print(f"  {route}")
    print(f"why: {pick['why']}")
    return 0

"""How CLI results print: ``-o table`` (aligned columns, what people read) or ``-o json``
(what scripts parse), as kubectl does. Lists default to a table, single results to JSON."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import orjson
import typer

__all__ = ["Output", "output_option", "emit", "model_rows", "history_rows"]


class Output(str, Enum):
    table = "table"
    json = "json"


def output_option(default: Output) -> Any:
    return typer.Option(default, "--output", "-o", help="table (for people) or json (for scripts).",
                        case_sensitive=False)


def render_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in header]] + [["-" if c is None or c == "" else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def _canary(c: dict[str, Any] | None) -> str:
    if not c:
        return "-"
    return f"{c['version']}@{c['weight']:g}%" + (" sticky" if c.get("sticky") else "")


def model_rows(models: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    rows = []
    for m in models:
        tags = ",".join(f"{k}={v}" for k, v in (m.get("tags") or {}).items() if v is not None)
        versions = ",".join(str(v["version"]) + ("" if v.get("status", "ready") == "ready" else f"({v['status']})")
                            for v in m.get("versions", []))
        rows.append([m["name"], m.get("current"), m.get("previous"), _canary(m.get("canary")), tags, versions])
    return ["NAME", "CURRENT", "PREVIOUS", "CANARY", "TAGS", "VERSIONS"], rows


def history_rows(events: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    rows = [[e.get("at", "")[:19].replace("T", " "), e["kind"], e.get("tag"),
             f"{'-' if e.get('before') is None else e['before']} -> {'-' if e.get('after') is None else e['after']}",
             e.get("actor"), e.get("reason")] for e in events]
    return ["AT (UTC)", "KIND", "TAG", "VERSION", "ACTOR", "REASON"], rows


def _flat(data: Any) -> tuple[list[str], list[list[Any]]]:
    if isinstance(data, dict):
        return ["FIELD", "VALUE"], [[k, v if not isinstance(v, dict | list) else orjson.dumps(v).decode()]
                                    for k, v in data.items()]
    return ["VALUE"], [[orjson.dumps(d).decode() if isinstance(d, dict | list) else d] for d in data]


def emit(data: Any, output: Output, rows: Callable[[Any], tuple[list[str], list[list[Any]]]] | None = None) -> None:
    if output == Output.json:
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    header, body = (rows or _flat)(data)
    typer.echo(render_table(header, body))

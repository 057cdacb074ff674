"""`gt costs`, `gt budget` and `gt stats`: what it cost, for whom, and whether work flows."""

from __future__ import annotations

from typing import Any, Optional

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, fail, out, show
from gastown.cli.render import emit_json
from gastown.pricing import duration, money, percent
from gastown.protocol import Method

budget = typer.Typer(help="Caps on tokens or dollars per town, rig, convoy, bead or human.\n\n"
                          "Example: gt budget set --rig app --dollars 20", no_args_is_help=True)

BY = ("bead", "convoy", "agent", "human", "rig", "model", "day", "role", "persona", "turn")


def parse_since(value: str | None) -> str | None:
    """`90m`, `1h`, `2d`, `1w`, `14:30`, a date or an ISO time -> an ISO timestamp (UTC)."""
    if not value:
        return None
    from gastown import feed  # here: only --since needs it, and it costs every `gt` start

    try:
        return feed.parse_since(value).isoformat()
    except ValueError:
        fail(f"--since takes a duration (30m, 1h, 2d, 1w) or a date/time, not '{value}'")


def costs(by: str = typer.Option("bead", "--by", help=f"Group by: {', '.join(BY)}."),
          since: Optional[str] = typer.Option(None, "--since", help="Only turns since: 1h, 2d, or a date/time."),
          prices: bool = typer.Option(False, "--prices", help="Print the price table in use instead."),
          town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Tokens and dollars per bead, convoy, agent, human, rig, model, day or turn.

    Dollars come from the model price table (built-in list prices, overridden by the town
    setting costs.prices); a model without a price counts tokens but no dollars.

    Example: gt costs --by human --since 7d
    """
    if by not in BY:
        fail(f"--by must be one of {', '.join(BY)}, not '{by}'")
    data = call(Method.COSTS_BY, town, by="model" if prices else by, since=parse_since(since))
    if prices:
        show(data["prices"], as_json, [("model", "MODEL"), ("input", "INPUT $/M"), ("output", "OUTPUT $/M"),
                                       ("cached", "CACHED $/M"), ("source", "SOURCE")])
        return
    rows = data["rows"]
    if as_json:
        emit_json([{"id": r.get("key", r.get("seq")), **r} for r in rows])
        return
    if by == "turn":
        show([{**r, "cost": money(r["dollars"])} for r in rows], False,
             [("seq", "TURN"), ("ended_at", "ENDED"), ("agent", "AGENT"), ("bead_id", "BEAD"), ("model", "MODEL"),
              ("tokens_in", "IN"), ("tokens_out", "OUT"), ("cost", "COST")], empty="no turns yet")
        return
    show([{**r, "cost": money(r["dollars"]), "total": r["tokens_in"] + r["tokens_out"]} for r in rows], False,
         [("key", by.upper()), ("tokens_in", "IN"), ("tokens_out", "OUT"), ("tokens_cached", "CACHED"),
          ("total", "TOTAL"), ("turns", "TURNS"), ("cost", "COST")], empty="no turns yet")
    t = data["total"]
    out.print(f"total {t['tokens_in'] + t['tokens_out']:,} tokens in {t['turns']} turns, {money(t['dollars'])}",
              markup=False)
    if data["unpriced_models"]:
        out.print(f"no price for {', '.join(data['unpriced_models'])}: their tokens cost $0 here "
                  "(gt config set costs.prices ...)", markup=False)


def _scope(rig: str | None, convoy: str | None, bead: str | None, human: str | None) -> tuple[str, str | None]:
    given = [(s, v) for s, v in (("rig", rig), ("convoy", convoy), ("bead", bead), ("human", human)) if v]
    if len(given) > 1:
        fail("give at most one of --rig, --convoy, --bead, --human (none: the whole town)")
    return given[0] if given else ("town", None)


RigOpt = typer.Option(None, "--rig", help="Cap one rig.")
ConvoyOpt = typer.Option(None, "--convoy", help="Cap one convoy.")
BeadOpt = typer.Option(None, "--bead", help="Cap one bead.")
HumanOpt = typer.Option(None, "--human", help="Cap what one human's requests spend ('Name <email>').")


@budget.command("set")
def budget_set(rig: Optional[str] = RigOpt, convoy: Optional[str] = ConvoyOpt, bead: Optional[str] = BeadOpt,
               human: Optional[str] = HumanOpt,
               tokens: Optional[int] = typer.Option(None, "--tokens", help="Cap in tokens (input + output)."),
               dollars: Optional[float] = typer.Option(None, "--dollars", help="Cap in US dollars."),
               town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Set (or change) a cap. At 80 % you are told; at 100 % no new turn starts in that scope
    until the cap is raised or cleared (running turns finish, or stop with
    budget.on_exhausted = stop)."""
    scope, key = _scope(rig, convoy, bead, human)
    row = call(Method.BUDGET_SET, town, scope=scope, key=key, tokens=tokens, dollars=dollars)
    if as_json:
        emit_json([row])
    else:
        out.print(f"budget {row['id']}: {_caps(row)}; used {row['percent']:.0f}% ({row['status']})", markup=False)


def _caps(row: dict[str, Any]) -> str:
    parts = [f"{row['tokens']:,} tokens" if row["tokens"] else "", money(row["dollars"]) if row["dollars"] else ""]
    return " and ".join(p for p in parts if p)


@budget.command("show")
def budget_show(town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Every budget, what its scope has used, and the beads it holds."""
    rows = call(Method.BUDGET_SHOW, town)
    show([{**r, "cap": _caps(r), "used": f"{r['used_tokens']:,} tok, {money(r['used_dollars'])}",
           "pct": f"{r['percent']:.0f}%", "held": len(r["held_beads"])} for r in rows] if not as_json else rows,
         as_json, [("id", "BUDGET"), ("cap", "CAP"), ("used", "USED"), ("pct", "%"), ("status", "STATUS"),
                   ("held", "HELD")], empty="no budgets")


@budget.command("clear")
def budget_clear(rig: Optional[str] = RigOpt, convoy: Optional[str] = ConvoyOpt, bead: Optional[str] = BeadOpt,
                 human: Optional[str] = HumanOpt, town: TownOpt = None) -> None:
    """Remove a cap; beads it held are released on the next tick."""
    scope, key = _scope(rig, convoy, bead, human)
    row = call(Method.BUDGET_CLEAR, town, scope=scope, key=key)
    out.print(f"budget {row['id']} cleared", markup=False)


SPARK = "▁▂▃▄▅▆▇█"


def spark(values: list[int], width: int = 40) -> str:
    """A text sparkline of the latest `width` samples."""
    vals = values[-width:]
    if not vals:
        return ""
    top = max(vals) or 1
    return "".join(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1)))] for v in vals)


def stats(since: str = typer.Option("24h", "--since", help="Window: 1h, 7d, or a date/time."),
          all_towns: bool = typer.Option(False, "--all-towns", help="Every town on this machine."),
          town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Is work flowing: merges per hour, sling -> merged time, first-try gate pass rate,
    rework and failure rates, agent utilisation, queue depth, spend per model.

    Example: gt stats --since 7d
    """
    start = parse_since(since)
    names = [t["name"] for t in call(Method.TOWN_LIST, _town=False)] if all_towns else [town]
    results = [call(Method.STATS, name, since=start) for name in names]
    if as_json:
        emit_json(results)
        return
    for s in results:
        _print_stats(s)


def _print_stats(s: dict[str, Any]) -> None:
    q = s["queue_depth"]
    lines = [
        f"town {s['id']} — last {s['hours']:.1f} h",
        f"  merged            {s['merged']} ({s['merges_per_hour']:.2f}/h)",
        f"  sling → merged    {duration(s['median_sling_to_merged_s'])} median",
        f"  first-try pass    {percent(s['first_try_pass_rate'])}",
        f"  rework rate       {percent(s['rework_rate'])}",
        f"  failure rate      {percent(s['failure_rate'])}",
        f"  utilisation       {percent(s['agent_utilisation'])}",
        f"  queue             {q.get('ready_beads', 0)} ready beads, {q.get('merge_requests', 0)} merge requests",
        f"  spend             {s['tokens']:,} tokens, {money(s['dollars'])}",
    ]
    if s["series"]["ready"]:
        lines.append(f"  ready   {spark(s['series']['ready'])}")
        lines.append(f"  working {spark(s['series']['working'])}")
    for m in s["by_model"]:
        lines.append(f"  model {m['model']}: {money(m['dollars'])}, {m['merged_beads']} merged, "
                     f"{money(m['dollars_per_merged_bead'])}/merged bead, first-try {percent(m['first_try_pass_rate'])}")
    out.print("\n".join(lines), markup=False)

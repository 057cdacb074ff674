"""Formulas: how long resolving + validating a formula takes, and pouring a 20-step
molecule (one transaction) next to creating a 20-bead convoy of the same shape.

Prints medians of repeated runs; no daemon (the store and the formula code in-process).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from gastown import formula, persona
from gastown.daemon.store.convoyplan import check_plan
from gastown.daemon.store import Store

N_STEPS, RUNS = 20, 30


def text() -> str:
    parts = ['name = "big"\n[vars.what]\nrequired = true\n']
    for i in range(N_STEPS):
        needs = f'needs = ["s{i - 1}"]\n' if i else ""
        kind = 'run = "true"\n' if i % 5 == 4 else 'description = "do {{what}} part %d"\n' % i
        parts.append(f'[[steps]]\nid = "s{i}"\ntitle = "step {i} of {{{{what}}}}"\n{needs}{kind}')
    return "\n".join(parts)


def spec() -> dict[str, object]:
    f = formula.parse(text(), "bench")
    steps = [{"id": s.id, "title": s.title, "description": s.description, "needs": list(s.needs), "kind": s.kind,
              "acceptance": s.acceptance, "run": s.run, "timeout": s.timeout, "script": []}
             for s in formula.rendered(f, formula.bind(f, {"what": "x"}, "app"))]
    return {"formula": "big", "type": "workflow", "source": "bench", "mode": "beads", "rig": "app", "staged": False,
            "vars": {"what": "x"}, "title": "big: x", "description": "", "steps": steps}


def store() -> Store:
    s = Store(Path(tempfile.mkdtemp(prefix="gt-bench-")) / "town.db", "gt")
    s.rig_add("app", "/src", "main", "/x")
    return s


def median_ms(fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    known = persona.all_personas([("built-in", persona.builtin_texts)])
    source = text()
    check = median_ms(lambda: formula.check(formula.parse(source, "bench"), known))
    s = store()
    pour = median_ms(lambda: s.molecule_pour(spec(), actor="bench", requested_by="bench"))
    plan = check_plan({"title": "big", "beads": [
        {"id": f"s{i}", "title": f"step {i}", "rig": "app", **({"depends_on": [f"s{i - 1}"]} if i else {})}
        for i in range(N_STEPS)]})
    c = store()
    convoy = median_ms(lambda: c.convoy_create(plan, staged=False, actor="bench", requested_by="bench"))
    print(f"formula parse+check ({N_STEPS} steps): median {check:.2f} ms")
    print(f"molecule pour ({N_STEPS} steps, one transaction): median {pour:.2f} ms")
    print(f"convoy create ({N_STEPS} beads, same DAG): median {convoy:.2f} ms  (pour/convoy = {pour / convoy:.2f}x)")


if __name__ == "__main__":
    main()

"""Formulas: reusable multi-step work as TOML files, parsed and validated before anything
is poured into the store.

A `workflow` formula is a DAG of `[[steps]]` joined by `needs`; a `convoy` formula is
`[[legs]]` run in parallel plus a `[synthesis]` step that needs them all (it is turned
into the same step list, so everything downstream knows one shape). A step is agent work
(prose with `{{var}}` placeholders, optional `persona` and `acceptance`), a typed `run`
step (a command the daemon executes; its exit code decides), or waits for a human
(`approval = true`). Files resolve rig (`.gastown/formulas/` in the rig's default branch)
-> town (`<town>/formulas/`) -> the built-ins shipped here; a file with `extends` patches
the formula it names (same name: the next layer down) with `[[patch]]` entries that
`replace`, `append` or `skip` steps by id.

Stdlib only: the CLI's `gt formula check` and the daemon share it. Every error is one
line naming the file and, where there is one, the step.
"""

from __future__ import annotations

import re
import tomllib
from collections import deque
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Callable, Iterable

from gastown.protocol import ErrorCode, RpcError

KINDS = ("workflow", "convoy")
STEP_KEYS = {"id", "title", "description", "needs", "persona", "approval", "acceptance", "run", "script",
             "timeout"}
TOP_KEYS = {"name", "description", "type", "vars", "steps", "legs", "synthesis", "extends", "patch"}
PATCH_OPS = ("replace", "append", "skip")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
VAR_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
BUILTIN = "built-in"


def bad(where: str, message: str, code: int = ErrorCode.INVALID_PARAMS) -> RpcError:
    return RpcError(code, f"{where}: {message}")


@dataclass(frozen=True)
class Var:
    name: str
    description: str = ""
    required: bool = False
    default: str | None = None


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    description: str = ""
    needs: tuple[str, ...] = ()
    persona: str | None = None
    approval: bool = False
    acceptance: str = ""
    run: str | None = None
    script: tuple[str, ...] = ()  # the scripted stand-in agent's commands (tests, demos)
    timeout: float = 600.0  # a run step's limit in seconds

    @property
    def kind(self) -> str:
        return "run" if self.run is not None else "approval" if self.approval else "agent"


@dataclass(frozen=True)
class Formula:
    name: str
    description: str
    type: str
    vars: dict[str, Var]
    steps: tuple[Step, ...]
    source: str  # where it came from: a path, "rig app", "town", "built-in"
    extends: str | None = None
    patches: tuple[dict[str, Any], ...] = field(default=())

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


# ------------------------------------------------------------------------ parsing
def parse(text: str, source: str) -> Formula:
    """One file's text into a Formula (not yet resolved against a base it extends)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise bad(source, f"malformed TOML: {exc}") from None
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise bad(source, f"unknown key(s) {', '.join(unknown)}")
    name = data.get("name")
    if not isinstance(name, str) or not ID_RE.match(name):
        raise bad(source, "needs a `name` (lowercase letters, digits, - and _)")
    extends = data.get("extends")
    if extends is not None and (not isinstance(extends, str) or not ID_RE.match(extends)):
        raise bad(source, "`extends` must name a formula")
    kind = data.get("type", "workflow")
    if kind not in KINDS:
        raise bad(source, f"type must be workflow or convoy, not {kind!r}")
    variables = _vars(data.get("vars", {}), source)
    if kind == "convoy" and not extends:
        steps = _convoy_steps(data, source)
    else:
        if "legs" in data or "synthesis" in data:
            raise bad(source, "[[legs]] and [synthesis] belong to a type = \"convoy\" formula")
        raw = data.get("steps", [])
        if extends and raw:
            raise bad(source, "a file that `extends` another patches it with [[patch]], it has no [[steps]]")
        if not isinstance(raw, list):
            raise bad(source, "[[steps]] must be a list of tables")
        steps = tuple(_step(s, source, i) for i, s in enumerate(raw))
    patches = data.get("patch", [])
    if not isinstance(patches, list) or not all(isinstance(p, dict) for p in patches):
        raise bad(source, "[[patch]] must be a list of tables")
    if patches and not extends:
        raise bad(source, "[[patch]] needs `extends = \"NAME\"` (the formula it patches)")
    if not steps and not extends:
        raise bad(source, "has no steps")
    return Formula(name=name, description=str(data.get("description", "")), type=kind, vars=variables,
                   steps=steps, source=source, extends=extends, patches=tuple(patches))


def _vars(raw: Any, source: str) -> dict[str, Var]:
    if not isinstance(raw, dict):
        raise bad(source, "[vars] must be a table of tables")
    out = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            spec = {"default": spec}
        extra = sorted(set(spec) - {"description", "required", "default"})
        if extra:
            raise bad(source, f"var {name}: unknown key(s) {', '.join(extra)}")
        default = spec.get("default")
        out[name] = Var(name=name, description=str(spec.get("description", "")),
                        required=bool(spec.get("required", False)),
                        default=None if default is None else str(default))
    return out


def _step(raw: Any, source: str, index: int) -> Step:
    if not isinstance(raw, dict):
        raise bad(source, f"step {index + 1} must be a table")
    sid = raw.get("id")
    where = f"{source}: step {sid if isinstance(sid, str) else index + 1}"
    if not isinstance(sid, str) or not ID_RE.match(sid):
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: needs an `id` (lowercase letters, digits, - and _)")
    extra = sorted(set(raw) - STEP_KEYS - {"op", "step", "after"})
    if extra:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: unknown key(s) {', '.join(extra)}")
    title = raw.get("title") or sid
    needs = raw.get("needs", [])
    script = raw.get("script", [])
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: `needs` must be a list of step ids")
    if not isinstance(script, list) or not all(isinstance(n, str) for n in script):
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: `script` must be a list of commands")
    run = raw.get("run")
    if run is not None and (not isinstance(run, str) or not run.strip()):
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: `run` must be a non-empty command")
    if run is not None and raw.get("approval"):
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: a step is either `run` or `approval`, not both")
    persona = raw.get("persona")
    if persona is not None and not isinstance(persona, str):
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: `persona` must be a name")
    timeout = raw.get("timeout", 600)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: `timeout` must be a positive number of seconds")
    return Step(id=sid, title=str(title), description=str(raw.get("description", "")), needs=tuple(needs),
                persona=persona, approval=bool(raw.get("approval", False)),
                acceptance=str(raw.get("acceptance", "")), run=run, script=tuple(script), timeout=float(timeout))


def _convoy_steps(data: dict[str, Any], source: str) -> tuple[Step, ...]:
    if "steps" in data:
        raise bad(source, "a convoy formula has [[legs]] and [synthesis], not [[steps]]")
    legs = data.get("legs")
    if not isinstance(legs, list) or not legs:
        raise bad(source, "a convoy formula needs [[legs]]")
    steps = [replace(_step(raw, source, i), needs=()) for i, raw in enumerate(legs)]
    synth = data.get("synthesis")
    if not isinstance(synth, dict):
        raise bad(source, "a convoy formula needs a [synthesis] table")
    synth = {"id": "synthesis", **synth}
    steps.append(replace(_step(synth, source, len(steps)), needs=tuple(s.id for s in steps)))
    return tuple(steps)


# ------------------------------------------------------------------- validation
def order(formula: Formula) -> list[str]:
    """Step ids in dependency order (Kahn); unknown needs and cycles are refused."""
    ids = [s.id for s in formula.steps]
    seen: set[str] = set()
    for sid in ids:
        if sid in seen:
            raise bad(f"{formula.source}: step {sid}", "duplicate step id")
        seen.add(sid)
    users: dict[str, list[str]] = {sid: [] for sid in ids}
    indegree = {}
    for s in formula.steps:
        for n in s.needs:
            if n not in users:
                raise bad(f"{formula.source}: step {s.id}", f"needs '{n}', which is not a step of {formula.name}")
            if n == s.id:
                raise bad(f"{formula.source}: step {s.id}", "needs itself", ErrorCode.CONFLICT)
            users[n].append(s.id)
        indegree[s.id] = len(set(s.needs))
    queue, out = deque(sid for sid in ids if indegree[sid] == 0), []
    while queue:
        sid = queue.popleft()
        out.append(sid)
        for user in users[sid]:
            indegree[user] -= 1
            if indegree[user] == 0:
                queue.append(user)
    if len(out) != len(ids):
        stuck = [sid for sid in ids if indegree[sid] > 0]
        raise bad(f"{formula.source}: step {stuck[0]}", f"`needs` cycle among {', '.join(stuck)}", ErrorCode.CONFLICT)
    return out


def check(formula: Formula, personas: Iterable[str] | None = None) -> list[str]:
    """Everything that can be checked without values for the vars: ids, needs, cycles,
    placeholders that name no var, personas that do not exist. Returns the step order."""
    steps_order = order(formula)
    known = set(formula.vars) | {"rig"}
    names = set(personas) if personas is not None else None
    for s in formula.steps:
        for text in (s.title, s.description, s.acceptance, s.run or ""):
            for var in VAR_RE.findall(text):
                if var not in known:
                    raise bad(f"{formula.source}: step {s.id}", f"uses {{{{{var}}}}}, which is not a declared var")
        if s.persona and names is not None and s.persona not in names:
            raise bad(f"{formula.source}: step {s.id}", f"unknown persona '{s.persona}'")
    return steps_order


def bind(formula: Formula, given: dict[str, str], rig: str) -> dict[str, str]:
    """The var values for one pour: given, else default; unknown and missing ones are refused."""
    for name in given:
        if name not in formula.vars:
            declared = ", ".join(sorted(formula.vars)) or "none"
            raise bad(formula.source, f"unknown var '{name}' (declared: {declared})")
    values = {"rig": rig}
    for name, var in formula.vars.items():
        if name in given:
            values[name] = given[name]
        elif var.default is not None:
            values[name] = var.default
        elif var.required:
            raise bad(formula.source, f"missing required var '{name}' (--var {name}=...)")
        else:
            values[name] = ""
    return values


def render(text: str, values: dict[str, str]) -> str:
    return VAR_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def rendered(formula: Formula, values: dict[str, str]) -> list[Step]:
    """The steps in dependency order with every placeholder filled."""
    out = []
    for sid in order(formula):
        s = formula.step(sid)
        out.append(replace(s, title=render(s.title, values)[:500] or s.id, description=render(s.description, values),
                           acceptance=render(s.acceptance, values),
                           run=render(s.run, values) if s.run is not None else None))
    return out


# --------------------------------------------------------------------- overlays
def apply_patches(base: Formula, overlay: Formula) -> Formula:
    """The base with the overlay's patches (replace/append/skip by step id) and its vars
    and description on top. Skipping a step hands its `needs` to the steps that needed it."""
    steps = list(base.steps)
    for i, p in enumerate(overlay.patches):
        op, sid = p.get("op"), p.get("step")
        where = f"{overlay.source}: patch {i + 1}" + (f" (step {sid})" if sid else "")
        if op not in PATCH_OPS:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: op must be replace, append or skip")
        if not isinstance(sid, str):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: needs `step = \"ID\"`")
        ids = [s.id for s in steps]
        fields = {k: v for k, v in p.items() if k not in ("op", "step", "after")}
        if op == "skip":
            if sid not in ids:
                raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: no step '{sid}' in {base.name} to skip")
            gone = steps.pop(ids.index(sid))
            steps = [replace(s, needs=_without(s.needs, sid, gone.needs)) for s in steps]
        elif op == "replace":
            if sid not in ids:
                raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: no step '{sid}' in {base.name} to replace")
            old = steps[ids.index(sid)]
            merged = {**_as_raw(old), **fields, "id": sid}
            steps[ids.index(sid)] = _step(merged, overlay.source, ids.index(sid))
        else:
            if sid in ids:
                raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: step '{sid}' already exists in {base.name}")
            after = p.get("after")
            new = _step({**fields, "id": sid}, overlay.source, len(steps))
            if after is not None and after not in ids:
                raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: `after` names no step '{after}'")
            at = ids.index(after) + 1 if after is not None else len(steps)
            steps.insert(at, new)
    return Formula(name=overlay.name, description=overlay.description or base.description, type=base.type,
                   vars={**base.vars, **overlay.vars}, steps=tuple(steps), source=overlay.source)


def _without(needs: tuple[str, ...], sid: str, inherited: tuple[str, ...]) -> tuple[str, ...]:
    if sid not in needs:
        return needs
    out = [n for n in needs if n != sid]
    return tuple(dict.fromkeys([*out, *inherited]))


def _as_raw(s: Step) -> dict[str, Any]:
    raw: dict[str, Any] = {"id": s.id, "title": s.title, "description": s.description, "needs": list(s.needs),
                           "approval": s.approval, "acceptance": s.acceptance, "script": list(s.script),
                           "timeout": s.timeout}
    if s.persona:
        raw["persona"] = s.persona
    if s.run is not None:
        raw["run"] = s.run
    return raw


# ------------------------------------------------------------------- resolution
Layer = tuple[str, Callable[[], dict[str, str]]]
"""(label, loader): the loader returns {name: file text} for one layer (rig, town, built-in)."""


def builtin_texts() -> dict[str, str]:
    root = resources.files("gastown.formulas")
    return {p.name[:-5]: p.read_text() for p in root.iterdir() if p.name.endswith(".toml")}


def resolve(name: str, layers: list[Layer]) -> Formula:
    """The named formula from the first layer that has it, with overlays applied down the
    chain (an `extends` of its own name patches the next layer down)."""
    texts = [(label, loader()) for label, loader in layers]
    return _resolve(name, texts, 0, depth=0)


def _resolve(name: str, texts: list[tuple[str, dict[str, str]]], start: int, depth: int) -> Formula:
    if depth > 8:
        raise RpcError(ErrorCode.CONFLICT, f"formula {name}: `extends` chain is too long (a loop?)")
    for i in range(start, len(texts)):
        label, files = texts[i]
        if name in files:
            f = parse(files[name], f"{label} formula {name}")
            if f.extends is None:
                return f
            base = _resolve(f.extends, texts, i + 1 if f.extends == name else 0, depth + 1)
            return apply_patches(base, f)
    raise RpcError(ErrorCode.NOT_FOUND, f"no formula '{name}' (try `gt formula list`)")


def available(layers: list[Layer]) -> list[dict[str, Any]]:
    """Every formula name with the layer it resolves from, its type and description."""
    texts = [(label, loader()) for label, loader in layers]
    out: dict[str, dict[str, Any]] = {}
    for label, files in texts:
        for name in sorted(files):
            if name in out:
                continue
            try:
                f = _resolve(name, texts, 0, 0)
                out[name] = {"id": name, "name": name, "source": label, "type": f.type, "steps": len(f.steps),
                             "description": f.description, "status": "ok"}
            except RpcError as exc:
                out[name] = {"id": name, "name": name, "source": label, "type": "?", "steps": 0,
                             "description": "", "status": "error", "error": exc.message}
    return sorted(out.values(), key=lambda r: r["name"])


def to_dict(f: Formula) -> dict[str, Any]:
    return {"id": f.name, "name": f.name, "description": f.description, "type": f.type, "source": f.source,
            "vars": {n: {"description": v.description, "required": v.required, "default": v.default}
                     for n, v in f.vars.items()},
            "steps": [{**_as_raw(s), "kind": s.kind} for s in f.steps]}

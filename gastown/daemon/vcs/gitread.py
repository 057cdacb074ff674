"""In-process git reads with dulwich: revisions, merge bases and commit lists, no git process.

Why: a bead view (`gt bead diff`, the dashboard's drawer, convoy sums) used to spawn git five
to eight times (rev-parse, merge-base, log, diff x3). The object reads here are a few
dictionary look-ups in the pack index, and the answer must be exactly what `git log` said,
so every rule below is git's own:

  - names resolve like `git rev-parse` (a full sha, then `X`, `refs/X`, `refs/tags/X`,
    `refs/heads/X`, `refs/remotes/X`, `refs/remotes/X/HEAD`);
  - a merge base is used only when it is the single best one (criss-cross histories have
    several and git picks among them by rules of its own);
  - a commit list containing a merge commit, where the order of same-second commits is git's
    own walk, is not produced here;
  - subjects, ISO dates, identities and `%(trailers:only,unfold)` follow pretty.c/trailer.c.

Anything outside those rules raises `Unreadable` and the caller asks git (same answer, just
slower). The unified diff and its stat stay with git (see edge/diffs.py for why).

Safety: dulwich runs no hooks, filters, diff drivers or any other program; opening a repository
reads its config only for the format version and extensions, so keys an agent planted there
are never executed (tests/test_gitread.py plants them and checks).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from dulwich.errors import NotGitRepository
from dulwich.graph import find_merge_base
from dulwich.objects import Commit, ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo

_SHA = re.compile(r"^[0-9a-f]{40}$")
_REF_RULES = ("{}", "refs/{}", "refs/tags/{}", "refs/heads/{}", "refs/remotes/{}", "refs/remotes/{}/HEAD")
_GIT_GENERATED = ("Signed-off-by: ", "(cherry picked from commit ")


class Unreadable(Exception):
    """This read is not one dulwich answers exactly like git: ask git instead."""


def open_repo(path: Path | str) -> Repo:
    """The repository, unless git would see its history differently: replace refs (which an
    agent can create from its worktree, the refs are shared) rewrite what `git log` shows."""
    try:
        repo = Repo(str(path))
    except (NotGitRepository, OSError, ValueError) as exc:
        raise Unreadable(f"not readable in process: {exc}") from exc
    if repo.refs.keys(base=Ref(b"refs/replace/")):
        repo.close()
        raise Unreadable("replace refs")
    return repo


def commit(repo: Repo, rev: str) -> Commit:
    """The commit `rev` names (like `git rev-parse --verify rev^{commit}` for plain names)."""
    obj: Any = None
    if _SHA.match(rev):
        sha = ObjectID(rev.encode())
        obj = repo.object_store[sha] if sha in repo.object_store else None
    else:
        for rule in _REF_RULES:
            name = Ref(rule.format(rev).encode())
            try:
                obj = repo[repo.refs[name]]
                break
            except KeyError:
                continue
    if not isinstance(obj, Commit):
        raise Unreadable(f"{rev} does not name a commit here")
    return obj


def merge_base(repo: Repo, a: Commit, b: Commit) -> str:
    bases = find_merge_base(repo, [a.id, b.id])
    if len(bases) != 1:
        raise Unreadable(f"{len(bases)} merge bases")
    return str(bases[0].decode())


def log(repo: Repo, exclude: str, include: str, n: int) -> list[dict[str, Any]]:
    """`git.log(repo, f"{exclude}..{include}", n)` read in process (same entries, same order)."""
    walker = repo.get_walker(include=[ObjectID(include.encode())], exclude=[ObjectID(exclude.encode())],
                             max_entries=int(n))
    commits = [entry.commit for entry in walker]
    if any(len(c.parents) > 1 for c in commits):
        raise Unreadable("the range holds a merge commit")
    return [entry(c) for c in commits]


def entry(c: Commit) -> dict[str, Any]:
    """One commit as `git.log` renders it (`%H %an %ae %aI %cn %ce %cI %s` and trailers)."""
    if c.encoding not in (None, b"UTF-8", b"utf-8", b"utf8"):
        raise Unreadable(f"commit encoding {c.encoding!r}")
    an, ae = _ident(c.author)
    cn, ce = _ident(c.committer)
    message = c.message.decode("utf-8", "replace")
    result: dict[str, Any] = {
        "sha": c.id.decode(), "author_name": an, "author_email": ae,
        "author_date": _iso(c.author_time, c.author_timezone, c._author_timezone_neg_utc),
        "committer_name": cn, "committer_email": ce,
        "committer_date": _iso(c.commit_time, c.commit_timezone, c._commit_timezone_neg_utc),
        "subject": subject(message), "trailers": trailers(message),
    }
    result["author"] = f"{an} <{ae}>"
    result["committer"] = f"{cn} <{ce}>"
    return result


def _ident(raw: bytes) -> tuple[str, str]:
    text = raw.decode("utf-8", "replace")
    name, sep, rest = text.partition("<")
    email, close, _ = rest.partition(">")
    if not sep or not close:
        raise Unreadable(f"unusual identity {text!r}")
    return name.strip(), email.strip()


def _iso(when: int, offset: int, neg_utc: bool | None) -> str:
    if neg_utc:
        raise Unreadable("-0000 timezone")
    return datetime.fromtimestamp(when, timezone(timedelta(seconds=offset))).isoformat()


def subject(message: str) -> str:
    """git's `%s`: the first paragraph, its lines right-stripped and joined by spaces."""
    lines = message.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    out = []
    for line in lines:
        if not line.strip():
            break
        out.append(line.rstrip())
    return " ".join(out)


def _separator_at(line: str) -> int:
    """trailer.c find_separator for ':' (a token of alnum and '-', then optional blanks)."""
    spaced = False
    for i, ch in enumerate(line):
        if ch == ":":
            return i
        if not spaced and (ch.isascii() and ch.isalnum() or ch == "-"):
            continue
        if i and ch in " \t":
            spaced = True
            continue
        break
    return -1


def trailers(message: str) -> dict[str, str]:
    """`%(trailers:only,unfold)` as `git.log` parses it (repeated keys joined with ", ")."""
    lines = message.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if any(ln.startswith("#") for ln in lines) or any(ln.startswith("Conflicts:") for ln in lines):
        raise Unreadable("comment or conflict lines")  # git ignores those blocks: not modelled
    # the subject paragraph is never trailers
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    while start < len(lines) and lines[start].strip():
        start += 1
    end = len(lines)
    while end > start and not lines[end - 1].strip():
        end -= 1
    block = _block_start(lines, start, end)
    if block is None:
        return {}
    result: dict[str, str] = {}
    current: list[str] | None = None
    items: list[list[str]] = []
    for line in lines[block:end]:
        if line[:1] in (" ", "\t") and current is not None:
            current[1] += " " + line.strip()
            continue
        sep = _separator_at(line)
        if sep <= 0:
            current = None
            continue
        current = [line[:sep].strip(), line[sep + 1:].strip()]
        items.append(current)
    for key, value in items:
        value = value.strip()
        result[key] = f"{result[key]}, {value}" if key in result else value
    return result


def _block_start(lines: list[str], start: int, end: int) -> int | None:
    """trailer.c find_trailer_block_start: the last paragraph if it is mostly trailers."""
    trailer_lines = non_trailer = continuation = 0
    recognized = False
    only_spaces = True
    for k in range(end - 1, start - 1, -1):
        line = lines[k]
        if not line.strip():
            if only_spaces:
                continue
            non_trailer += continuation
            if (recognized and trailer_lines * 3 >= non_trailer) or (trailer_lines and not non_trailer):
                return k + 1
            return None
        only_spaces = False
        if line[:1] in (" ", "\t"):
            continuation += 1
            continue
        if any(line.startswith(p) for p in _GIT_GENERATED):
            trailer_lines += 1
            continuation = 0
            recognized = True
            continue
        if _separator_at(line) >= 1:
            trailer_lines += 1
            continuation = 0
            continue
        non_trailer += 1 + continuation
        continuation = 0
    return None

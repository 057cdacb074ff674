"""The follow-up beads a pull request calls for, and the words the polecat reads in them:
review feedback (the comments, each with the thread to answer) and conflicts with the target
(which files, and how to bring the target in)."""

from __future__ import annotations

from typing import Any

from gastown import forge as fg


def bring_in_target(target: str, files: list[str]) -> str:
    """How to resolve a conflict with the target on your own branch (direct merges and PRs)."""
    where = f" in {', '.join(files)}" if files else ""
    return (f"Your branch conflicts with `{target}`{where}. Bring the target in and resolve it on your branch:\n"
            f"1. `git fetch origin` (the refinery fetched already; harmless to repeat)\n"
            f"2. `git merge origin/{target}` — git stops on the conflicting files\n"
            f"3. edit each conflicting file: keep both sides' intent, remove every `<<<<<<<`, `=======`, "
            f"`>>>>>>>` line\n"
            f"4. run the tests, then `git add -A && git commit --no-edit`\n"
            f"5. `gt done`. Do not rebase or force anything; never rewrite `{target}`.")


def conflict(mr: dict[str, Any], pr: fg.PullRequest, files: list[str]) -> dict[str, Any]:
    target = mr["target_branch"]
    body = (f"Pull request {pr.url} (#{pr.number}) from your branch `{mr['branch']}` can no longer merge "
            f"into `{target}`: the target moved.\n\n{bring_in_target(target, files)}\n"
            f"`gt done` pushes the branch; the pull request updates itself.")
    return {"kind": "pr_conflict", "title": f"resolve the conflict of PR #{pr.number} with {target}"[:200],
            "body": body, "extra": {"files": files, "head": pr.head_sha}, "seen": [],
            "mr_patch": {"conflict_head": pr.head_sha}}


def feedback(mr: dict[str, Any], pr: fg.PullRequest, reviews: list[fg.Review],
             comments: list[fg.Comment]) -> dict[str, Any]:
    lines = [f"Reviewers answered pull request {pr.url} (#{pr.number}) from your branch `{mr['branch']}`.",
             "Address what they asked with follow-up commits on this same branch (you are on it).",
             "Reply to each thread you addressed: `gt pr reply THREAD \"what you changed\"` (THREAD is the",
             "number in brackets). Then `gt done`: it pushes the branch and the pull request updates itself.", ""]
    for review in reviews:
        lines.append(f"- review by {review.author} (changes requested): {review.body or '(no text)'}")
    for c in comments:
        where = f" on {c.path}" + (f":{c.line}" if c.line else "") if c.path else ""
        lines.append(f"- [{c.thread}] {c.author}{where}: {c.body}")
    return {"kind": "pr_feedback", "title": f"answer the review of PR #{pr.number}"[:200], "body": "\n".join(lines),
            "extra": {"comments": [c.as_dict() for c in comments],
                      "reviews": [{"id": r.id, "author": r.author, "body": r.body} for r in reviews]},
            "seen": [f"review:{r.id}" for r in reviews] + [f"comment:{c.id}" for c in comments], "mr_patch": {}}

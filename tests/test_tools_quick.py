"""The agent tools' argparse-free reading of common calls agrees with argparse, or steps aside."""

from __future__ import annotations

import pytest

from gastown.cli import tools

DONE_ARGS = [[], ["--json"], ["--summary", "did it"], ["--summary=did it"], ["--summary", ""], ["--status", "no-change"],
             ["--status=deferred", "--summary", "x", "--json"], ["--summary", "a", "--summary", "b"],
             ["--status", "bogus"], ["--sum", "x"], ["--summary"], ["--summary", "-x"], ["extra"], ["--help"],
             ["--json=1"], ["--status", "escalated", "--summary=why: it is=odd"]]


@pytest.mark.parametrize("args", DONE_ARGS)
def test_done_quick_reading_matches_argparse(args: list[str]) -> None:
    quick = tools._quick(args, {**tools.JSON, "--summary": "", "--status": "done"}, {"--status": tools.DONE_STATUSES})
    try:
        full = vars(tools._done_parser(args))
    except SystemExit:  # argparse refuses it (or prints help): the quick reading must step aside
        assert quick is None
        return
    assert quick is None or vars(quick) == full


@pytest.mark.parametrize("args", [[], ["--json"], ["--js"], ["x"], ["--json", "--json"]])
def test_prime_quick_reading_matches_argparse(args: list[str]) -> None:
    quick = tools._quick(args, tools.JSON)
    try:
        full = vars(tools._parser("prime", "").parse_args(args))
    except SystemExit:
        assert quick is None
        return
    assert quick is None or vars(quick) == full


@pytest.mark.parametrize("args", [["running tests"], [], ["a", "b"], ["--town", "t"], ["--town=t", "msg", "--json"],
                                  ["-x"], [""]])
def test_status_quick_reading(args: list[str]) -> None:
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--json", action="store_true")
    p.add_argument("message", nargs="?")
    p.add_argument("--town")
    quick = tools._quick(args, {**tools.JSON, "--town": None}, positional="message")
    try:
        full = vars(p.parse_args(args))
    except SystemExit:
        assert quick is None
        return
    assert quick is None or vars(quick) == full


def test_the_common_calls_skip_argparse() -> None:
    spec = {**tools.JSON, "--summary": "", "--status": "done"}
    assert vars(tools._quick(["--summary", "did it"], spec, {"--status": tools.DONE_STATUSES})) == \
        {"json": False, "summary": "did it", "status": "done"}
    assert tools._quick(["running the tests"], {**tools.JSON, "--town": None}, positional="message").message == \
        "running the tests"
    assert vars(tools._quick([], tools.JSON)) == {"json": False}


@pytest.mark.parametrize("name", ["prime", "done", "status", "escalate", "review", "triage", "step", "pr"])
def test_every_tool_answers_help_without_the_daemon(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each agent tool builds its parser when asked (argparse is imported lazily on the fast
    path): `--help` prints usage and exits 0 instead of failing with a NameError."""
    from gastown.cli import tools

    with pytest.raises(SystemExit) as exc:
        tools.run(name, ["--help"])
    assert exc.value.code == 0 and f"gt {name}" in capsys.readouterr().out

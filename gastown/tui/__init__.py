"""The Textual dashboard behind `gt tui`.

Only `gastown.cli.tui` imports this package (inside the command), so the core and the
agents' tool path never load textual. `state` and `remote` are plain Python (no textual)
and hold everything that can be tested without a terminal.
"""

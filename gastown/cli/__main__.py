"""`python -m gastown.cli` runs `gt`."""

from gastown.cli.entry import main

main()

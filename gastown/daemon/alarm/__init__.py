"""The per-town alarm loop and its side effects: turns, the merge queue, the witness's I/O half, spending, alerts, issue sync, the Mayor's notices, molecule steps."""

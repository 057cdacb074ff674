"""The pure rules: scheduling (reconciler), health (patrol), budgets and the retry ladder. A snapshot and `now` in, actions out; no store, loop, runtime or I/O."""

"""The town as the daemon holds it: the registry (store, writer thread, settings), settings files, the environment of everything it runs, private files, crash points."""

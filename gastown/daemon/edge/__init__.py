"""The daemon's edge: the socket server, the RPC registry, event fan-out, connection limits, and the read views the handlers (`gastown.daemon.api`) compose."""

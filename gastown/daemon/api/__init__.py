"""RPC handlers, one module per noun. Importing this package registers them all."""

from gastown.daemon.api import bead, events, rig, system, town  # noqa: F401

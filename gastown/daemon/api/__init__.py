"""RPC handlers, one module per noun. Importing this package registers them all."""

from gastown.daemon.api import agent, bead, comms, convoy, events, formula, mayor, rig, system, town, work  # noqa: F401
from gastown.daemon.api import forge  # noqa: F401,E402
from gastown.daemon.api import steer  # noqa: F401,E402
from gastown.daemon.api import transcript  # noqa: F401,E402
from gastown.daemon.api import feed  # noqa: F401,E402
from gastown.daemon.api import ledger  # noqa: F401
from gastown.daemon.api import notices  # noqa: F401,E402
from gastown.daemon.api import interop  # noqa: F401,E402
from gastown.daemon.api import archive  # noqa: F401,E402
from gastown.daemon.api import doctor  # noqa: F401,E402

"""kilo (`@kilocode/cli`, an opencode fork): the opencode recipe with KILO_ variable names.

Extra: telemetry off (otherwise PostHog network errors and a ~1 s shutdown timeout at exit),
no session ingest, no sharing.
"""

from __future__ import annotations

from gastown.daemon.adapters.base import TurnContext
from gastown.daemon.adapters.opencode import OpencodeAdapter


class KiloAdapter(OpencodeAdapter):
    name = "kilo"
    binary = "kilo"
    package = "@kilocode/cli@7.7.7"
    env_prefix = "KILO"

    def env(self, ctx: TurnContext) -> dict[str, str | None]:
        return {**super().env(ctx), "KILO_TELEMETRY_LEVEL": "off", "KILO_DISABLE_SESSION_INGEST": "1",
                "KILO_DISABLE_SHARE": "1"}

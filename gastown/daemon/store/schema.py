"""The town store's schema, as ordered migrations keyed by `PRAGMA user_version`.

Each step runs inside one transaction. A file whose version is newer than the code is
refused rather than guessed at. Every migration is frozen text, exactly what shipped: the
CHECK lists spell out the enums of `gastown.model` as they were, and a test fails when an enum
and the schema disagree, so a new status arrives with a migration instead of silently
changing an old one.
"""

from __future__ import annotations

APPLICATION_ID = 0x67746F77  # "gtow"


V1 = """
CREATE TABLE rigs (
    name            TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 40),
    source          TEXT NOT NULL,
    default_branch  TEXT NOT NULL,
    repo_path       TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;

CREATE TABLE beads (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL CHECK (type IN ('issue', 'message', 'merge_request', 'convoy', 'escalation', 'molecule', 'agent')),
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'in_review', 'closed', 'failed')),
    title           TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    body            TEXT NOT NULL DEFAULT '',
    rig             TEXT,
    parent          TEXT REFERENCES beads(id) ON DELETE SET NULL,
    assignee        TEXT,
    priority        INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),
    metadata        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_by      TEXT,
    requested_by    TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    closed_at       TEXT,
    close_reason    TEXT,
    failure_reason  TEXT CHECK (failure_reason IS NULL OR json_valid(failure_reason)),
    dispatch_attempts INTEGER NOT NULL DEFAULT 0,
    last_dispatch_at  TEXT,
    CHECK ((closed_at IS NOT NULL) = (status IN ('closed', 'failed')))
) STRICT;
CREATE INDEX beads_ready ON beads(type, status, priority, created_at);
CREATE INDEX beads_parent ON beads(parent) WHERE parent IS NOT NULL;
CREATE INDEX beads_rig_status ON beads(rig, status);
CREATE INDEX beads_assignee ON beads(assignee) WHERE assignee IS NOT NULL;

CREATE TABLE bead_labels (
    bead_id TEXT NOT NULL REFERENCES beads(id) ON DELETE CASCADE,
    label   TEXT NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    PRIMARY KEY (bead_id, label)
) STRICT, WITHOUT ROWID;
CREATE INDEX bead_labels_label ON bead_labels(label, bead_id);

CREATE TABLE bead_dependencies (
    bead_id     TEXT NOT NULL REFERENCES beads(id) ON DELETE CASCADE,
    depends_on  TEXT NOT NULL REFERENCES beads(id) ON DELETE CASCADE,
    type        TEXT NOT NULL CHECK (type IN ('blocks', 'parent-child', 'tracks')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (bead_id, depends_on),
    CHECK (bead_id != depends_on)
) STRICT, WITHOUT ROWID;
CREATE INDEX bead_dependencies_target ON bead_dependencies(depends_on, type, bead_id);

CREATE TABLE bead_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    bead_id     TEXT,
    event_type  TEXT NOT NULL,
    actor       TEXT,
    old_value   TEXT,
    new_value   TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX bead_events_bead ON bead_events(bead_id, seq);

CREATE TABLE town_events (
    event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type   TEXT NOT NULL,
    agent_id     TEXT,
    bead_id      TEXT,
    payload      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    created_at   TEXT NOT NULL,
    processed_at TEXT
) STRICT;
CREATE INDEX town_events_pending ON town_events(event_id) WHERE processed_at IS NULL;

CREATE TABLE agents (
    bead_id         TEXT PRIMARY KEY REFERENCES beads(id) ON DELETE CASCADE,
    name            TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('mayor', 'polecat', 'refinery', 'triage')),
    rig             TEXT,
    adapter         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'idle' CHECK (status IN ('starting', 'working', 'idle', 'stalled', 'failed', 'quarantined', 'stopped')),
    hook_bead_id    TEXT REFERENCES beads(id) ON DELETE SET NULL,
    worktree        TEXT,
    branch          TEXT,
    session_id      TEXT,
    session_bead_id TEXT,  -- the bead the native session worked on (resume only for that bead)
    token_hash      TEXT,
    status_message  TEXT,
    status_at       TEXT,
    last_activity_at TEXT,
    last_bead_id    TEXT,
    turn_dir        TEXT,
    turn_started_at TEXT,
    turn_ended_at   TEXT,
    turns           INTEGER NOT NULL DEFAULT 0,
    restarts        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(restarts)),
    tokens_in       INTEGER NOT NULL DEFAULT 0,
    tokens_out      INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX agents_rig ON agents(rig, role, status);
CREATE UNIQUE INDEX agents_hook ON agents(hook_bead_id) WHERE hook_bead_id IS NOT NULL;

CREATE TABLE merge_requests (
    bead_id        TEXT PRIMARY KEY REFERENCES beads(id) ON DELETE CASCADE,
    source_bead_id TEXT NOT NULL REFERENCES beads(id) ON DELETE CASCADE,
    rig            TEXT NOT NULL,
    branch         TEXT NOT NULL,
    target_branch  TEXT NOT NULL,
    head_sha       TEXT NOT NULL,
    merge_commit   TEXT,
    pr_url         TEXT,
    retry_count    INTEGER NOT NULL DEFAULT 0,
    gates          TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(gates))
) STRICT;
CREATE INDEX merge_requests_source ON merge_requests(source_bead_id);

CREATE TABLE convoys (
    bead_id      TEXT PRIMARY KEY REFERENCES beads(id) ON DELETE CASCADE,
    staged       INTEGER NOT NULL DEFAULT 0 CHECK (staged IN (0, 1)),
    merge_mode   TEXT NOT NULL DEFAULT 'review-and-merge',
    total_beads  INTEGER NOT NULL DEFAULT 0,
    closed_beads INTEGER NOT NULL DEFAULT 0,
    landed_at    TEXT
) STRICT;

CREATE TABLE agent_nudges (
    nudge_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    agent        TEXT NOT NULL,
    message      TEXT NOT NULL,
    mode         TEXT NOT NULL CHECK (mode IN ('immediate', 'wait-idle', 'queue')),
    source       TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    delivered_at TEXT,
    expired_at   TEXT
) STRICT;
CREATE INDEX agent_nudges_pending ON agent_nudges(agent, nudge_id) WHERE delivered_at IS NULL AND expired_at IS NULL;

CREATE TABLE patrol_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL CHECK (json_valid(value))
) STRICT;

CREATE TABLE escalations (
    bead_id            TEXT PRIMARY KEY REFERENCES beads(id) ON DELETE CASCADE,
    severity           TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    category           TEXT,
    acknowledged       INTEGER NOT NULL DEFAULT 0 CHECK (acknowledged IN (0, 1)),
    reescalation_count INTEGER NOT NULL DEFAULT 0,
    acknowledged_at    TEXT,
    acknowledged_by    TEXT,
    last_routed_at     TEXT
) STRICT;
"""

V2_LEDGER = """
CREATE TABLE turn_usage (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at    TEXT,
    ended_at      TEXT NOT NULL,
    day           TEXT NOT NULL,
    agent         TEXT NOT NULL,
    role          TEXT NOT NULL,
    rig           TEXT,
    bead_id       TEXT,
    convoy        TEXT,
    requested_by  TEXT,
    adapter       TEXT NOT NULL DEFAULT '',
    model         TEXT NOT NULL DEFAULT '',
    persona       TEXT,
    tokens_in     INTEGER NOT NULL DEFAULT 0,
    tokens_out    INTEGER NOT NULL DEFAULT 0,
    tokens_cached INTEGER NOT NULL DEFAULT 0,
    exit_code     INTEGER
) STRICT;
CREATE INDEX turn_usage_ended ON turn_usage(ended_at);
CREATE INDEX turn_usage_bead ON turn_usage(bead_id, seq);

INSERT INTO turn_usage(started_at, ended_at, day, agent, role, rig, bead_id, convoy, requested_by, adapter,
                       tokens_in, tokens_out, exit_code)
SELECT NULL, e.created_at, substr(e.created_at, 1, 10), coalesce(json_extract(e.metadata, '$.agent'), ''),
       coalesce(a.role, 'polecat'), coalesce(b.rig, a.rig), json_extract(e.metadata, '$.bead'),
       json_extract(b.metadata, '$.convoy'), b.requested_by, coalesce(a.adapter, ''),
       coalesce(json_extract(e.metadata, '$.tokens_in'), 0), coalesce(json_extract(e.metadata, '$.tokens_out'), 0),
       CAST(e.new_value AS INTEGER)
FROM bead_events e
LEFT JOIN agents a ON a.name = json_extract(e.metadata, '$.agent')
LEFT JOIN beads b ON b.id = json_extract(e.metadata, '$.bead')
WHERE e.event_type = 'turn_exited' ORDER BY e.seq;

CREATE TABLE budgets (
    scope        TEXT NOT NULL CHECK (scope IN ('town', 'rig', 'convoy', 'bead', 'human')),
    key          TEXT NOT NULL,
    tokens       INTEGER CHECK (tokens IS NULL OR tokens > 0),
    dollars      REAL CHECK (dollars IS NULL OR dollars > 0),
    state        TEXT NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'warning', 'exhausted')),
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key),
    CHECK (tokens IS NOT NULL OR dollars IS NOT NULL)
) STRICT;

CREATE TABLE stats_samples (
    at           TEXT PRIMARY KEY,
    ready        INTEGER NOT NULL,
    queued_mrs   INTEGER NOT NULL,
    working      INTEGER NOT NULL,
    polecats     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
"""
"""Turn usage as its own table (costs and gauges over 100k turns need an index, not a scan of
events), budgets with their last notified state, and sampled gauges with bounded retention."""


V3_ARCHIVE = """
ALTER TABLE beads ADD COLUMN archived_at TEXT;
CREATE INDEX beads_live ON beads(type, status, created_at, id) WHERE archived_at IS NULL;
"""
"""Archival: an archived bead keeps every row but leaves the board and default lists; the
partial index keeps those lists (and the dashboard's first paint) fast on years of history."""

MIGRATIONS: list[str] = [V1, V2_LEDGER, V3_ARCHIVE]
"""MIGRATIONS[i] takes the file from user_version i to i + 1. Append; never edit."""

LATEST = len(MIGRATIONS)

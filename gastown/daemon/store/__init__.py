"""The town store: all persistent state of one town, in `town.db`.

One module per noun, each a set of functions over `Db` (the connection); `Store` below is
the one place they are put together, so `store.bead_create(...)` is `beads.bead_create(store,
...)`. There is no class hierarchy: a noun module calls another noun's function directly,
and the imports between them form a graph without cycles, roughly bottom-up: `db`; `rigs`,
`links`, `hooks`, `state`, `inbox`; `beads`; `statuses`, `agents`, `deps`, `events`; `comms`,
`convoys`, `mayor`; `escalations`; `merges`; `review`; `turns`; `health`, `holds`;
`molecules` (tests/test_store_layout.py keeps it acyclic).

Every public method is one short named transaction (BEGIN IMMEDIATE) and is synchronous,
so it can be unit-tested without asyncio; the daemon runs them on the town's executor.
Every bead status change goes through `statuses.set_status` and every agent status change
through `agents.set_agent_status`, each of which also writes the event: there is no side
path that changes a status without the audit log (cloud #962). What an agent has on its
hook changes only through `hooks.hook`/`hooks.unhook`, which write `hooked`/`unhooked`.

A new store method: put the function in the module of its noun (or a new module for a new
noun), taking `db: Db` first, and list it here under that noun. Modules over the store that
callers use as functions (`holds`, `ledger`, `prstore`, `finish`, `turnlog`, `archive`,
`interop`) are called as `holds.hold(store, ...)` and are not listed.
"""

from __future__ import annotations

from gastown.daemon.store import (agents, beads, comms, convoys, costs, deps, escalations, events, health, inbox,
                                  issues, mayor, merges, molecules, review, rigs, state, statuses, turns)
from gastown.daemon.store.beads import MAX_BODY, MAX_FILTER
from gastown.daemon.store.db import Clock, Db, Row, iso, not_found, utcnow

__all__ = ["Clock", "Db", "MAX_BODY", "MAX_FILTER", "Row", "Store", "iso", "not_found", "utcnow"]


class Store(Db):
    """All persistent state of one town: the connection plus every noun's verbs."""

    # rigs
    rig_add = rigs.rig_add
    rig_get = rigs.rig_get
    rig_list = rigs.rig_list
    rig_remove = rigs.rig_remove
    rig_bead_counts = rigs.rig_bead_counts
    # beads
    resolve = beads.resolve
    bead_create = beads.bead_create
    bead_count = beads.bead_count
    note_created = beads.note_created
    bead_exists = beads.bead_exists
    add_label = beads.add_label
    bead_row = beads.bead_row
    bead_get = beads.bead_get
    bead_list = beads.bead_list
    bead_update = beads.bead_update
    # statuses
    set_status = statuses.set_status
    transition = statuses.transition
    bead_close = statuses.bead_close
    bead_fail = statuses.bead_fail
    bead_reopen = statuses.bead_reopen
    # dependencies and the ready rule
    dep_add = deps.dep_add
    dep_remove = deps.dep_remove
    ready = deps.ready
    ready_explain = deps.ready_explain
    convoy_predecessors = deps.convoy_predecessors
    # events
    events_since = events.events_since
    bead_events = events.bead_events
    counts = events.counts
    feed = events.feed
    newest_seq = events.newest_seq
    troubles_since = events.troubles_since
    outcomes_since = events.outcomes_since
    town_event = events.town_event
    # agents
    agent_row = agents.agent_row
    agent_exists = agents.agent_exists
    agent_get = agents.agent_get
    agent_list = agents.agent_list
    agent_by_token = agents.agent_by_token
    token_live = agents.token_live
    agent_on = agents.agent_on
    agent_create = agents.agent_create
    agent_set_adapter = agents.agent_set_adapter
    agent_status_message = agents.agent_status_message
    # turns
    dispatch_begin = turns.dispatch_begin
    turn_started = turns.turn_started
    dispatch_failed = turns.dispatch_failed
    fail_bead = turns.fail_bead
    turn_exited = turns.turn_exited
    status_from_output = turns.status_from_output
    agent_stop = turns.agent_stop
    agent_reset = turns.agent_reset
    # merge requests and review
    agent_done = merges.agent_done
    merge_requests = merges.merge_requests
    mr_get = merges.mr_get
    mr_begin = merges.mr_begin
    mr_merged = merges.mr_merged
    rework_rounds = merges.rework_rounds
    mr_failed = merges.mr_failed
    mr_requeue = merges.mr_requeue
    mr_set_pr = merges.mr_set_pr
    mq_retry = merges.mq_retry
    latest_mr_of = merges.latest_mr_of
    review_agent = review.review_agent
    review_begin = review.review_begin
    review_verdict = review.review_verdict
    # the reconciler's inbox
    inbox_add = inbox.inbox_add
    inbox_pending = inbox.inbox_pending
    inbox_done = inbox.inbox_done
    # mail and nudges
    resolve_recipients = comms.resolve_recipients
    mail_send = comms.mail_send
    mail_inbox = comms.mail_inbox
    mail_read = comms.mail_read
    nudge = comms.nudge
    nudge_get = comms.nudge_get
    pending_nudges = comms.pending_nudges
    expire_nudges = comms.expire_nudges
    deliverables = comms.deliverables
    mark_delivered = comms.mark_delivered
    # escalations
    escalation_create = escalations.escalation_create
    escalation_get = escalations.escalation_get
    escalation_list = escalations.escalation_list
    escalation_ack = escalations.escalation_ack
    escalations_about_beads = escalations.escalations_about_beads
    escalation_resolve = escalations.escalation_resolve
    reescalate = escalations.reescalate
    escalations_to_notify = escalations.escalations_to_notify
    # the patrol's state and verbs
    patrol_get = state.patrol_get
    patrol_set = state.patrol_set
    patrol_delete = state.patrol_delete
    patrol_keys = state.patrol_keys
    agent_quarantine = health.agent_quarantine
    zombie_clear = health.zombie_clear
    report_stranded = health.report_stranded
    nudge_turn_begin = health.nudge_turn_begin
    container_died = health.container_died
    triage_begin = health.triage_begin
    triage_verdict = health.triage_verdict
    triage_abandon = health.triage_abandon
    gupp_defer = health.gupp_defer
    # convoys
    convoy_create = convoys.convoy_create
    convoy_get = convoys.convoy_get
    convoy_list = convoys.convoy_list
    convoy_start = convoys.convoy_start
    convoy_close = convoys.convoy_close
    # the mayor
    mayor_agent = mayor.mayor_agent
    mayor_message = mayor.mayor_message
    mayor_requester = mayor.mayor_requester
    mayor_history = mayor.mayor_history
    mayor_reply = mayor.mayor_reply
    # molecules
    molecule_pour = molecules.molecule_pour
    molecule_get = molecules.molecule_get
    molecule_list = molecules.molecule_list
    molecule_start = molecules.molecule_start
    bead_approve = molecules.bead_approve
    runnable_steps = molecules.runnable_steps
    step_run_begin = molecules.step_run_begin
    step_run_result = molecules.step_run_result
    hooked_molecule = molecules.hooked_molecule
    current_step = molecules.current_step
    step_done = molecules.step_done
    molecule_wait = molecules.molecule_wait
    done_check = molecules.done_check
    # beads imported from forge issues
    issues_add = issues.issues_add
    landed_unannounced = issues.landed_unannounced
    issue_mark = issues.issue_mark
    issue_unmark = issues.issue_unmark
    # tokens
    costs = costs.costs

"""Git and the refinery: the git primitives, the per-rig lock, the merge recipe, gate detection and parked landings."""

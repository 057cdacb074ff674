"""Reusable widgets: the board's virtualised bead list and the agent terminal."""

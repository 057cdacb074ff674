"""Gastown: run many AI coding agents on your git repositories at once."""

__version__ = "0.1.0"

"""Forges (GitHub, GitLab, Gitea/Forgejo) behind one interface: pull requests, reviews,
review comments, checks, merges and issues over their REST APIs (stdlib urllib only)."""

from gastown.forge.base import Checks, Comment, Forge, ForgeError, Issue, PullRequest, Review
from gastown.forge.resolve import ForgeSpec, build, parse_remote, resolve

__all__ = ["Checks", "Comment", "Forge", "ForgeError", "ForgeSpec", "Issue", "PullRequest", "Review", "build",
           "parse_remote", "resolve"]

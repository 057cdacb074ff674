"""Which forge a rig talks to, where its API is, which repository, and with what token.

Resolution order: explicit config (`forge.kind`, `forge.api_url`, `forge.repo`,
`forge.token`), then the rig's remote URL (github.com, gitlab.com, or any host whose name says
github/gitlab/gitea/forgejo/codeberg), then the environment (GITHUB_TOKEN / GH_TOKEN,
GITLAB_TOKEN, GITEA_TOKEN) and finally the forges' own CLIs (`gh auth token`,
`glab config get token`). A rig whose origin is a plain path or an unknown host and that has
no forge config has no forge: the pr strategy then only pushes the branch.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Mapping

from gastown.forge.base import Forge
from gastown.forge.github import Gitea, GitHub
from gastown.forge.gitlab import GitLab

KINDS = ("github", "gitlab", "gitea")
ENV_TOKENS = {"github": ("GITHUB_TOKEN", "GH_TOKEN"), "gitlab": ("GITLAB_TOKEN", "GL_TOKEN"),
              "gitea": ("GITEA_TOKEN", "FORGEJO_TOKEN")}
_CLI_CACHE: dict[tuple[str, str], tuple[float, str]] = {}
CLI_TTL = 300.0


@dataclass(frozen=True)
class ForgeSpec:
    kind: str
    api_url: str
    repo: str
    token: str
    token_source: str  # config, env NAME, gh, glab, or "" (none found)
    host: str = ""

    def describe(self) -> str:
        return f"{self.kind} {self.repo} at {self.api_url} (token: {self.token_source or 'none'})"


def parse_remote(url: str) -> tuple[str, str] | None:
    """(host, OWNER/NAME path) of an https, ssh or scp-style git URL; None for local paths."""
    m = re.match(r"^(?:https?|ssh|git)://(?:[^@/]+@)?([^/:]+)(?::\d+)?/(.+?)(?:\.git)?/?$", url)
    if not m:
        m = re.match(r"^(?:[^@/]+@)?([^/:]+):(?!/)(.+?)(?:\.git)?/?$", url)
    if not m or "/" not in m.group(2):
        return None
    return m.group(1).lower(), m.group(2)


def _kind_of(host: str, api_url: str) -> str:
    for kind, words in (("github", ("github",)), ("gitlab", ("gitlab",)),
                        ("gitea", ("gitea", "forgejo", "codeberg"))):
        if any(w in host for w in words):
            return kind
    if api_url.rstrip("/").endswith("/api/v4"):
        return "gitlab"
    if api_url.rstrip("/").endswith("/api/v1"):
        return "gitea"
    return "github" if api_url else ""


def _default_api(kind: str, host: str) -> str:
    if kind == "github":
        return "https://api.github.com" if host == "github.com" else f"https://{host}/api/v3"
    return f"https://{host}/api/v4" if kind == "gitlab" else f"https://{host}/api/v1"


def _cli_token(kind: str, host: str) -> tuple[str, str]:
    """The token the forge's own CLI holds for `host` (cached: the CLI is slow)."""
    key = (kind, host)
    cached = _CLI_CACHE.get(key)
    if cached and time.monotonic() - cached[0] < CLI_TTL:
        return cached[1], ("gh" if kind == "github" else "glab") if cached[1] else ""
    argv: list[str] | None = None
    if kind == "github" and shutil.which("gh"):
        argv = ["gh", "auth", "token", "--hostname", host or "github.com"]
    elif kind == "gitlab" and shutil.which("glab"):
        argv = ["glab", "config", "get", "token", "--host", host or "gitlab.com"]
    token = ""
    if argv:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=15)
            token = proc.stdout.strip() if proc.returncode == 0 else ""
        except (OSError, subprocess.TimeoutExpired):
            token = ""
    _CLI_CACHE[key] = (time.monotonic(), token)
    return token, (argv[0] if argv and token else "")


def resolve(source: str, *, kind: str = "", api_url: str = "", repo: str = "", token: str = "",
            env: Mapping[str, str] | None = None) -> ForgeSpec | None:
    """The forge of a rig (None: not hosted on a known forge and nothing configured)."""
    env = os.environ if env is None else env
    if kind and kind not in KINDS:
        raise ValueError(f"forge.kind must be one of {', '.join(KINDS)}, not '{kind}'")
    parsed = parse_remote(source)
    host, path = parsed if parsed else ("", "")
    if api_url and not host:
        m = re.match(r"^https?://([^/:]+)", api_url)
        host = m.group(1).lower() if m else ""
    kind = kind or _kind_of(host, api_url)
    if not kind or (not api_url and not parsed):
        return None
    api_url = (api_url or _default_api(kind, host)).rstrip("/")
    repo = repo or path
    if not repo:
        raise ValueError(f"cannot tell the repository from {source!r}: set forge.repo to OWNER/NAME")
    source_of = "config" if token else ""
    if not token:
        for name in ENV_TOKENS[kind]:
            if env.get(name):
                token, source_of = env[name], f"env {name}"
                break
    if not token:
        token, source_of = _cli_token(kind, host)
    return ForgeSpec(kind=kind, api_url=api_url, repo=repo, token=token, token_source=source_of, host=host)


def build(spec: ForgeSpec) -> Forge:
    cls = {"github": GitHub, "gitlab": GitLab, "gitea": Gitea}[spec.kind]
    web = f"https://{spec.host}/{spec.repo}" if spec.host else ""
    return cls(spec.api_url, spec.repo, spec.token, web_url=web)

"""Bead ids: `<prefix>-<base36 hash>` whose length grows with the town (the beads scheme).

Short ids are typeable; the length is the smallest that keeps the birthday-collision
probability at or below 25% for the current number of beads, and collisions are retried
with a nonce, then with a longer id.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Callable

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
MIN_LEN, MAX_LEN = 3, 8
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")


def base36(n: int) -> str:
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(ALPHABET[r])
    return "".join(reversed(out))


def id_length(count: int) -> int:
    """Smallest L in [3, 8] with 1 - exp(-n^2 / (2 * 36^L)) <= 0.25."""
    for length in range(MIN_LEN, MAX_LEN + 1):
        if 1.0 - math.exp(-(count * count) / (2.0 * 36.0**length)) <= 0.25:
            return length
    return MAX_LEN


def _hash_bytes(length: int) -> int:
    return 2 if length == 3 else 3 if length == 4 else 4 if length <= 6 else 5


def candidate(prefix: str, seed: str, nonce: int, length: int) -> str:
    digest = hashlib.sha256(f"{seed}|{nonce}".encode()).digest()
    value = int.from_bytes(digest[: _hash_bytes(length)], "big")
    return f"{prefix}-{base36(value).rjust(length, '0')[-length:]}"


def new_id(prefix: str, seed: str, count: int, exists: Callable[[str], bool]) -> str:
    """A fresh id: ten nonces per length, then one character longer, up to 8."""
    for length in range(id_length(count), MAX_LEN + 1):
        for nonce in range(10):
            bead_id = candidate(prefix, seed, nonce, length)
            if not exists(bead_id):
                return bead_id
    raise RuntimeError("could not allocate a unique bead id")


def default_prefix(town: str) -> str:
    """A prefix from the town name: its letters and digits, at most 4, starting with a letter."""
    cleaned = re.sub(r"[^a-z0-9]", "", town.lower())
    cleaned = cleaned.lstrip("0123456789")
    return (cleaned[:4] or "gt")

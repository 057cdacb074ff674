"""A tiny library the demo's agents extend."""


def add(a: int, b: int) -> int:
    return a + b

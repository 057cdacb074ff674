import arith


def test_add() -> None:
    assert arith.add(2, 3) == 5

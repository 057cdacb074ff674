from __future__ import annotations

import json

import pytest

from gastown import protocol as p


def test_round_trip_request() -> None:
    frame = p.request(7, p.Method.BEAD_SHOW, {"id": "gt-abc"})
    assert frame.endswith(b"\n") and frame.count(b"\n") == 1
    assert p.decode_request(frame) == (7, "bead.show", {"id": "gt-abc"})


@pytest.mark.parametrize(
    "line, code",
    [
        (b"{not json", p.ErrorCode.PARSE_ERROR),
        (b"[1, 2]", p.ErrorCode.INVALID_REQUEST),
        (b'{"id": 1, "method": "x"}', p.ErrorCode.INVALID_REQUEST),
        (b'{"jsonrpc": "2.0", "id": 1}', p.ErrorCode.INVALID_REQUEST),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "x", "params": [1]}', p.ErrorCode.INVALID_PARAMS),
        (b"\xff\xfe", p.ErrorCode.PARSE_ERROR),
    ],
)
def test_bad_frames(line: bytes, code: int) -> None:
    with pytest.raises(p.RpcError) as exc:
        p.decode_request(line)
    assert exc.value.code == code
    assert "\n" not in exc.value.message


def test_request_id_survives_in_error_data() -> None:
    with pytest.raises(p.RpcError) as exc:
        p.decode_request(b'{"jsonrpc": "1.0", "id": 42, "method": "x"}')
    assert exc.value.data == {"id": 42}


def test_oversized_frame_refused() -> None:
    with pytest.raises(p.RpcError) as exc:
        p.encode({"x": "a" * p.MAX_FRAME})
    assert exc.value.code == p.ErrorCode.FRAME_TOO_LARGE


def test_every_code_has_an_exit_status() -> None:
    for code in p.ErrorCode:
        assert p.exit_code(code) > 0
    assert p.exit_code(p.ErrorCode.NOT_FOUND) != p.exit_code(p.ErrorCode.CONFLICT)


def test_method_names_are_unique_noun_verb() -> None:
    names = [v for k, v in vars(p.Method).items() if k.isupper()]
    assert len(names) == len(set(names))
    assert all(n.count(".") == 1 for n in names)


def test_error_wire_round_trip() -> None:
    err = p.RpcError(p.ErrorCode.NOT_FOUND, "no bead 'x'", {"id": "x"})
    assert p.RpcError.from_wire(json.loads(json.dumps(err.to_wire()))).to_wire() == err.to_wire()


def test_every_method_has_a_handler() -> None:
    from gastown.daemon import api  # noqa: F401
    from gastown.daemon.edge.rpc import REGISTRY

    assert p.Method.all() == set(REGISTRY)

"""What a run record keeps of a run's arguments and result: values JSON and BSON both carry are
kept as they are, anything else replaced (`json_safe`) or left out, never a failed write."""

import datetime
import json
from typing import Any

import bson
import pytest

from tasks.run_history import json_safe

DEEP: Any = [[[[[[[[[[1]]]]]]]]]]

VALUES: list[Any] = [
    None,
    True,
    1.5,
    float("nan"),
    "plain",
    "ünïcode",
    "lone \udc80 surrogate",
    2**63 - 1,
    -(2**63),
    2**63,
    -(2**63) - 1,
    [1, "a", None, [2.5, {"k": False}]],
    {"a": 1, "b": [1, 2], "c": {"d": None}},
    {"nul\x00key": 1},
    {"ü": 1},
    {1: "int key"},
    {"big": 2**64},
    [2**70],
    DEEP,
    (1, 2),
    {1, 2},
    b"bytes",
    datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC),
    object(),
]


def _carried(value: Any) -> bool:
    """Both encoders take it (the check `json_safe` stands for)."""
    try:
        json.dumps(value)
        bson.encode({"value": value})
    except (TypeError, ValueError, bson.errors.BSONError, OverflowError, UnicodeEncodeError):
        return False
    return True


def _id(value: Any) -> str:
    # A plain object's repr holds its address, which differs between xdist workers.
    return type(value).__name__ if type(value) is object else repr(value)


@pytest.mark.parametrize("value", VALUES, ids=_id)
def test_a_value_is_kept_exactly_when_both_json_and_bson_carry_it(value: Any) -> None:
    if _carried(value):
        assert json_safe(value) is value
    else:
        assert json_safe(value) == ascii(value)

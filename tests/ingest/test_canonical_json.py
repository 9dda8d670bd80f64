"""`prepare` encodes jsonb documents with orjson where its text is sure to be json's: the text
is hashed (`parameters_hash`) and measured (`response_size_bytes`), so it must be the same byte
for byte as `canonical_json` (json.dumps, sorted keys, compact), whatever the document."""

from __future__ import annotations

import hashlib
import json
import random
import struct

import orjson
import pytest

from mcp_analytics.ingest.events import (
    canonical_json,
    canonical_json_of_redacted,
    parameters_hash,
    prepare,
)
from mcp_analytics.ingest.redaction import NestingTooDeep, RedactionRules

RULES = RedactionRules()


def _same(value: object) -> str:
    walked = RULES.value(value)
    expected = canonical_json(walked)
    assert canonical_json_of_redacted(walked) == expected, value
    return expected


def test_every_code_point_as_key_and_value() -> None:
    # 256 consecutive code points per string (surrogates excluded: they take json's path,
    # see below), as a value, as a key, and single ones as keys (their sort order).
    points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for i in range(0, len(points), 256):
        text = "".join(map(chr, points[i : i + 256]))
        _same({"v": text, text: [text, 1]})
    for i in range(0, 0x3000, 64):
        _same({chr(c): c for c in range(i, i + 64) if not 0xD800 <= c <= 0xDFFF})


def test_random_documents_sort_and_escape_alike() -> None:
    rng = random.Random(20261130)
    alphabet = [chr(c) for c in [*range(0x80), 0xE9, 0x2028, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF]]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))

    def doc(depth: int) -> object:
        kind = rng.randrange(9 if depth < 4 else 6)
        if kind == 0:
            return text()
        if kind == 1:
            return rng.randrange(-(2**63), 2**64)
        if kind == 2:
            return rng.choice([True, False, None])
        if kind in (3, 4, 5):
            return rng.uniform(-1e6, 1e6) if kind == 3 else rng.randrange(100)
        if kind in (6, 7):
            return {text(): doc(depth + 1) for _ in range(rng.randrange(5))}
        return [doc(depth + 1) for _ in range(rng.randrange(4))]

    for _ in range(20_000):
        _same({text(): doc(0) for _ in range(rng.randrange(1, 6))})


def test_floats_alike_including_the_forms_orjson_writes_differently() -> None:
    rng = random.Random(7)
    values = [0.0, -0.0, 0.1, 1e16, 1e-4, 9.999e-5, 1e-5, 1e-7, 5e-324, 1.7976931348623157e308]
    for e in range(-330, 310):
        for mantissa in (1.0, 1.5, 9.999999999999999):
            try:
                v = mantissa * 10.0**e
            except OverflowError:
                continue
            if v != float("inf"):
                values += [v, -v]
    for _ in range(50_000):
        d = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if d == d and d not in (float("inf"), float("-inf")):
            values.append(d)
        values.append(rng.uniform(-1e-3, 1e-3))
        values.append(round(rng.uniform(-1e4, 1e4), rng.randrange(6)))
    for i in range(0, len(values), 50):
        _same({"f": values[i : i + 50]})
    # Not vacuous: small floats are exactly where orjson's own text differs.
    assert orjson.dumps(1e-5) != json.dumps(1e-5).encode()


@pytest.mark.parametrize(
    "value",
    [
        {"big": 2**64, "neg": -(2**63) - 1},  # beyond orjson's integers
        {"lone": "\ud800", "\udfff": 1},  # lone surrogates (orjson refuses them)
        json.loads("[" * 200 + "]" * 200),  # as deep as the walk allows (MAX_DEPTH)
        {"note": "e-mail me at 0.00001 o'clock", "1e-5": 1e-5},  # the fallback's triggers
        {"nan": float("nan"), "inf": float("inf")},  # the walk makes them strings
        {1: "int key", None: "none key"},  # the walk makes keys strings
        {"password": "x", "headers": [["Authorization", "Bearer abcdefghij"]]},
    ],
    ids=["ints", "surrogates", "deep", "triggers", "nan", "keys", "secrets"],
)
def test_what_orjson_refuses_or_writes_otherwise_takes_json(value: object) -> None:
    _same(value)


def test_deeper_than_orjson_goes_takes_json() -> None:
    # The walk refuses such nesting (NestingTooDeep); the encoder alone still agrees.
    value = json.loads("[" * 300 + "]" * 300)
    assert canonical_json_of_redacted(value) == canonical_json(value)
    with pytest.raises(NestingTooDeep):
        RULES.value(value)


def test_prepared_hash_is_sha256_of_json_dumps() -> None:
    # End to end through prepare: the hash and the stored text are those of json.dumps.
    parameters = {"b": [1.5, 1e-6, "é\u2028"], "a": {"token": "t0k", "n": 2**63}, "c": None}
    row = prepare(
        "tool_usage_logs",
        {
            "execution_id": "e",
            "bcp_name": "b",
            "tool_name": "t",
            "operation": "o",
            "duration_ms": 1,
            "success": True,
            "timestamp": "2026-11-30T00:00:00Z",
            "parameters": parameters,
        },
    )
    reference = json.dumps(
        RULES.value(parameters), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert row["parameters"] == reference
    assert row["parameters_hash"] == hashlib.sha256(reference.encode()).hexdigest()
    assert parameters_hash(parameters) == row["parameters_hash"]

"""The loader parses lines with orjson when it can: the prepared rows and the rejects must be
exactly those of the standard library's parser, line for line (the stored JSON and its
parameters_hash depend on every value)."""

from __future__ import annotations

import json
import random
import struct

import pytest

from mcp_analytics.ingest import loader
from mcp_analytics.ingest.events import DEFAULT_MAX_RESPONSE_BYTES
from mcp_analytics.ingest.redaction import RedactionRules

CFG = loader._Config(None, RedactionRules(), DEFAULT_MAX_RESPONSE_BYTES)
BASE = {
    "table": "tool_usage_logs",
    "execution_id": "e-1",
    "bcp_name": "crm",
    "tool_name": "search",
    "operation": "read",
    "duration_ms": 12,
    "success": True,
    "timestamp": "2026-11-01T10:00:00Z",
}


def _line(**fields: object) -> bytes:
    return (json.dumps({**BASE, **fields}, ensure_ascii=False) + "\n").encode()


def _same(raw: bytes) -> object:
    """Prepare `raw` both ways; returns what the fast path gave after checking it equals the
    standard parser's result (rows compared column by column, rejects field by field)."""
    fast = loader._prepare_line(CFG, "f", 7, raw)
    slow = loader._prepare_line(CFG, "f", 7, raw, fast=False)
    if isinstance(slow, tuple):
        assert isinstance(fast, tuple), raw
        assert fast[:2] == slow[:2], raw
    else:
        assert fast == slow, raw
    return fast


TRICKY = [
    # integers at and beyond the 64-bit edges: orjson would make the latter floats
    _line(parameters={"n": 2**63 - 1, "m": -(2**63)}),
    b'{"table":"tool_usage_logs","execution_id":"e","bcp_name":"b","tool_name":"t",'
    b'"operation":"o","duration_ms":1,"success":true,"timestamp":"2026-11-01T00:00:00Z",'
    b'"parameters":{"big":123456789012345678901234567890,"neg":-9223372036854775809}}\n',
    b'{"table":"tool_usage_logs","execution_id":"e","bcp_name":"b","tool_name":"t",'
    b'"operation":"o","duration_ms":18446744073709551616,"success":true,'
    b'"timestamp":"2026-11-01T00:00:00Z"}\n',
    # floats: shortest forms, exponents, negative zero, subnormals, many digits
    _line(parameters={"f": [0.1, -0.0, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, 2.5]}),
    b'{"table":"tool_usage_logs","execution_id":"e","bcp_name":"b","tool_name":"t",'
    b'"operation":"o","duration_ms":1.5,"success":true,"timestamp":"2026-11-01T00:00:00Z",'
    b'"parameters":{"a":1E2,"b":0.1e1,"c":123456789012345678.5,"d":1e400}}\n',
    # NaN and Infinity: the standard parser accepts them, orjson does not
    b'{"table":"tool_usage_logs","execution_id":"e","bcp_name":"b","tool_name":"t",'
    b'"operation":"o","duration_ms":1,"success":true,"timestamp":"2026-11-01T00:00:00Z",'
    b'"parameters":{"x":NaN,"y":-Infinity}}\n',
    # strings: escapes, NUL, surrogate pairs, a lone surrogate, U+2028, non-ASCII keys
    b'{"table":"tool_usage_logs","execution_id":"e","bcp_name":"b","tool_name":"t",'
    b'"operation":"o","duration_ms":1,"success":true,"timestamp":"2026-11-01T00:00:00Z",'
    b'"parameters":{"q":"a\\"b\\\\c\\n\\u0000\\ud83d\\ude00\\u2028","\\u00e9t\\u00e9":1}}\n',
    b'{"table":"tool_usage_logs","execution_id":"e","bcp_name":"b","tool_name":"t",'
    b'"operation":"o","duration_ms":1,"success":true,"timestamp":"2026-11-01T00:00:00Z",'
    b'"parameters":{"q":"\\ud800"}}\n',
    # secrets, also spelled with escapes
    b'{"table":"tool_usage_logs","execution_id":"e","bcp_name":"b","tool_name":"t",'
    b'"operation":"o","duration_ms":1,"success":true,"timestamp":"2026-11-01T00:00:00Z",'
    b'"parameters":{"pa\\u0073sword":"x","note":"Bearer abcdefghijkl"}}\n',
    # duplicate keys (the last wins in both), key order kept for the rejects' raw text
    b'{"table":"tool_usage_logs","zeta":1,"execution_id":"e","alpha":2,"zeta":3}\n',
    # whitespace around and inside, CRLF, blank and whitespace-only lines
    b'  {"table" : "tool_usage_logs" , "execution_id" : "e" }  \r\n',
    b"\n",
    b"   \t \r\n",
    b"\x0c\n",
    # not JSON, not an object, invalid UTF-8, a byte order mark, trailing data
    b'{"table": "tool_usage_logs", "execution_id": \n',
    b"[1, 2, 3]\n",
    b'"just a string"\n',
    b"null\n",
    b'{"table":"tool_usage_logs","execution_id":"\xff\xfe"}\n',
    b'\xef\xbb\xbf{"table":"tool_usage_logs"}\n',
    b'{"table":"tool_usage_logs"} {"x":1}\n',
    # what strict JSON forbids: raw control characters in strings, leading zeros, trailing
    # commas, unknown escapes, a surrogate encoded in UTF-8 bytes
    b'{"table":"tool_usage_logs","execution_id":"a\tb"}\n',
    b'{"table":"tool_usage_logs","duration_ms":01}\n',
    b'{"table":"tool_usage_logs","execution_id":"e",}\n',
    b'{"table":"tool_usage_logs","execution_id":"\\x41"}\n',
    b'{"table":"tool_usage_logs","execution_id":"\xed\xa0\x80"}\n',
    # unknown table, wrong types, unknown fields, deep nesting
    _line(table="nope"),
    _line(duration_ms="12"),
    _line(surprise=1),
    _line(parameters=json.loads("[" * 300 + "]" * 300)),
]


@pytest.mark.parametrize("raw", TRICKY, ids=range(len(TRICKY)))
def test_fast_parse_gives_the_standard_result(raw: bytes) -> None:
    _same(raw)


def test_fast_parse_is_taken_for_ordinary_lines() -> None:
    # Not a vacuous comparison: ordinary lines do go through orjson, the rest do not.
    assert loader._parse_fast(_line()) is not loader._SLOW
    assert loader._parse_fast(TRICKY[1]) is loader._SLOW  # 19+ digits in a row
    assert loader._parse_fast(b"[1]\n") is loader._SLOW  # not an object


def test_random_numbers_parse_alike() -> None:
    rng = random.Random(20261125)
    values: list[object] = []
    for _ in range(3000):
        # any finite double (random bit patterns), its shortest repr and a 17-digit form
        d = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if d == d and d not in (float("inf"), float("-inf")):
            values += [d, float(f"{d:.17g}")]
        values.append(rng.randrange(-(10**18), 10**18))  # longer ones: TRICKY
        values.append(rng.uniform(-1e6, 1e6))
    fast = 0
    for i in range(0, len(values), 10):
        chunk = values[i : i + 10]
        raw = _line(parameters={"v": chunk}, response_data={"w": chunk[::-1]})
        fast += loader._parse_fast(raw) is not loader._SLOW  # 19 digits in a row: not
        out = _same(raw)
        assert isinstance(out, tuple)
    assert fast > len(values) // 10 // 2
    # Decimal texts with up to 18 significant digits and wide exponents, written by hand (not
    # by repr): the two parsers must round them to the same double.
    texts = []
    for _ in range(3000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 18)))
        dot = rng.randint(0, len(digits))
        mantissa = (digits[:dot].lstrip("0") or "0") + "." + (digits[dot:] or "0")
        texts.append(f"{rng.choice(['', '-'])}{mantissa}e{rng.randint(-330, 300)}")
    fast = 0
    for i in range(0, len(texts), 10):
        body = ",".join(texts[i : i + 10])
        raw = _line(parameters={}).replace(b'"parameters": {}', f'"parameters": [{body}]'.encode())
        assert body.encode() in raw
        fast += loader._parse_fast(raw) is not loader._SLOW
        _same(raw)
    assert fast > len(texts) // 10 // 2

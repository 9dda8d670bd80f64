"""Redaction is linear in its input: time per KB at growing sizes, against 1 KB.

`python -m bench redaction` or `python -m bench.bench_redaction [--max-kb 256] [--repeat 5]`
(standalone, no database; prints Markdown). For each kind of text, the texts that made the
earlier regexes retry from every position (a long run of word characters after a secret word,
random base64url, many `scheme://` or `key=` or unclosed quotes, digit groups, bracket runs,
and an ordinary log line repeated), `RedactionRules().text` runs on 1 KB, 4 KB, ... `--max-kb`
of it; the figure is the time per KB at each size divided by the time per KB at 1 KB, measured
in the same run (best of `--repeat`). Linear redaction keeps every ratio near 1 (up to ~2 once
a text outgrows the CPU caches); quadratic redaction doubles it with each doubling of the size
(16x at 16 KB, 64x at 64 KB). Target: every ratio <= 4.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from collections.abc import Callable

from bench.common import table
from mcp_analytics.ingest.redaction import RedactionRules

TARGET = 4.0
_B64URL = string.ascii_letters + string.digits + "-_"
_PUNCT = "aA1 =:\"'[]{},.-_/@\\"


def _repeat(unit: str) -> Callable[[int, random.Random], str]:
    return lambda n, rng: (unit * (n // len(unit) + 1))[:n]


KINDS: dict[str, Callable[[int, random.Random], str]] = {
    # The example of the report: a secret word, then one long token.
    "'signing key ' + one long token": lambda n, rng: "signing key " + "a" * (n - 12),
    "random base64url": lambda n, rng: "".join(rng.choice(_B64URL) for _ in range(n)),
    "scheme://user:pw without @": _repeat("x://y:z"),
    "key= runs": _repeat("a="),
    'password=" never closed': _repeat('password="'),
    "single digits and spaces": _repeat("1 "),
    "IBAN-like groups": _repeat("AB12 CDEF "),
    "secret:[ never closed": _repeat("secret:["),
    "bearer words": _repeat("bearer "),
    "random punctuation": lambda n, rng: "".join(rng.choice(_PUNCT) for _ in range(n)),
    "a log line with secrets, repeated": _repeat(
        "GET /mcp?token=abc123&page=2 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig "
        "postgresql://app:pw@db/x card 4111 1111 1111 1111 "
    ),
}


def _per_kb(rules: RedactionRules, text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        rules.text(text)
        best = min(best, time.perf_counter() - start)
    return best / (len(text) / 1024)


def bench_redaction(max_kb: int, repeat: int) -> tuple[str, bool]:
    """The Markdown table, and whether every ratio met the target."""
    rules = RedactionRules()
    sizes = [1]
    while sizes[-1] * 4 <= max_kb:
        sizes.append(sizes[-1] * 4)
    rows = []
    met = True
    for name, make in KINDS.items():
        rng = random.Random(1)
        texts = [make(kb * 1024, rng) for kb in sizes]
        base = _per_kb(rules, texts[0], repeat)
        ratios = [_per_kb(rules, text, repeat) / base for text in texts[1:]]
        met = met and all(r <= TARGET for r in ratios)
        rows.append([name, f"{base * 1e6:,.0f}", *(f"{r:.2f}x" for r in ratios)])
    headers = ["text", "µs per KB at 1 KB", *(f"{kb} KB vs 1 KB" for kb in sizes[1:])]
    return table(headers, rows), met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_redaction")
    parser.add_argument("--max-kb", type=int, default=256, help="largest text in KB (256)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per size, best kept (5)")
    args = parser.parse_args(argv)
    if args.max_kb < 4 or args.repeat < 1:
        parser.error("--max-kb must be at least 4 and --repeat at least 1")
    print("## redaction: time per KB against 1 KB (linear = 1.00x)\n")
    text, met = bench_redaction(args.max_kb, args.repeat)
    print(text)
    print(f"\nevery ratio <= {TARGET}x: {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

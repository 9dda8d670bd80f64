"""Redaction is linear in its input: time per KB at growing sizes, against 1 KB.

`python -m bench redaction` or `python -m bench.bench_redaction [--max-kb 256] [--repeat 5]`
(standalone, no database; prints Markdown). For each kind of text, the texts that made the
earlier regexes retry from every position (a long run of word characters after a secret word,
random base64url, many `scheme://` or `key=` or unclosed quotes, digit groups, bracket runs,
and an ordinary log line repeated), `RedactionRules().text` runs on 1 KB, 4 KB, ... `--max-kb`
of it; the figure is the time per KB at each size divided by the time per KB at 1 KB, measured
in the same run (CPU time of this process; each size timed in alternation with 1 KB, the best
of `--repeat` kept). Linear
redaction keeps every ratio near 1 (a few times 1 once a text outgrows the CPU caches, or on a
busy machine); quadratic redaction multiplies it by the size (16x at 16 KB, 256x at 256 KB).
The exponent k of time ~ size^k, from 1 KB to the largest size, sums it up: 1 is linear, 2
quadratic. Target: k <= 1.3 for every kind of text.
"""

from __future__ import annotations

import math
import random
import string
import sys
import time
from collections.abc import Callable

from bench.common import Option, parse_options, table
from mcp_analytics.ingest.redaction import RedactionRules

TARGET = 1.3
_B64URL = string.ascii_letters + string.digits + "-_"
_PUNCT = "aA1 =:\"'[]{},.-_/@\\"


#: the command line's options (`--name value`)
OPTIONS = {
    "max-kb": Option(256, "largest text in KB (256)", 4),
    "repeat": Option(5, "runs per size, best kept (5)", 1),
}


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
    "12-digit runs (one short of a card)": _repeat("1 " * 12 + "x "),
    "IBAN-like groups": _repeat("AB12 CDEF "),
    "secret:[ never closed": _repeat("secret:["),
    "bearer words": _repeat("bearer "),
    "random punctuation": lambda n, rng: "".join(rng.choice(_PUNCT) for _ in range(n)),
    "a log line with secrets, repeated": _repeat(
        "GET /mcp?token=abc123&page=2 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig "
        "postgresql://app:pw@db/x card 4111 1111 1111 1111 "
    ),
}


def _seconds(rules: RedactionRules, text: str) -> float:
    """CPU seconds of one redaction (this process's CPU time: other work on the machine does
    not count, which wall time would)."""
    start = time.process_time()
    rules.text(text)
    return time.process_time() - start


def _ratio(rules: RedactionRules, base: str, big: str, repeat: int) -> tuple[float, float]:
    """(µs per KB of `base`, per-KB time of `big` / per-KB time of `base`): the two are
    timed in alternation and the best of each kept, so a busy moment of the machine does not
    land on one side only."""
    times_base, times_big = [], []
    for _ in range(repeat):
        # The small text several times in a row: one run of 1 KB is too short to time alone.
        times_base.append(min(_seconds(rules, base) for _ in range(5)))
        times_big.append(_seconds(rules, big))
    per_kb_base = min(times_base) / (len(base) / 1024)
    per_kb_big = min(times_big) / (len(big) / 1024)
    return per_kb_base * 1e6, per_kb_big / per_kb_base


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
        measured = [_ratio(rules, texts[0], text, repeat) for text in texts[1:]]
        ratios = [r for _, r in measured]
        exponent = 1 + math.log(max(ratios[-1], 1e-9)) / math.log(sizes[-1])
        met = met and exponent <= TARGET
        base = min(us for us, _ in measured)
        rows.append([name, f"{base:,.0f}", *(f"{r:.2f}x" for r in ratios), f"{exponent:.2f}"])
    headers = [
        "text",
        "µs per KB at 1 KB",
        *(f"{kb} KB vs 1 KB" for kb in sizes[1:]),
        f"k (1 to {sizes[-1]} KB)",
    ]
    return table(headers, rows), met


def main(argv: list[str] | None = None) -> int:
    args = parse_options("python -m bench.bench_redaction", argv, OPTIONS)
    print("## redaction: time per KB against 1 KB (linear = 1.00x)\n")
    text, met = bench_redaction(args.max_kb, args.repeat)
    print(text)
    print(f"\nexponent k <= {TARGET} for every text (1 = linear, 2 = quadratic): ", end="")
    print("met" if met else "MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())

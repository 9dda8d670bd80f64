"""`python -m bench [ingest] [indexes] [--rows N]`: run the benchmarks, print Markdown."""

from __future__ import annotations

import argparse
import sys
import time

from .bench_ingest import run_indexes, run_ingest
from .bench_mcp_sdk import run_mcp_sdk

BENCHMARKS = ("ingest", "indexes", "mcp_sdk")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per run (1,000,000)")
    parser.add_argument(
        "--insert-rows",
        type=int,
        default=20_000,
        help="rows for the row-at-a-time INSERT baseline, a rate (20,000)",
    )
    parser.add_argument(
        "--index-rows",
        type=int,
        default=None,
        help="rows per run of the index-cost benchmark (default: --rows / 5)",
    )
    parser.add_argument(
        "--sdk-calls", type=int, default=2000, help="tool calls per mcp_sdk run (2,000)"
    )
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    started = time.perf_counter()
    out = []
    if "ingest" in names:
        out.append(f"## ingest ({args.rows:,} rows)\n\n" + run_ingest(args.rows, args.insert_rows))
    if "indexes" in names:
        rows = args.index_rows or max(1, args.rows // 5)
        out.append(f"## index cost on ingest ({rows:,} rows per run)\n\n" + run_indexes(rows))
    if "mcp_sdk" in names:
        out.append("## MCP SDK instrumentation overhead\n\n" + run_mcp_sdk(args.sdk_calls))
    print()
    print("\n\n".join(out))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

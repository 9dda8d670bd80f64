"""`python -m bench [names...] [--rows N]`: run the benchmarks, print Markdown.

Built in: `ingest`, `indexes`, `mcp_sdk`. Any other module `bench/bench_<name>.py` that defines
`main(argv) -> int` is a benchmark too (run with its own defaults; see its `--help`).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from pathlib import Path

from .bench_ingest import run_indexes, run_ingest
from .bench_mcp_sdk import run_mcp_sdk

BUILT_IN = ("ingest", "indexes", "mcp_sdk")
_OWN_MODULES = {"bench_ingest", "bench_mcp_sdk"}


def _external() -> list[str]:
    here = str(Path(__file__).resolve().parent)
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([here])
        if m.name.startswith("bench_") and m.name not in _OWN_MODULES
    )


def main(argv: list[str] | None = None) -> int:
    external = _external()
    known = [*BUILT_IN, *external]
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(known)} (default: all)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per run (1,000,000)")
    parser.add_argument(
        "--insert-rows",
        type=int,
        default=20_000,
        help="rows for the row-at-a-time INSERT baseline, a rate (20,000)",
    )
    parser.add_argument(
        "--loader-rounds",
        type=int,
        default=2,
        help="bulk loader runs, each between two plain COPY runs (2)",
    )
    parser.add_argument(
        "--index-rows",
        type=int,
        default=None,
        help="rows per run of the index-cost benchmark (default: --rows / 10)",
    )
    parser.add_argument(
        "--sdk-calls", type=int, default=2000, help="tool calls per mcp_sdk run (2,000)"
    )
    args = parser.parse_args(argv)
    if args.loader_rounds < 1:
        parser.error("--loader-rounds must be at least 1")
    names = args.names or known
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    started = time.perf_counter()
    out = []
    if "ingest" in names:
        out.append(
            f"## ingest ({args.rows:,} rows)\n\n"
            + run_ingest(args.rows, args.insert_rows, rounds=args.loader_rounds)
        )
    if "indexes" in names:
        rows = args.index_rows or max(1, args.rows // 10)
        out.append(f"## index cost on ingest ({rows:,} rows per run)\n\n" + run_indexes(rows))
    if "mcp_sdk" in names:
        out.append("## MCP SDK instrumentation overhead\n\n" + run_mcp_sdk(args.sdk_calls))
    print()
    print("\n\n".join(out))
    status = 0
    for name in external:
        if name in names:
            module = importlib.import_module(f"{__package__}.bench_{name}")
            print(f"\n## {name}\n", flush=True)
            status |= int(module.main([]) or 0)
    print(f"\n(all benchmarks: {time.perf_counter() - started:.0f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())

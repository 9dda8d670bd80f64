"""Quantiles of packed histograms by arithmetic (bootstrap_sql/116) and their buckets read from
numeric_send's bytes (117) against 105's text unpacking.

105's `mart_hist_unpack` and `mart_hist_quantiles(numeric, float8[])` are created again in
the test database under pg_temp, from the bootstrap file's own text (as bench_percentiles
does), so that the replacements are compared value for value with what they replaced, on
random histograms (hypothesis) over the whole bucket range, with counts up to the documented
limit; and with exact `percentile_cont` over random raw values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.bench_percentiles import unpacking_quantiles_sql

LOWEST, HIGHEST = -1665, 1663
# the total a packed histogram's quantiles are exact for (116): fewer than 10^16 - 1 values
MAX_TOTAL = 10**16 - 2


@pytest.fixture(scope="module")
def conn(module_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(module_db, autocommit=True) as connection:
        for definition in unpacking_quantiles_sql():
            connection.execute(definition)
        yield connection


def _both(
    conn: psycopg.Connection, buckets: list[int], counts: list[int], qs: list[float | None]
) -> tuple[list | None, list | None, list | None]:
    return conn.execute(
        "with h as (select mart_hist_pack(%s::integer[], %s::bigint[]) as p)"
        " select mart_hist_quantiles(p, %s::float8[]), pg_temp.old_hist_quantiles(p, %s::float8[]),"
        " mart_hist_quantiles(mart_hist_to_jsonb(p), %s::float8[]) from h",
        (buckets, counts, qs, qs, qs),
    ).fetchone()


def _same(a: list | None, b: list | None) -> bool:
    """Equal, NaN equal to NaN (is distinct from, as the SQL comparisons of the marts)."""
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(
        x == y or (x is not None and y is not None and math.isnan(x) and math.isnan(y))
        for x, y in zip(a, b, strict=True)
    )


QS = st.lists(
    st.one_of(
        st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0]),
        st.floats(min_value=0, max_value=1),
        st.floats(min_value=-0.5, max_value=1.5),
    ),
    min_size=1,
    max_size=6,
)


@st.composite
def histograms(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Buckets anywhere in the integer range or clustered as latencies are, counts from 1 to a
    total just under the limit."""
    clustered = draw(st.booleans())
    bucket = (
        st.integers(min_value=-10, max_value=900)
        if clustered
        else st.integers(min_value=LOWEST, max_value=HIGHEST)
    )
    buckets = draw(st.lists(bucket, min_size=1, max_size=60, unique=True))
    high = draw(st.sampled_from([3, 1000, 10**9, MAX_TOTAL // len(buckets)]))
    counts = draw(st.lists(st.integers(1, high), min_size=len(buckets), max_size=len(buckets)))
    return buckets, counts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hist=histograms(), qs=QS)
def test_quantiles_equal_the_unpacking_ones(
    conn: psycopg.Connection, hist: tuple[list[int], list[int]], qs: list[float]
) -> None:
    """Same array, value for value, as 105's function and as the jsonb form's, on any histogram
    and any qs (outside 0..1 too: the array function does not check them)."""
    new, old, jsonb = _both(conn, *hist, qs)
    assert _same(new, old), (hist, qs, new, old)
    if sum(hist[1]) < 2**53:  # the jsonb form counts in float8 beyond
        assert _same(new, jsonb), (hist, qs, new, jsonb)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hist=histograms())
def test_unpack_equals_the_text_split(
    conn: psycopg.Connection, hist: tuple[list[int], list[int]]
) -> None:
    """The same (bucket, count) rows in the same order as 105's unpacking; and so the count
    and the jsonb form, which read them, agree with the jsonb histogram built directly."""
    new, old, count, as_jsonb = conn.execute(
        "with h as (select mart_hist_pack(%s::integer[], %s::bigint[]) as p)"
        " select array(select row(u.*)::text from mart_hist_unpack(p) as u),"
        " array(select row(u.*)::text from pg_temp.old_hist_unpack(p) as u),"
        " mart_hist_count(p), mart_hist_to_jsonb(p) from h",
        hist,
    ).fetchone()
    assert new == old, hist
    assert count == sum(hist[1])
    assert as_jsonb == {str(b): n for b, n in zip(*hist, strict=True)}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(
        st.one_of(st.integers(0, 200), st.integers(0, 2**31 - 1)), min_size=1, max_size=400
    ),
    q=st.floats(min_value=0, max_value=1),
)
def test_quantile_within_the_bound_of_percentile_cont(
    conn: psycopg.Connection, values: list[int], q: float
) -> None:
    """Packed from raw values by mart_hist_bucket, summed per value: within 1/128 of exact."""
    exact, estimate = conn.execute(
        "with v as (select unnest(%s::bigint[]) as d)"
        " select percentile_cont(%s) within group (order by d),"
        " mart_hist_quantile(sum(mart_hist_pack(array[mart_hist_bucket(d)], array[1::bigint])), %s)"
        " from v",
        (values, q, q),
    ).fetchone()
    assert abs(estimate - exact) <= exact / 128 + 1e-9, (values, q, exact, estimate)


def test_edges_as_before(conn: psycopg.Connection) -> None:
    """Empty, null, fractional and negative histograms, empty and null qs, null, NaN and
    infinite q, the extreme buckets, one value, the largest total: as 105."""
    cases = [
        "0::numeric",
        "null::numeric",
        "-5::numeric",
        "0.75::numeric",
        "mart_hist_pack(array[7], array[1])",
        "mart_hist_pack(array[7], array[1]) + 0.9",
        "mart_hist_pack(array[-1665, 1663], array[3, 4])",
        "mart_hist_pack(array[-1665], array[9999999999999998])",
        "mart_hist_pack(array[1663, -3], array[9999999999999997, 1])",
        "mart_hist_pack(array[0, 1, 2, 3], array[1, 1, 1, 1])",
    ]
    qs = [
        "array[0.5]",
        "'{}'::float8[]",
        "null::float8[]",
        "array[null, 0.5]::float8[]",
        "array['NaN', 'Infinity', '-Infinity', 0.25]::float8[]",
        "array[0, 0.3333, 0.5, 1, 1, -1, 2]::float8[]",
        "'{{0.1, 0.9}, {0.5, 1}}'::float8[]",
    ]
    for h in cases:
        for q in qs:
            new, old = conn.execute(
                f"select mart_hist_quantiles({h}, {q}), pg_temp.old_hist_quantiles({h}, {q})"
            ).fetchone()
            assert _same(new, old), (h, q, new, old)
    # the one-value wrapper keeps its check and its nulls
    assert conn.execute(
        "select mart_hist_quantile(0, 0.5), mart_hist_quantile(null, 0.5)"
    ).fetchone() == (
        None,
        None,
    )
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="between 0 and 1"):
        conn.execute("select mart_hist_quantile(mart_hist_pack(array[1], array[1]), -0.1)")


def test_edges_of_unpack_as_before(conn: psycopg.Connection) -> None:
    for h in (
        "0",
        "null",
        "-5",
        "0.75",
        "1",
        "1.5",
        "mart_hist_pack(array[-1665, 1663], array[3, 4])",
    ):
        new, old = conn.execute(
            f"select array(select row(u.*)::text from mart_hist_unpack({h}::numeric) as u),"
            f" array(select row(u.*)::text from pg_temp.old_hist_unpack({h}::numeric) as u)"
        ).fetchone()
        assert new == old, h


def test_no_setting_of_their_own(conn: psycopg.Connection) -> None:
    """116 and 117 replaced 105's functions whole: no nested-loop setting left (a
    configuration change at every call)."""
    config = conn.execute(
        "select p.oid::regprocedure::text, p.proconfig, l.lanname"
        " from pg_proc as p join pg_language as l on l.oid = p.prolang"
        " where p.oid in ('mart_hist_quantiles(numeric, double precision[])'::regprocedure,"
        " 'mart_hist_unpack(numeric)'::regprocedure) order by 1"
    ).fetchall()
    assert config == [
        ("mart_hist_quantiles(numeric,double precision[])", None, "plpgsql"),
        ("mart_hist_unpack(numeric)", None, "sql"),
    ]

"""Where each query of a mart would run on Citus, read from dbt's compiled SQL with sqlglot.

Citus runs a SELECT over distributed tables on the shards, in parallel, when it groups (or, for
window functions, partitions) by the distribution column; without it, only aggregates Citus
knows how to split (count, sum, min, max, avg, ...; docs "Querying Distributed Tables",
"Aggregate Functions") run on the shards, and the rest (percentile_cont, string_agg, window
functions, aggregates without a combine function) gather the rows on the coordinator. Joins
of two distributed inputs stay on the shards when they are co-located and joined on the
distribution column.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

#: aggregates Citus splits into a part per shard and a combination on the coordinator
SPLITTABLE = (
    exp.Count, exp.Sum, exp.Min, exp.Max, exp.Avg, exp.ArrayAgg, exp.JSONBObjectAgg,
    exp.JSONObjectAgg, exp.LogicalAnd, exp.LogicalOr, exp.Stddev, exp.StddevPop,
    exp.StddevSamp, exp.Variance, exp.VariancePop,
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One SELECT that would not run on the shards as it is."""

    model: str
    cte: str  # the CTE it defines, or "" for the model's final SELECT / a subquery
    problem: str

    def __str__(self) -> str:
        where = f"{self.model}.{self.cte}" if self.cte else self.model
        return f"{where}: {self.problem}"


def _nearest_select(node: exp.Expression) -> exp.Expression | None:
    return node.find_ancestor(exp.Select)


def _cte_name(select: exp.Select) -> str:
    cte = select.find_ancestor(exp.CTE)
    return cte.alias_or_name if cte is not None else ""


def _own(select: exp.Select, kind: type[exp.Expression]) -> Iterator[exp.Expression]:
    """Nodes of `kind` that belong to `select` itself (not to a nested SELECT)."""
    for node in select.find_all(kind):
        if _nearest_select(node) is select:
            yield node


class Model:
    """One compiled model: its SELECTs, and the base relations each of them reads."""

    def __init__(self, name: str, compiled_sql: str) -> None:
        self.name = name
        self.tree = sqlglot.parse_one(compiled_sql, read="postgres")
        self.ctes: dict[str, exp.Expression] = {
            cte.alias_or_name: cte.this for cte in self.tree.find_all(exp.CTE)
        }
        self._bases: dict[str, frozenset[str]] = {}

    def bases(self, node: exp.Expression, seen: frozenset[str] = frozenset()) -> frozenset[str]:
        """Relation names (unqualified) that `node` reads, through CTEs."""
        out: set[str] = set()
        for table in node.find_all(exp.Table):
            name = table.name
            if name in self.ctes and not table.db and name not in seen:
                if name not in self._bases:
                    self._bases[name] = self.bases(self.ctes[name], seen | {name})
                out |= self._bases[name]
            elif name:
                out.add(name)
        return frozenset(out)

    def selects(self) -> Iterator[exp.Select]:
        yield from self.tree.find_all(exp.Select)


def check_model(
    model: Model, distribution: Mapping[str, str | None], aggregates: Mapping[str, bool]
) -> list[Finding]:
    """SELECTs of `model` reading a distributed relation that would not run on the shards.

    Args:
        distribution: relation name -> its distribution column (None: reference or local).
        aggregates: the database's own aggregate functions by name -> whether they have a
            combine function (Citus splits those).
    """
    findings = []
    for select in model.selects():
        columns = {distribution[b] for b in model.bases(select) if distribution.get(b)}
        if not columns:
            continue
        cte = _cte_name(select)
        if len(columns) > 1:
            findings.append(Finding(model.name, cte, f"reads relations distributed on {columns}"))
            continue
        (column,) = columns
        problems = [
            *_aggregates(select, column, aggregates),
            *_windows(select, column),
            *_joins(model, select, distribution, column),
        ]
        findings += [Finding(model.name, cte, p) for p in problems]
    return findings


def _aggregates(select: exp.Select, column: str, aggregates: Mapping[str, bool]) -> list[str]:
    """Aggregates Citus cannot split, in a SELECT that does not group by `column`."""
    group = select.args.get("group")
    if group is not None and column in {c.name for c in group.find_all(exp.Column)}:
        return []
    out = [
        f"{agg.sql('postgres')[:60]} without {column}"
        for agg in _own(select, exp.AggFunc)
        if agg.find_ancestor(exp.Window) is None and not isinstance(agg, SPLITTABLE)
    ]
    out += [
        f"{call.name.lower()}() without {column}"
        for call in _own(select, exp.Anonymous)
        if aggregates.get(call.name.lower()) is False
    ]
    return out


def _windows(select: exp.Select, column: str) -> list[str]:
    """Window functions not partitioned by `column` (named windows resolved)."""
    definitions = list(select.args.get("windows") or [])
    named = {w.this.name: w for w in definitions}
    out = []
    for window in _own(select, exp.Window):
        if any(window is d for d in definitions):  # WINDOW name AS (...): checked where used
            continue
        spec = window
        if not window.args.get("partition_by") and window.args.get("alias"):
            spec = named.get(window.args["alias"].name, window)
        parts = {
            c.name for p in spec.args.get("partition_by") or [] for c in p.find_all(exp.Column)
        }
        if column not in parts:
            out.append(f"window {window.sql('postgres')[:60]} not by {column}")
    return out


def _joins(
    model: Model, select: exp.Select, distribution: Mapping[str, str | None], column: str
) -> list[str]:
    """Joins of two distributed inputs not on the distribution column."""
    source = select.args.get("from_") or select.args.get("from")
    if source is None:
        return []
    inputs = [source.this, *(j.this for j in select.args.get("joins") or [])]
    distributed = [i for i in inputs if any(distribution.get(b) for b in model.bases(i))]
    if len(distributed) < 2:
        return []
    out = []
    for join in select.args.get("joins") or []:
        if not any(distribution.get(b) for b in model.bases(join.this)):
            continue
        using = {c.name for c in join.args.get("using") or []}
        on = join.args.get("on")
        keyed = column in using or (
            on is not None
            and any(
                isinstance(eq.left, exp.Column)
                and isinstance(eq.right, exp.Column)
                and eq.left.name == column == eq.right.name
                for eq in on.find_all(exp.EQ)
            )
        )
        if not keyed:
            out.append(f"join of {join.this.sql('postgres')[:40]} not on {column}")
    return out

"""The alias table (aliases.toml): older and vendor attribute names read as the standard ones.

`resolve(attributes, scope)` returns the attributes with every alias the table knows turned
into its canonical name, without overriding a canonical attribute the sender set itself.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

_SCOPES = ("span", "resource")


@dataclass(frozen=True)
class Alias:
    """One row of aliases.toml."""

    name: str
    canonical: str
    scope: str
    source: str = ""
    #: the sender's values (as text: true/false for booleans) -> the canonical attribute's value
    values: Mapping[str, Any] = field(default_factory=dict)
    #: what a value not in `values` becomes: None (the alias is not used) or "keep"
    other: str | None = None
    #: dotted keys into a JSON text value (the alias applies when the path exists)
    path: str | None = None

    def translate(self, value: Any) -> Any:
        """The canonical value for `value`, or None when this alias does not apply to it."""
        if self.path is not None:
            return _json_path(value, self.path)
        if not self.values:
            return value
        key = _as_text(value)
        if key in self.values:
            return self.values[key]
        return value if self.other == "keep" else None


def _json_path(value: Any, path: str) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


@dataclass(frozen=True)
class SpanName:
    """One [[span_name]] row: attributes an emitter leaves in the span's name."""

    pattern: re.Pattern[str]
    set: Mapping[str, str]
    when: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def apply(self, name: str, attributes: dict[str, Any]) -> bool:
        """Add this row's attributes when it matches; True when it did."""
        match = self.pattern.match(name)
        if match is None or any(attributes.get(k) != v for k, v in self.when.items()):
            return False
        groups = match.groupdict()
        for key, template in self.set.items():
            attributes.setdefault(key, template.format(**groups))
        return True


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class AliasTableError(ValueError):
    """aliases.toml is malformed; the message names the row."""


def _rows(text: str, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The [[`kind`]] rows of an alias table in TOML text, each with where it stands for an
    error message ("aliases.toml: alias #3"); raises AliasTableError on bad TOML."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise AliasTableError(f"aliases.toml: {err}") from None
    for i, row in enumerate(data.get(kind, []), 1):
        yield f"aliases.toml: {kind} #{i}", row


def parse_table(text: str) -> tuple[Alias, ...]:
    """Rows of an alias table in TOML text; raises AliasTableError naming a bad row."""
    rows = []
    seen: set[tuple[str, str, str]] = set()
    for where, row in _rows(text, "alias"):
        if not isinstance(row.get("name"), str) or not isinstance(row.get("canonical"), str):
            raise AliasTableError(f"{where}: needs string `name` and `canonical`")
        scope = row.get("scope", "span")
        if scope not in _SCOPES:
            raise AliasTableError(f"{where}: scope must be one of {', '.join(_SCOPES)}")
        other = row.get("other")
        if other not in (None, "keep"):
            raise AliasTableError(f'{where}: `other` can only be "keep"')
        key = (row["name"], scope, row["canonical"])
        if key in seen:
            raise AliasTableError(f"{where}: {row['name']} is listed twice")
        seen.add(key)
        rows.append(
            Alias(
                name=row["name"],
                canonical=row["canonical"],
                scope=scope,
                source=str(row.get("source", "")),
                values=dict(row.get("values", {})),
                other=other,
                path=row.get("path"),
            )
        )
    return tuple(rows)


def parse_span_names(text: str) -> tuple[SpanName, ...]:
    """The [[span_name]] rows of an alias table; raises AliasTableError naming a bad row."""
    rows = []
    for where, row in _rows(text, "span_name"):
        if not isinstance(row.get("pattern"), str) or not isinstance(row.get("set"), dict):
            raise AliasTableError(f"{where}: needs a string `pattern` and a `set` table")
        try:
            pattern = re.compile(row["pattern"])
        except re.error as err:
            raise AliasTableError(f"{where}: bad pattern: {err}") from None
        rows.append(
            SpanName(
                pattern, dict(row["set"]), dict(row.get("when", {})), str(row.get("source", ""))
            )
        )
    return tuple(rows)


def _packaged() -> str:
    return resources.files("mcp_analytics.otlp").joinpath("aliases.toml").read_text("utf-8")


@cache
def table() -> tuple[Alias, ...]:
    """The packaged alias table (read once)."""
    return parse_table(_packaged())


@cache
def span_names() -> tuple[SpanName, ...]:
    """The packaged [[span_name]] rows (read once)."""
    return parse_span_names(_packaged())


def resolve_span(name: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """Span attributes with the table's span-name rows and aliases applied (in place)."""
    if "mcp.method.name" not in attributes:
        for row in span_names():
            if row.apply(name, attributes):
                break
    return resolve(attributes, "span")


@cache
def _by_scope(scope: str) -> tuple[Alias, ...]:
    return tuple(a for a in table() if a.scope == scope)


def resolve(attributes: dict[str, Any], scope: str = "span") -> dict[str, Any]:
    """`attributes` with aliases added under their canonical names (in place; also returned).

    A canonical attribute the sender set is never overridden; when several aliases feed one
    canonical name, the first row of the table that applies wins."""
    for alias in _by_scope(scope):
        if alias.name not in attributes or alias.canonical in attributes:
            continue
        value = alias.translate(attributes[alias.name])
        if value is not None:
            attributes[alias.canonical] = value
    return attributes

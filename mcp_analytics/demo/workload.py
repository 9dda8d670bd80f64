"""A realistic, seeded telemetry generator for the demo (`mcp-analytics demo`).

What it models (all from one `random.Random(seed)`, so a seed gives the same data every time):

* a catalogue of BCPs (HubSpot-style MCP servers) and their tools, each tool with its own
  lognormal latency (median, spread) plus a slow tail, a base error rate and an error mix;
* a few hundred users with Zipf-like activity, each with a preferred MCP client;
* sessions that start following a weekly and daily rhythm and hold bursts of tool calls;
* incidents: windows where one BCP fails often and slowly (error bursts), before its latest
  release and never on the regressed BCP; releases (deploys) that change each BCP's
  `tool_version` (hubspot-crm ships three versions), one of them a real regression:
  hubspot-marketing 2.2.1 makes get_email_stats slower and flakier (what
  `analytics.tool_regressions` must find);
* errors of every class (docs/analytics.md): tool errors (results with isError), caller errors
  (JSON-RPC -32602), server errors (exceptions) and transport errors (timeouts, cancellations);
* clients on both protocol eras: sessions of pre-2026-07-28 clients (an `mcp-session-id`, an
  initialize handshake), stateless 2026-07-28 clients (no session id, clientInfo in each
  request's `_meta`), and a client that upgrades from one to the other mid-span;
* the tool inventory (`inventory_snapshots`): what each BCP advertised at the start, at each
  release and now; one tool's definition changes at a release (search_contacts), one is
  advertised and never called (export_site_backup), one is still served and called but no
  longer advertised (get_contact_v1);
* one `mcp_request_logs` row per tool call (same request_id, session, user), plus the
  `initialize` and `tools/list` requests that open each session;
* `error_logs` rows for failed calls (categories authentication, database, external_api,
  validation; levels, severities, stack traces) and failed dashboard logins;
* late rows: a few calls of the last three days held back and written after everything else.

This module only produces COPY text lines (PostgreSQL text format) whose columns come in the
event schema's order (`ingest/events.py` TABLES, see `RowFormat`); `mcp_analytics.demo.loader`
writes them. Pure Python: numpy is not among the project's dependencies, and the generator
keeps pace with the server's COPY anyway (the generator runs while the server parses).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from bisect import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter

from mcp_analytics.analytics.error_classes import error_class
from mcp_analytics.analytics.inventory import Inventory, definition_of
from mcp_analytics.ingest.events import TABLES

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
LATE_WINDOW_MS = 72 * HOUR_MS
MINUTE_METRIC_DAYS = 7

NULL = "\\N"


class RowFormat:
    """COPY text lines of one table from the values a generator fills, in its own order.

    `fields` names the columns a generator fills; `columns` is the same set in the table's
    order (the event schema's, `events.TABLES`, or `order` for a table that is not an event
    table), which the COPY statement lists: the columns left out take their defaults.
    `line(values)` takes the values (COPY text, already escaped) in `fields` order.

    Raises:
        ValueError: a field that is not a column of the table, or one named twice.
    """

    def __init__(self, table: str, fields: tuple[str, ...], order: tuple[str, ...] = ()) -> None:
        order = order or tuple(c.name for c in TABLES[table])
        unknown = sorted(set(fields) - set(order))
        if unknown or len(set(fields)) != len(fields):
            raise ValueError(f"{table}: unknown or repeated fields {unknown or fields}")
        self.table = table
        self.columns = tuple(c for c in order if c in fields)
        self._pick = itemgetter(*(fields.index(c) for c in self.columns))
        # Values already in the table's order need no reordering (the hot tables' case).
        self.line = self._in_order if fields == self.columns else self._reordered

    line: Callable[[tuple[str, ...]], str]

    def _reordered(self, values: tuple[str, ...]) -> str:
        return "\t".join(self._pick(values)) + "\n"

    @staticmethod
    def _in_order(values: tuple[str, ...]) -> str:
        return "\t".join(values) + "\n"


# What the generator fills. The two hot tables (a line per call) list theirs in the schema's
# order, which spares a reordering per line; the others group them as the generator knows them.
TOOL_ROW = RowFormat("tool_usage_logs", (
    "execution_id", "bcp_name", "tool_name", "operation", "parameters", "response_data",
    "error_message", "error_stack", "error_code", "duration_ms", "memory_usage_mb",
    "cpu_usage_percent", "success", "tool_version", "user_id", "session_id", "request_id",
    "timestamp", "ip_address", "user_agent", "parameters_hash", "response_size_bytes",
    "cache_hit", "client_name", "client_version", "protocol_version", "transport", "error_class",
))  # fmt: skip
REQUEST_ROW = RowFormat("mcp_request_logs", (
    "request_id", "method", "path", "query_params", "request_headers", "request_body",
    "response_status_code", "response_data", "response_headers", "response_size_bytes",
    "duration_ms", "queue_time_ms", "processing_time_ms", "success", "error_type", "user_id",
    "session_id", "timestamp", "user_agent", "ip_address", "client_version", "correlation_id",
    "trace_id", "span_id",
))  # fmt: skip
ERROR_ROW = RowFormat("error_logs", (
    "timestamp", "level", "message", "stack_trace", "error_code", "category", "severity",
    "impact_level", "context", "tool_context", "user_id", "session_id", "request_id",
    "execution_id", "resolved", "resolution_notes", "resolved_by", "resolved_at",
    "environment", "service_version", "deployment_id", "occurrence_count", "first_occurrence",
    "last_occurrence",
))  # fmt: skip
METRIC_ROW = RowFormat("performance_metrics", (
    "timestamp", "metric_name", "metric_value", "measurement_type", "unit", "labels",
    "aggregation_period", "service",
))  # fmt: skip
# Sessions are not an event table: their columns in the order of bootstrap_sql's table.
SESSION_COLUMNS = (
    "id", "user_id", "token", "expires_at", "created_at", "last_accessed", "ip_address",
    "user_agent", "is_active", "session_data", "login_method", "mfa_verified",
)  # fmt: skip
SESSION_ROW = RowFormat("sessions", SESSION_COLUMNS, order=SESSION_COLUMNS)


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class ToolSpec:
    name: str
    operation: str
    weight: float  # relative popularity inside its BCP
    median_ms: float
    sigma: float  # lognormal spread
    base_error: float  # probability of a failure outside incidents
    response_bytes: int  # median response size
    params: tuple[str, ...]  # argument names drawn for the call
    #: indexes of the BCP's versions whose tools/list advertises it (None: every version)
    listed_in: tuple[int, ...] | None = None


@dataclass(frozen=True)
class BcpSpec:
    name: str
    weight: float
    #: its releases in order; the first is live at the start
    versions: tuple[str, ...]
    tools: tuple[ToolSpec, ...]
    #: when each later version is deployed, as a fraction of the span (one per version after
    #: the first)
    deploys: tuple[float, ...] = ()


def _t(name, op, weight, median, sigma, err, size, *params, listed_in=None) -> ToolSpec:
    return ToolSpec(name, op, weight, median, sigma, err, size, params, listed_in)


CATALOGUE: tuple[BcpSpec, ...] = (
    BcpSpec("hubspot-crm", 0.38, ("3.4.2", "3.5.0", "3.5.1"), (
        _t("search_contacts", "search", 30, 140, 0.55, 0.012, 5200, "query", "limit"),
        _t("get_contact", "read", 22, 55, 0.40, 0.006, 1800, "contact_id"),
        _t("create_contact", "create", 7, 260, 0.45, 0.030, 900, "email", "firstname"),
        _t("update_deal", "update", 8, 310, 0.50, 0.025, 1100, "deal_id", "stage"),
        _t("list_deals", "read", 14, 190, 0.60, 0.010, 7400, "pipeline", "limit"),
        _t("associate_objects", "update", 5, 230, 0.45, 0.020, 400, "from_id", "to_id"),
        # deprecated: gone from tools/list since 3.5.0, still served, still called
        _t("get_contact_v1", "read", 1.5, 60, 0.40, 0.006, 1700, "contact_id", listed_in=(0,)),
    ), deploys=(0.35, 0.72)),
    BcpSpec("hubspot-marketing", 0.22, ("2.1.0", "2.2.1"), (
        _t("list_campaigns", "read", 20, 210, 0.50, 0.010, 6100, "status", "limit"),
        _t("get_email_stats", "read", 18, 780, 0.70, 0.015, 3300, "email_id"),
        _t("create_email_draft", "create", 6, 420, 0.50, 0.035, 1500, "name", "template_id"),
        _t("get_form_submissions", "read", 12, 350, 0.65, 0.012, 9800, "form_id", "limit"),
        _t("run_attribution_report", "report", 4, 2600, 0.80, 0.040, 21000, "report", "range"),
    ), deploys=(0.5,)),
    BcpSpec("hubspot-sales", 0.17, ("1.8.4", "1.9.0"), (
        _t("list_sequences", "read", 16, 160, 0.45, 0.008, 2500, "owner_id"),
        _t("enroll_in_sequence", "create", 6, 380, 0.50, 0.040, 600, "sequence_id", "contact_id"),
        _t("get_meeting_links", "read", 10, 95, 0.40, 0.005, 1200, "owner_id"),
        _t("log_call", "create", 9, 240, 0.45, 0.020, 700, "contact_id", "duration"),
    ), deploys=(0.42,)),
    BcpSpec("hubspot-service", 0.15, ("4.0.1", "4.0.3"), (
        _t("search_tickets", "search", 18, 170, 0.55, 0.012, 4800, "query", "status"),
        _t("create_ticket", "create", 6, 330, 0.45, 0.030, 800, "subject", "priority"),
        _t("update_ticket_status", "update", 7, 260, 0.45, 0.020, 500, "ticket_id", "status"),
        _t("get_kb_article", "read", 9, 120, 0.50, 0.006, 6600, "article_id"),
    ), deploys=(0.63,)),
    BcpSpec("hubspot-cms", 0.08, ("1.2.0", "1.3.0"), (
        _t("list_pages", "read", 12, 230, 0.50, 0.010, 8800, "domain", "limit"),
        _t("get_page", "read", 10, 150, 0.45, 0.008, 14000, "page_id"),
        _t("publish_page", "update", 3, 1500, 0.60, 0.050, 700, "page_id"),
        _t("search_blog_posts", "search", 7, 280, 0.60, 0.012, 9100, "query", "limit"),
        # advertised, never called
        _t("export_site_backup", "report", 0, 3000, 0.50, 0.020, 500, "domain"),
    ), deploys=(0.55,)),
)  # fmt: skip

#: The real regression: in this BCP's newest version this tool is slower and fails more often
#: by the server's fault (what analytics.tool_regressions must report, and nothing else).
REGRESSION = ("hubspot-marketing", "get_email_stats")
REGRESSION_SLOWDOWN = 1.6
REGRESSION_EXTRA_ERRORS = 0.05
#: The tool whose definition changes with the first release of its BCP (inventory drift).
CHANGED_DEFINITION = ("hubspot-crm", "search_contacts")

STATELESS_PROTOCOL = "2026-07-28"


@dataclass(frozen=True)
class ClientSpec:
    name: str
    version: str
    weight: float
    protocol: str  # the MCP revision it speaks (2026-07-28: stateless, no session id)
    #: (fraction of the span, version, protocol): the client upgrades then
    upgrade: tuple[float, str, str] | None = None


CLIENTS: tuple[ClientSpec, ...] = (
    ClientSpec("claude-desktop", "0.12.4", 0.40, "2025-06-18"),
    ClientSpec("cursor", "1.4.2", 0.22, "2025-11-25", upgrade=(0.6, "1.5.0", STATELESS_PROTOCOL)),
    ClientSpec("vscode-copilot", "1.103.0", 0.18, "2025-11-25"),
    ClientSpec("claude-code", "2.1.0", 0.12, STATELESS_PROTOCOL),
    ClientSpec("python-mcp-client", "2.3.0", 0.05, STATELESS_PROTOCOL),
    ClientSpec("mcp-inspector", "0.16.2", 0.03, "2025-06-18"),
)
CLIENT_INFO_META = "io.modelcontextprotocol/clientInfo"


@dataclass(frozen=True)
class ErrorKind:
    code: str
    category: str  # authentication | database | external_api | validation
    status: int  # HTTP status of the request carrying the call
    level: str
    severity: int
    message: str
    raised: bool  # an exception (stack trace) rather than a tool result with isError
    weight: float
    #: the call's error_code as the SDK instrumentation records it: "tool_error" for a result
    #: with isError, the JSON-RPC code of an error answer, the exception's type
    wire_code: str = "tool_error"
    #: whether the server logs it to error_logs (a cancellation by the client is not logged)
    logged: bool = True

    @property
    def error_class(self) -> str:
        """Its class (docs/analytics.md), as ingest would compute it."""
        return error_class(False, self.wire_code)


ERROR_KINDS: tuple[ErrorKind, ...] = (
    ErrorKind("INVALID_ARGUMENT", "validation", 400, "warn", 2,
              "invalid argument '{arg}': value does not match the tool's input schema", False, 34,
              "-32602"),
    ErrorKind("NOT_FOUND", "validation", 404, "warn", 1,
              "object not found for '{arg}'", False, 18),
    ErrorKind("TOKEN_EXPIRED", "authentication", 401, "error", 3,
              "HubSpot OAuth token expired; refresh failed", False, 10),
    ErrorKind("RATE_LIMITED", "external_api", 429, "warn", 3,
              "HubSpot API rate limit reached (100 requests / 10 s)", False, 14),
    ErrorKind("UPSTREAM_TIMEOUT", "external_api", 504, "error", 4,
              "HubSpot API did not answer within 10 s", True, 12, "httpx.ReadTimeout"),
    ErrorKind("UPSTREAM_5XX", "external_api", 502, "error", 4,
              "HubSpot API answered 503 Service Unavailable", True, 6, "httpx.HTTPStatusError"),
    ErrorKind("DB_POOL_EXHAUSTED", "database", 500, "error", 4,
              "connection pool exhausted: no connection available within 5 s", True, 4,
              "psycopg_pool.PoolTimeout"),
    ErrorKind("DB_DEADLOCK", "database", 500, "fatal", 5,
              "deadlock detected while updating the cache table", True, 2,
              "psycopg.errors.DeadlockDetected"),
    ErrorKind("CANCELLED", "external_api", 499, "warn", 1,
              "request cancelled by the client", False, 4, "-32800", logged=False),
)  # fmt: skip
_BY_CODE = {k.code: k for k in ERROR_KINDS}
_IMPACT = {1: "low", 2: "low", 3: "medium", 4: "high", 5: "critical"}


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class WorkloadSpec:
    days: int = 30
    tool_calls: int = 1_000_000
    seed: int = 42
    end: datetime = field(default_factory=lambda: default_end())
    users: int = 300
    #: share of the calls of the last three days that arrive late
    late_share: float = 0.05

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError("days must be at least 1")
        if self.tool_calls < 1:
            raise ValueError("tool_calls must be at least 1")
        if self.end.tzinfo is None:
            raise ValueError("end must carry a time zone")

    @property
    def start(self) -> datetime:
        """The first instant of the workload: `end` minus `days` days (UTC-aware)."""
        return self.end - timedelta(days=self.days)

    @property
    def tag(self) -> str:
        """Short fingerprint of the batch: its ids carry it, so reruns find themselves."""
        raw = f"{self.seed}|{self.days}|{self.tool_calls}|{self.end.isoformat()}|{self.users}"
        return hashlib.sha256(raw.encode()).hexdigest()[:8]


def default_end() -> datetime:
    """Now, truncated to the hour: two runs within the same hour describe the same batch."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


# --------------------------------------------------------------------------- helpers


def _cum(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def _pick(rng_random: Callable[[], float], cum: list[float]) -> int:
    return bisect(cum, rng_random() * cum[-1])


def _slots(cum: list[float]) -> list[int]:
    total = cum[-1]
    return [bisect(cum, (i + 0.5) * total / POOL) for i in range(POOL)]


def canonical_json(value: object) -> str:
    """Canonical JSON (sorted keys, no spaces): what parameters_hash is computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def copy_escape(text: str) -> str:
    """Escape a value for COPY's text format."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _json_field(value: object) -> str:
    return copy_escape(json.dumps(value, separators=(",", ":")))


_SECOND_TEXT = [f"{ms // 1000:02d}.{ms % 1000:03d}+00" for ms in range(MINUTE_MS)]
POOL = 4096  # size of the pools of pre-drawn values the hot loop indexes into


def percentile(sorted_values: list[int], q: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _stack_trace(kind: ErrorKind, bcp: str, tool: str) -> str:
    module = bcp.replace("-", "_")
    frames = {
        "external_api": [
            (f"{module}/tools/{tool}.py", 88, tool),
            (f"{module}/client.py", 214, "request"),
            ("httpx/_client.py", 1629, "send"),
        ],
        "database": [
            (f"{module}/tools/{tool}.py", 61, tool),
            (f"{module}/cache.py", 132, "store"),
            ("psycopg/connection.py", 304, "execute"),
        ],
    }.get(kind.category, [(f"{module}/tools/{tool}.py", 40, tool)])
    exc = {
        "UPSTREAM_TIMEOUT": "httpx.ReadTimeout",
        "UPSTREAM_5XX": "httpx.HTTPStatusError",
        "DB_POOL_EXHAUSTED": "psycopg_pool.PoolTimeout",
        "DB_DEADLOCK": "psycopg.errors.DeadlockDetected",
    }.get(kind.code, "RuntimeError")
    lines = ["Traceback (most recent call last):"]
    lines.append('  File "mcp/server/mcpserver/server.py", line 548, in call_tool')
    for path, line, func in frames:
        lines.append(f'  File "{path}", line {line}, in {func}')
    lines.append(f"{exc}: {kind.message}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- generator


@dataclass
class User:
    id: int
    client: int  # index into CLIENTS
    ips: tuple[str, ...]
    focus: int  # favourite BCP index


@dataclass
class Incident:
    bcp: int
    start_ms: int
    end_ms: int
    error_rate: float
    kind: ErrorKind
    slowdown: float


@dataclass
class Batch:
    """Lines for one month (key = first day of the month, UTC)."""

    tool: list[str] = field(default_factory=list)
    request: list[str] = field(default_factory=list)


@dataclass
class Totals:
    tool_calls: int = 0
    requests: int = 0
    errors: int = 0
    sessions: int = 0
    late_tool_calls: int = 0
    late_requests: int = 0
    failed_calls: int = 0


class Generator:
    """Produces the workload day by day; the loader drains `batches` as months complete."""

    def __init__(self, spec: WorkloadSpec, user_ids: list[int], admin_id: int | None) -> None:
        if not user_ids:
            raise ValueError("the workload needs at least one user")
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.start_ms = int(spec.start.timestamp() * 1000)
        self.end_ms = int(spec.end.timestamp() * 1000)
        self.tag = spec.tag
        self.admin_id = admin_id
        self.totals = Totals()
        self.late_tool: list[str] = []
        self.late_request: list[str] = []
        self.errors: list[str] = []
        self.sessions: list[str] = []
        self._exec_seq = 0
        self._req_seq = 0
        self._sess_seq = 0
        rng = self.rng

        # Users: Zipf-like activity, a preferred client and BCP, one or two IP addresses.
        client_cum = _cum([c.weight for c in CLIENTS])
        bcp_cum = _cum([b.weight for b in CATALOGUE])
        self.users = [
            User(
                id=uid,
                client=_pick(rng.random, client_cum),
                ips=tuple(
                    f"{rng.choice((10, 172, 192))}.{rng.randrange(256)}.{rng.randrange(256)}."
                    f"{rng.randrange(1, 255)}"
                    for _ in range(rng.choice((1, 1, 2)))
                ),
                focus=_pick(rng.random, bcp_cum),
            )
            for uid in user_ids
        ]
        self.user_cum = _cum([1.0 / (rank + 1) ** 0.9 for rank in range(len(self.users))])

        # Tools flattened with global weights; per-BCP cumulative weights for focused sessions.
        self.tools: list[tuple[int, ToolSpec]] = []
        self.bcp_tool_cum: list[tuple[list[int], list[float]]] = []
        for b_idx, bcp in enumerate(CATALOGUE):
            idx = []
            for tool in bcp.tools:
                idx.append(len(self.tools))
                self.tools.append((b_idx, tool))
            self.bcp_tool_cum.append((idx, _cum([t.weight for t in bcp.tools])))
        tool_total = {b: sum(t.weight for t in CATALOGUE[b].tools) for b in range(len(CATALOGUE))}
        self.tool_cum = _cum(
            [CATALOGUE[b].weight * t.weight / tool_total[b] for b, t in self.tools]
        )

        # Per tool: pools of (parameters text, hash) and response JSON, so calls repeat their
        # arguments the way real traffic does (and generation stays cheap).
        self.param_pool = [self._param_pool(t) for _, t in self.tools]
        self.response_pool = [self._response_pool(t) for _, t in self.tools]
        self.request_body = [
            _json_field({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": t.name}})
            for _, t in self.tools
        ]
        self.latency_pool = [self._latency_pool(t) for _, t in self.tools]
        # Weighted choices as lookup tables (a slot per 1/POOL of probability): one index
        # instead of a bisect per call.
        self.tool_slots = _slots(self.tool_cum)
        self.focus_slots = [[idx[i] for i in _slots(cum)] for idx, cum in self.bcp_tool_cum]
        self.gap_pool = [int(rng.expovariate(1 / 18_000)) + 200 for _ in range(POOL)]
        self.size_pool = [
            [int(rng.lognormvariate(math.log(t.response_bytes), 0.7)) for _ in range(POOL)]
            for _, t in self.tools
        ]
        self.mem_pool = [f"{rng.uniform(90, 420):.2f}" for _ in range(POOL)]
        self.cpu_pool = [f"{min(99.0, rng.lognormvariate(2.6, 0.6)):.2f}" for _ in range(POOL)]
        self.open_body = {
            m: _json_field({"jsonrpc": "2.0", "method": m}) for m in ("initialize", "tools/list")
        }
        self._minute_text: dict[int, str] = {}
        # Metrics: per-minute samples for the last MINUTE_METRIC_DAYS days (what the seed's
        # performance_metrics_summary looks at), hourly per-BCP samples for the whole span.
        self.metric_from_ms = max(self.start_ms, self.end_ms - MINUTE_METRIC_DAYS * DAY_MS)
        self.metric_from_ms -= self.metric_from_ms % MINUTE_MS
        self.minute_stats: dict[int, list] = {}  # minute -> [failed, durations]
        self.hour_stats: dict[tuple[int, int], list[int]] = {}  # (bcp, hour) -> durations
        self.error_cum = _cum([k.weight for k in ERROR_KINDS])
        self.stacks = {
            (b, t.name, k.code): copy_escape(_stack_trace(k, CATALOGUE[b].name, t.name))
            for b, t in self.tools
            for k in ERROR_KINDS
            if k.raised
        }

        # Deploys (tool_version changes) and incidents (error bursts with slowdowns).
        span = self.end_ms - self.start_ms
        self.deploy_ms = [[self.start_ms + int(span * f) for f in b.deploys] for b in CATALOGUE]
        self.upgrade_ms = [
            self.start_ms + int(span * c.upgrade[0]) if c.upgrade else self.end_ms for c in CLIENTS
        ]
        # The regression: a tool of one BCP, in that BCP's newest version.
        self.regression_tool = next(
            i for i, (b, t) in enumerate(self.tools) if (CATALOGUE[b].name, t.name) == REGRESSION
        )
        self.regression_version = len(CATALOGUE[self.tools[self.regression_tool][0]].versions) - 1
        self.regression_kind = _BY_CODE["UPSTREAM_5XX"]
        self.meta_body: dict[tuple[str, str, str], str] = {}
        self.incidents: list[list[Incident]] = [[] for _ in CATALOGUE]
        n_incidents = max(2, round(spec.days / 4))
        regressed_bcp = self.tools[self.regression_tool][0]
        for _ in range(n_incidents):
            b = _pick(rng.random, bcp_cum)
            while b == regressed_bcp:
                # None on the regressed BCP: its comparison shows what the release changed.
                b = _pick(rng.random, bcp_cum)
            length = rng.randrange(10, 120) * MINUTE_MS
            # Before the BCP's latest release: an incident is not what a release changed, so
            # the release comparison sees only the regression built in.
            latest = self.deploy_ms[b][-1] if self.deploy_ms[b] else self.end_ms - HOUR_MS
            start = self.start_ms + rng.randrange(max(1, latest - self.start_ms - length))
            kind = _BY_CODE[rng.choice(("UPSTREAM_5XX", "UPSTREAM_TIMEOUT", "RATE_LIMITED",
                                        "DB_POOL_EXHAUSTED", "TOKEN_EXPIRED"))]  # fmt: skip
            self.incidents[b].append(
                Incident(
                    b, start, start + length, rng.uniform(0.25, 0.6), kind, rng.uniform(1.5, 4.0)
                )  # fmt: skip
            )

        # Daily volume: weekdays busier than weekends, a gentle growth, some noise.
        # Day 0 is the day before the start: the first requests precede the span by milliseconds.
        day0 = (spec.start - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        self.day0_ms = int(day0.timestamp() * 1000)
        n_days = math.ceil((self.end_ms - self.day0_ms) / DAY_MS)
        weights = []
        for d in range(n_days):
            day = day0 + timedelta(days=d)
            w = (0.45 if day.weekday() >= 5 else 1.0) * (1 + 0.01 * d) * rng.uniform(0.9, 1.1)
            # The first and last days are partial.
            lo = max(self.start_ms, self.day0_ms + d * DAY_MS)
            hi = min(self.end_ms, self.day0_ms + (d + 1) * DAY_MS)
            weights.append(w * max(0, hi - lo) / DAY_MS)
        total_w = sum(weights)
        raw = [spec.tool_calls * w / total_w for w in weights]
        counts = [int(x) for x in raw]
        # Largest remainders: the days add up to exactly tool_calls.
        for d in sorted(range(n_days), key=lambda i: raw[i] - counts[i], reverse=True)[
            : spec.tool_calls - sum(counts)
        ]:
            counts[d] += 1
        self.day_counts = counts
        # Session start minute of day: a business-hours hump (UTC, Europe + Americas).
        self.minute_cum = _cum(
            [0.15 + math.exp(-(((m / 60) - 15.5) ** 2) / 18) for m in range(1440)]
        )
        self.dates = [(day0 + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(n_days + 2)]
        last = spec.end - timedelta(milliseconds=1)
        month_start = last.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        self.fold_floor = max(self.start_ms, int(month_start.timestamp() * 1000))
        # Lines are routed to their month by day index: day -> "YYYY-MM".
        self.day_month = [date[:7] for date in self.dates]

    # -- pools ------------------------------------------------------------------------------

    def _param_value(self, name: str) -> object:
        rng = self.rng
        if name.endswith("_id"):
            return str(rng.randrange(10_000, 99_999_999))
        if name == "limit":
            return rng.choice((10, 20, 50, 100))
        if name == "query":
            return rng.choice(("acme", "renewal", "enterprise", "churn risk", "q3 pipeline",
                               "onboarding", "invoice", "gdpr", "webinar", "pricing"))  # fmt: skip
        if name == "email":
            return f"lead{rng.randrange(100_000)}@example.com"
        if name in ("status", "stage", "priority"):
            return rng.choice(("open", "closed", "pending", "won", "lost", "high", "low"))
        if name == "range":
            return rng.choice(("7d", "30d", "90d", "ytd"))
        if name == "duration":
            return rng.randrange(30, 3600)
        return rng.choice(("alpha", "beta", "gamma", "delta"))

    def _param_pool(self, tool: ToolSpec) -> list[tuple[str, str]]:
        pool = []
        for _ in range(256):
            params = {name: self._param_value(name) for name in tool.params}
            text = canonical_json(params)
            pool.append((copy_escape(text), hashlib.sha256(text.encode()).hexdigest()))
        return pool

    def _latency_pool(self, tool: ToolSpec) -> list[float]:
        rng = self.rng
        mu = math.log(tool.median_ms)
        pool = []
        for _ in range(POOL):
            dur = rng.lognormvariate(mu, tool.sigma)
            if rng.random() < 0.02:
                dur *= rng.uniform(4, 15)  # the slow tail: cold caches, retries upstream
            pool.append(dur)
        return pool

    def _response_pool(self, tool: ToolSpec) -> list[str]:
        rng = self.rng
        pool = []
        for _ in range(64):
            if tool.operation in ("read", "search", "report"):
                n = rng.randrange(0, 50)
                body = {"total": n, "has_more": n >= 20,
                        "results": [{"id": str(rng.randrange(10**6, 10**8))}
                                    for _ in range(min(n, 3))]}  # fmt: skip
            else:
                body = {"id": str(rng.randrange(10**6, 10**8)), "status": "ok"}
            pool.append(_json_field({"content": [{"type": "text", "text": json.dumps(body)}]}))
        return pool

    # -- generation -------------------------------------------------------------------------

    def month_key(self, ms: int) -> str:
        """The month ("YYYY-MM", UTC) of an instant in milliseconds since the epoch."""
        return self.day_month[(ms - self.day0_ms) // DAY_MS]

    def days(self) -> Iterator[int]:
        """The day indexes to pass to `generate_day`, first to last."""
        return iter(range(len(self.day_counts)))

    def generate_day(self, d: int, out: dict[str, Batch]) -> None:
        """Generate day `d`'s sessions and calls; lines go to `out[month]` by their timestamp."""
        remaining = self.day_counts[d]
        rng = self.rng
        rand = rng.random
        day_ms = self.day0_ms + d * DAY_MS
        lo = max(self.start_ms, day_ms)
        hi = min(self.end_ms, day_ms + DAY_MS)
        while remaining > 0:
            n_calls = min(remaining, 1 + int(rng.lognormvariate(2.7, 0.9)))
            remaining -= n_calls
            start = day_ms + _pick(rand, self.minute_cum) * MINUTE_MS + rng.randrange(MINUTE_MS)
            if not lo <= start < hi:
                start = lo + rng.randrange(max(1, hi - lo))
            self._session(start, n_calls, out)

    # The hot loop (one pass per generated call): kept in one frame, where locals are cheap.
    def _session(self, start: int, n_calls: int, out: dict[str, Batch]) -> None:  # noqa: C901
        rng = self.rng
        rand = rng.random
        tools = self.tools
        ts_text = self._ts
        user = self.users[_pick(rand, self.user_cum)]
        anonymous = rand() < 0.04
        user_txt = NULL if anonymous else str(user.id)
        client = CLIENTS[user.client]
        client_name, client_version, protocol = client.name, client.version, client.protocol
        if client.upgrade is not None and start >= self.upgrade_ms[user.client]:
            _, client_version, protocol = client.upgrade
        # 2026-07-28 is stateless: no transport session, no initialize, clientInfo in _meta.
        stateless = protocol == STATELESS_PROTOCOL
        ua = f"{client_name}/{client_version} (mcp/2.3.0)"
        ip = user.ips[int(rand() * len(user.ips))]
        self._sess_seq += 1
        sid = NULL if stateless else f"sess-{self.tag}-{self._sess_seq:06d}"
        self.totals.sessions += 1
        header_values = {
            "content-type": "application/json", "authorization": "[REDACTED]",
            "user-agent": ua, "mcp-protocol-version": protocol,
        }  # fmt: skip
        if not stateless:
            header_values["mcp-session-id"] = sid
        headers = _json_field(header_values)
        client_tail = (client_name, client_version, protocol, "tcp")
        tool_line, request_line = TOOL_ROW.line, REQUEST_ROW.line
        focus_slots = self.focus_slots[user.focus]
        tool_slots = self.tool_slots
        gaps = self.gap_pool
        end_ms = self.end_ms
        late_from = end_ms - LATE_WINDOW_MS
        late_share = self.spec.late_share
        mem_pool, cpu_pool = self.mem_pool, self.cpu_pool
        tag = self.tag

        # A session opens with initialize and tools/list (requests without tool calls); a
        # stateless client only lists the tools.
        t = start
        for method in ("tools/list",) if stateless else ("initialize", "tools/list"):
            self._req_seq += 1
            seq = self._req_seq
            dur = int(rng.lognormvariate(2.5, 0.4))
            size = 300 + int(rand() * 3700)
            queue = int(rand() * 3)
            body = (
                self._meta_body(method, None, client_name, client_version)
                if stateless
                else self.open_body[method]
            )
            line = request_line((
                f"rq-{tag}-{seq}", "POST", "/mcp", NULL, headers, body, "200",
                NULL, NULL, str(size), str(dur), str(queue), str(dur), "t", NULL, user_txt, sid,
                ts_text(t), ua, ip, client_version, sid, NULL, NULL,
            ))  # fmt: skip
            self._route_request(line, t, out)
            self.totals.requests += 1
            t += dur + 5 + int(rand() * 400)

        last = t
        for _ in range(n_calls):
            t += gaps[int(rand() * POOL)]
            if t >= end_ms:
                # Keep the count exact: a session running past the end folds back before it
                # (into the end's month, whose stream is still open).
                t = max(self.fold_floor, end_ms - 1 - int(rand() * HOUR_MS))
            tool_i = (
                focus_slots[int(rand() * POOL)] if rand() < 0.6 else tool_slots[int(rand() * POOL)]
            )
            b_idx, tool = tools[tool_i]
            bcp = CATALOGUE[b_idx]
            v = 0
            for deployed_at in self.deploy_ms[b_idx]:
                if t >= deployed_at:
                    v += 1
            version = bcp.versions[v]
            # Latency: the tool's pool holds lognormal draws with their slow tail already in.
            latency = self.latency_pool[tool_i][int(rand() * POOL)]
            if v and b_idx % 2 == 0:
                latency *= 0.85  # the releases made the even BCPs a bit faster
            regressed = tool_i == self.regression_tool and v == self.regression_version
            if regressed:
                latency *= REGRESSION_SLOWDOWN
            kind = None
            for inc in self.incidents[b_idx]:
                if inc.start_ms <= t < inc.end_ms:
                    latency *= inc.slowdown
                    if rand() < inc.error_rate:
                        kind = inc.kind
                    break
            if kind is None and rand() < tool.base_error:
                kind = ERROR_KINDS[_pick(rand, self.error_cum)]
            if kind is None and regressed and rand() < REGRESSION_EXTRA_ERRORS:
                kind = self.regression_kind
            cache_hit = tool.operation in ("read", "search") and rand() < 0.18
            if cache_hit:
                latency = latency * 0.08 + 2
            if kind is not None and kind.code == "UPSTREAM_TIMEOUT":
                latency = max(latency, 10_000 + rand() * 500)
            duration = int(latency) + 1
            params, phash = self.param_pool[tool_i][int(rand() * 256)]
            self._exec_seq += 1
            eid = f"ex-{tag}-{self._exec_seq}"
            self._req_seq += 1
            seq = self._req_seq
            rid = f"rq-{tag}-{seq}"
            ts = ts_text(t)
            mem, cpu = mem_pool[int(rand() * POOL)], cpu_pool[int(rand() * POOL)]
            if kind is None:
                size = self.size_pool[tool_i][int(rand() * POOL)]
                call = tool_line((
                    eid, bcp.name, tool.name, tool.operation, params,
                    self.response_pool[tool_i][int(rand() * 64)], NULL, NULL, NULL, str(duration),
                    mem, cpu, "t", version, user_txt, sid, rid, ts, ip, ua, phash, str(size),
                    "t" if cache_hit else "f", *client_tail, "ok",
                ))  # fmt: skip
                status, success, err_type = 200, "t", NULL
            else:
                self.totals.failed_calls += 1
                message = kind.message.format(arg=tool.params[0])
                stack = self.stacks[(b_idx, tool.name, kind.code)] if kind.raised else NULL
                size = 120
                call = tool_line((
                    eid, bcp.name, tool.name, tool.operation, params, NULL, message, stack,
                    kind.wire_code, str(duration), mem, cpu, "f", version, user_txt, sid, rid, ts,
                    ip, ua, phash, str(size), "f", *client_tail, kind.error_class,
                ))  # fmt: skip
                status, success, err_type = kind.status, "f", kind.category
                self._error_row(kind, message, stack, bcp.name, tool.name, phash, version,
                                user_txt, sid, rid, eid, t)  # fmt: skip
            queue = int(rand() * 4) if rand() < 0.97 else 20 + int(rand() * 380)
            req_t = t - queue - 1
            body = (
                self._meta_body("tools/call", tool.name, client_name, client_version)
                if stateless
                else self.request_body[tool_i]
            )
            req_line = request_line((
                rid, "POST", "/mcp", NULL, headers, body, str(status), NULL,
                NULL, str(size + 90), str(duration + queue + 2), str(queue), str(duration + 1),
                success, err_type, user_txt, sid, ts_text(req_t), ua, ip, client_version, sid,
                NULL, NULL,
            ))  # fmt: skip
            self.totals.tool_calls += 1
            self.totals.requests += 1
            if t >= late_from and rand() < late_share:
                # Late: the exporter buffered these; they are written after everything else.
                self.late_tool.append(call)
                self.late_request.append(req_line)
                self.totals.late_tool_calls += 1
                self.totals.late_requests += 1
            else:
                self._batch(out, t).tool.append(call)
                self._route_request(req_line, req_t, out)
                # Metrics see the calls that arrived on time (late ones were not there yet).
                hour = self.hour_stats.get((b_idx, t // HOUR_MS))
                if hour is None:
                    hour = self.hour_stats[(b_idx, t // HOUR_MS)] = []
                hour.append(duration)
                if t >= self.metric_from_ms:
                    minute = self.minute_stats.get(t // MINUTE_MS)
                    if minute is None:
                        minute = self.minute_stats[t // MINUTE_MS] = [0, []]
                    minute[1].append(duration)
                    if kind is not None:
                        minute[0] += 1
            if t > last:
                last = t

        if not anonymous and not stateless:
            self._session_row(sid, user, start, last, ip, ua, client_name, client_version)

    def _meta_body(self, method: str, tool: str | None, client: str, version: str) -> str:
        """A 2026-07-28 request's body: clientInfo travels in each request's `_meta`."""
        key = (method, tool or "", f"{client}/{version}")
        body = self.meta_body.get(key)
        if body is None:
            params: dict[str, object] = {
                "_meta": {CLIENT_INFO_META: {"name": client, "version": version}}
            }
            if tool is not None:
                params["name"] = tool
            body = self.meta_body[key] = _json_field(
                {"jsonrpc": "2.0", "method": method, "params": params}
            )
        return body

    def _route_request(self, line: str, t: int, out: dict[str, Batch]) -> None:
        self._batch(out, t).request.append(line)

    def _batch(self, out: dict[str, Batch], ms: int) -> Batch:
        """The batch in `out` of the month of `ms` (created when first needed)."""
        key = self.month_key(ms)
        batch = out.get(key)
        if batch is None:
            batch = out[key] = Batch()
        return batch

    def _ts(self, ms: int) -> str:
        # Formatting numbers is the slowest part of generation: minutes and "SS.mmm+00" tails
        # are formatted once and reused.
        minute, rem = divmod(ms - self.day0_ms, MINUTE_MS)
        prefix = self._minute_text.get(minute)
        if prefix is None:
            d, m = divmod(minute, 1440)
            prefix = self._minute_text[minute] = f"{self.dates[d]} {m // 60:02d}:{m % 60:02d}:"
        return prefix + _SECOND_TEXT[rem]

    def _error_row(self, kind: ErrorKind, message: str, stack: str, bcp: str, tool: str,
                   phash: str, version: str, user_txt: str, sid: str, rid: str, eid: str,
                   t: int) -> None:  # fmt: skip
        rng = self.rng
        if not kind.logged:
            return
        # Validation noise is mostly not logged as an error; everything else is.
        if kind.category == "validation" and rng.random() > 0.25:
            return
        self.totals.errors += 1
        ts = self._ts(t)
        resolved = t < self.end_ms - 2 * DAY_MS and rng.random() < 0.7
        if resolved:
            fixed = t + rng.randrange(HOUR_MS, 2 * DAY_MS)
            resolution = (
                "t",
                f"Fixed in {version}; see runbook {kind.code.lower()}",
                NULL if self.admin_id is None else str(self.admin_id),
                self._ts(fixed),
            )
        else:
            resolution = ("f", NULL, NULL, NULL)
        context = _json_field(
            {"bcp": bcp, "http_status": kind.status, "attempt": rng.randrange(1, 4)}
        )
        tool_context = _json_field({"tool_name": tool, "parameters_hash": phash})
        self.errors.append(ERROR_ROW.line((
            ts, kind.level, copy_escape(f"{tool}: {message}"), stack, kind.code, kind.category,
            str(kind.severity), _IMPACT[kind.severity], context, tool_context, user_txt, sid, rid,
            eid, *resolution, "production", version, f"deploy-{bcp}-{version}", "1", ts, ts,
        )))  # fmt: skip

    def _session_row(self, sid: str, user: User, start: int, last: int, ip: str, ua: str,
                     client: str, version: str) -> None:  # fmt: skip
        token_hash = hashlib.sha256(f"{self.tag}:{sid}:{self.rng.getrandbits(64)}".encode())
        expires = start + DAY_MS
        data = _json_field({"client": client, "client_version": version,
                            "transport": "streamable-http"})  # fmt: skip
        active = "t" if expires > self.end_ms else "f"
        self.sessions.append(SESSION_ROW.line((
            sid, str(user.id), token_hash.hexdigest(), self._ts(expires), self._ts(start),
            self._ts(max(last, start)), ip, ua, active, data, "oauth", "f",
        )))  # fmt: skip

    def login_failures(self) -> None:
        """Failed dashboard logins: authentication errors with no tool call behind them."""
        rng = self.rng
        n = max(3, self.spec.tool_calls // 2000)
        for _ in range(n):
            t = self.start_ms + rng.randrange(self.end_ms - self.start_ms)
            user = rng.choice(self.users)
            ts = self._ts(t)
            context = _json_field({"ip": rng.choice(user.ips), "reason": "bad_password",
                                   "login_method": "password"})  # fmt: skip
            self.totals.errors += 1
            self.errors.append(ERROR_ROW.line((
                ts, "warn", f"login failed for user {user.id}", NULL, "AUTH_FAILED",
                "authentication", "2", "low", context, NULL, str(user.id), NULL, NULL, NULL, "f",
                NULL, NULL, NULL, "production", NULL, NULL, "1", ts, ts,
            )))  # fmt: skip

    def metrics(self) -> list[str]:
        """performance_metrics lines computed from the calls that arrived on time."""
        rng = self.rng
        metric = METRIC_ROW.line
        lines = []
        first = self.metric_from_ms // MINUTE_MS
        last = (self.end_ms - 1) // MINUTE_MS
        for minute in range(first, last + 1):
            failed, durations = self.minute_stats.get(minute, (0, []))
            n = len(durations)
            p95 = percentile(sorted(durations), 0.95) if n else 0.0
            jitter = rng.random()
            ts = self._ts(minute * MINUTE_MS)
            values = (
                ("mcp.tool_calls", f"{n}", "counter", "count"),
                ("mcp.tool_error_rate", f"{100.0 * failed / max(n, 1):.4f}", "gauge", "percent"),
                ("mcp.tool_latency_p95", f"{p95:.4f}", "histogram", "ms"),
                ("process.cpu_usage", f"{min(99.0, 4 + n * 0.9 + 6 * jitter):.4f}", "gauge",
                 "percent"),
                ("process.memory_usage", f"{(180 + n * 0.6 + 40 * jitter) * 1048576:.4f}",
                 "gauge", "bytes"),
            )  # fmt: skip
            for name, value, kind, unit in values:
                lines.append(metric((ts, name, value, kind, unit, "{}", "1m", "mcp-server")))
        for (b_idx, hour), durations in sorted(self.hour_stats.items()):
            labels = _json_field({"bcp": CATALOGUE[b_idx].name})
            ts = self._ts(hour * HOUR_MS)
            p95 = percentile(sorted(durations), 0.95)
            lines.append(metric((
                ts, "mcp.tool_calls", str(len(durations)), "counter", "count", labels, "1h",
                "mcp-server",
            )))  # fmt: skip
            lines.append(metric((
                ts, "mcp.tool_latency_p95", f"{p95:.4f}", "histogram", "ms", labels, "1h",
                "mcp-server",
            )))  # fmt: skip
        return lines


# --------------------------------------------------------------------------- inventory

_DESCRIPTIONS = {
    "search": "Search HubSpot {what} by text.",
    "read": "Read HubSpot {what}.",
    "create": "Create a HubSpot {what} record.",
    "update": "Update HubSpot {what}.",
    "report": "Run a HubSpot {what} report.",
}
_INTEGER_PARAMS = ("limit", "duration")


def tool_definition(bcp_index: int, version_index: int, tool: ToolSpec) -> dict[str, object]:
    """The tools/list entry (wire form) of `tool` as version `version_index` of BCP
    `bcp_index` advertises it. CHANGED_DEFINITION gains a `properties` argument and a new
    description from the BCP's second version on."""
    bcp = CATALOGUE[bcp_index]
    what = tool.name.split("_", 1)[-1].replace("_", " ")
    description = _DESCRIPTIONS[tool.operation].format(what=what)
    properties: dict[str, object] = {
        p: {"type": "integer" if p in _INTEGER_PARAMS else "string"} for p in tool.params
    }
    if (bcp.name, tool.name) == CHANGED_DEFINITION and version_index >= 1:
        description = "Search HubSpot contacts by text; returns the requested properties."
        properties["properties"] = {"type": "array", "items": {"type": "string"}}
    definition: dict[str, object] = {
        "name": tool.name,
        "description": description,
        "inputSchema": {
            "type": "object",
            "properties": properties,
            "required": [tool.params[0]],
        },
    }
    if tool.operation in ("read", "search", "report"):
        definition["annotations"] = {"readOnlyHint": True}
    return definition


def advertised_tools(bcp_index: int, version_index: int) -> list[dict[str, object]]:
    """What version `version_index` of BCP `bcp_index` lists in tools/list (wire form)."""
    return [
        tool_definition(bcp_index, version_index, tool)
        for tool in CATALOGUE[bcp_index].tools
        if tool.listed_in is None or version_index in tool.listed_in
    ]


def advertised_inventory(bcp_index: int, version_index: int) -> Inventory:
    """What version `version_index` of BCP `bcp_index` advertises, as a snapshot of its
    inventory reads it: the tools of `advertised_tools` as fingerprinted `Definition`s."""
    bcp = CATALOGUE[bcp_index]
    return Inventory(
        bcp_name=bcp.name,
        server_version=bcp.versions[version_index],
        protocol_version="2025-11-25",
        definitions=tuple(
            definition_of("tool", wire) for wire in advertised_tools(bcp_index, version_index)
        ),
    )


def inventory_snapshots(spec: WorkloadSpec) -> list[tuple[int, int, datetime]]:
    """When the demo's inventory was read: (BCP index, version index, time) at the start, at
    each release and at the end of the span, in time order."""
    out = []
    span = spec.end - spec.start
    for b, bcp in enumerate(CATALOGUE):
        out.append((b, 0, spec.start))
        for v, fraction in enumerate(bcp.deploys, start=1):
            out.append((b, v, spec.start + span * fraction))
        out.append((b, len(bcp.versions) - 1, spec.end - timedelta(minutes=1)))
    return sorted(out, key=lambda s: (s[2], s[0]))

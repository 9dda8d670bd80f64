"""What `mcp-analytics materialize` shows while it runs: a line when each job and each step
starts and ends (with its duration), and during a dbt build a line per node as dbt finishes it.

Nothing is polled. Steps come from Dagster's own events, handed to a listener on the instance
(`DagsterInstance.add_event_listener`) as the run stores them. dbt's nodes come from dbt's
structured log: dagster-dbt reads dbt's JSON log lines as they come and re-emits each event's
message on stdout, which the command sends to its log file through `DbtProgressTee`. A node's
result event (LogModelResult, LogTestResult, ...) reads `N of M STATUS name .... [... in Xs]`
(dbt_common's `format_fancy_output_line`); that line is shown, shortened.

Not a command: `register` is absent on purpose; `mcp_analytics.cli` skips modules without it.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")

#: A node's result line of dbt: index, total, message, the bracket's status and seconds.
_NODE_RESULT = re.compile(
    r"^(?P<index>\d+) of (?P<total>\d+) (?P<message>.+?) \.*\s*"
    r"\[(?P<bracket>[^\]]*?)(?: in (?P<seconds>\d+(?:\.\d+)?)s)?\]$"
)
#: The statuses a finished node's message starts with (FAIL and WARN are followed by a count).
_STATUSES = ("OK", "PASS", "FAIL", "WARN", "ERROR", "SKIP")


@dataclass(frozen=True)
class NodeResult:
    """One dbt node finished: its place in the run (`index` of `total`), status (`OK`, `PASS`,
    `FAIL 3`, `WARN 1`, `ERROR`, `SKIP`), what dbt says it did, and seconds (None: skipped)."""

    index: int
    total: int
    status: str
    what: str
    seconds: float | None

    def line(self) -> str:
        """The progress line: `dbt  12/180 OK      <what>  0.05 s`."""
        width = len(str(self.total))
        took = f"  {self.seconds:.2f} s" if self.seconds is not None else ""
        return f"dbt {self.index:>{width}}/{self.total} {self.status:<7} {self.what}{took}"


def node_result(line: str) -> NodeResult | None:
    """The finished node a line of dbt's output reports, or None (a START line, a summary or
    any other message)."""
    found = _NODE_RESULT.match(_ANSI_COLOUR.sub("", line).strip())
    if found is None or found["bracket"] == "RUN":
        return None
    message = found["message"]
    status = next((s for s in _STATUSES if message.startswith(s + " ") or message == s), None)
    if status is None:
        return None
    what = message[len(status) :].strip()
    if status in ("FAIL", "WARN"):
        count, _, what = what.partition(" ")
        status = f"{status} {count}"
    seconds = float(found["seconds"]) if found["seconds"] else None
    return NodeResult(int(found["index"]), int(found["total"]), status, what, seconds)


class DbtProgressTee(io.TextIOBase):
    """A text stream that writes everything to `log` and hands each complete line that is a
    dbt node's result to `progress` (as `NodeResult.line()`): the command's stdout while a job
    runs."""

    def __init__(self, log: TextIO, progress: Progress) -> None:
        super().__init__()
        self._log = log
        self._progress = progress
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._log.write(text)
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            result = node_result(line)
            if result is not None:
                self._progress.node(result)
        return len(text)

    def flush(self) -> None:
        self._log.flush()


@dataclass
class Progress:
    """Progress lines of one `materialize` on `terminal` (stderr), flushed at once.

    `listener` is the callback for `DagsterInstance.add_event_listener`: step start, success,
    failure and skip become lines; a failed asset check outside a dbt step does too (dbt's
    tests already have their node line)."""

    terminal: TextIO
    log_path: str
    _step_started: dict[str, float] = field(default_factory=dict)
    _current_step: str | None = None
    _dbt_steps: set[str] = field(default_factory=set)

    def say(self, text: str) -> None:
        print(text, file=self.terminal, flush=True)

    def job_started(self, name: str) -> None:
        self.say(f"{name}: started")

    def node(self, result: NodeResult) -> None:
        if self._current_step is not None:
            self._dbt_steps.add(self._current_step)
        self.say(f"    {result.line()}")

    def listener(self, entry: Any) -> None:
        """Turn one stored Dagster event (an EventLogEntry) into a progress line, if any."""
        event = entry.dagster_event
        if event is None or event.step_key is None:
            return
        step, kind = event.step_key, event.event_type_value
        if kind == "STEP_START":
            self._step_started[step] = time.monotonic()
            self._current_step = step
            self.say(f"  step {step}: started")
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            took = time.monotonic() - self._step_started.pop(step, time.monotonic())
            if kind == "STEP_SUCCESS":
                self.say(f"  step {step}: ok in {took:.1f} s")
            elif kind == "STEP_SKIPPED":
                self.say(f"  step {step}: skipped (an upstream step failed)")
            else:
                self.say(
                    f"  step {step}: FAILED after {took:.1f} s (what failed is printed when"
                    f" the job ends; its whole output: {self.log_path})"
                )
        elif kind == "ASSET_CHECK_EVALUATION" and step not in self._dbt_steps:
            data = event.event_specific_data
            if not data.passed:
                severity = getattr(data.severity, "value", data.severity)
                name = f"{data.asset_key.to_user_string()}:{data.check_name}"
                self.say(f"    check {name} failed ({severity})")

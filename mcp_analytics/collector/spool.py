"""The collector's local spool: append-only, fsync'd JSONL files of prepared rows.

A batch that cannot be written (the database is down, a timeout) is appended here and replayed
when the database is back. Replaying is idempotent (the writer dedupes on each table's key), and
a file is deleted only after every row in it was committed, so a crash at any point loses
nothing and duplicates nothing. Each file is held under an exclusive `flock` while a collector
appends to it, so several processes can share one spool folder: a replayer skips locked files.

An append that fails (a full disk, an I/O error) raises and leaves the file as it was: cut back
to its last whole record, or, when it cannot be cut, closed for good (the next append starts a
new file). So a torn line never runs into the next record when space returns.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mcp_analytics.ingest.events import row_to_json
from mcp_analytics.ingest.writer import RejectRecord

log = logging.getLogger(__name__)

#: a new file is started past this size, so a replay never has to chew an enormous file.
ROTATE_BYTES = 64 << 20


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._file: Any = None
        self._path: Path | None = None
        self._seq = 0

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        rows_by_table: Mapping[str, Sequence[Mapping[str, Any]]],
        rejects: Sequence[RejectRecord] = (),
    ) -> int:
        """Append rows and rejects durably (write + fsync); returns the number of lines.

        Raises:
            OSError: the spool could not take them (ENOSPC on a full disk, EIO, ...); the
                spool is then as it was before the call (see the module docstring).
        """
        lines = [
            json.dumps({"table": t, "row": row_to_json(r)}, ensure_ascii=False, default=str)
            for t, rows in rows_by_table.items()
            for r in rows
        ]
        lines += [
            json.dumps({"reject": asdict(r)}, ensure_ascii=False, default=str) for r in rejects
        ]
        if not lines:
            return 0
        data = ("\n".join(lines) + "\n").encode("utf-8", "replace")
        with self._lock:
            fd = self._current().fileno()
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:  # unbuffered: nothing of a failed append lingers in a buffer
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError:
                self._cut(fd, start)
                raise
            if start + len(data) > ROTATE_BYTES:
                self._close_current()
        return len(lines)

    def _cut(self, fd: int, size: int) -> None:
        """Cut the current file back to `size` bytes (its last whole record) after a failed
        append; when even that fails, close it: it takes no more records, and its torn tail
        is one corrupt line for the replay (a reject), not the start of the next record."""
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        except OSError as err:
            log.warning("spool file %s could not be cut back (%s): closed", self._path, err)
            self._close_current()

    def _current(self) -> Any:
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._seq += 1
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            path = self.directory / f"spool-{stamp}-{os.getpid()}-{self._seq}.jsonl"
            fh = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open across appends
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            os.chmod(path, 0o600)
            self._file, self._path = fh, path
        return self._file

    def _close_current(self) -> None:
        if self._file is not None:
            # Release the lock by closing: the file becomes replayable.
            self._file.close()
            self._file, self._path = None, None

    def close(self) -> None:
        with self._lock:
            self._close_current()

    # -- reading ---------------------------------------------------------------------------

    def pending(self) -> list[Path]:
        """Spool files waiting for replay (the one being appended to included)."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("spool-*.jsonl"))

    def has_pending(self) -> bool:
        return bool(self.pending())

    @contextlib.contextmanager
    def claim(self, path: Path) -> Iterator[bool]:
        """Lock `path` for replay; yields False when another process holds it."""
        with self._lock:
            if path == self._path:
                self._close_current()
        try:
            fh = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            yield False
            return
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            # It may have been replayed and deleted between our listing and our lock.
            yield path.exists()
        finally:
            fh.close()

    @staticmethod
    def read(path: Path) -> tuple[dict[str, list[dict[str, Any]]], list[RejectRecord]]:
        """Rows and rejects of one file; a torn or corrupt line becomes a reject itself."""
        rows: dict[str, list[dict[str, Any]]] = {}
        rejects: list[RejectRecord] = []
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                text = raw.decode("utf-8", "replace").rstrip("\n")
                if not text.strip():
                    continue
                try:
                    item = json.loads(text)
                    if "reject" in item:
                        rejects.append(RejectRecord(**item["reject"]))
                    else:
                        rows.setdefault(item["table"], []).append(dict(item["row"]))
                except (ValueError, TypeError, KeyError) as err:
                    rejects.append(
                        RejectRecord(
                            source="collector",
                            reason=f"corrupt spool line: {err}",
                            raw=text,
                            source_name=path.name,
                            line_number=number,
                        )
                    )
        return rows, rejects

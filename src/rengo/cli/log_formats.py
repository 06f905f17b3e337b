"""One log record, one line: the formats ``--log-format text`` and ``--log-format json`` write.

A log pipeline (journald, Docker's log driver, Promtail, Filebeat) splits a command's output
into records at line breaks and needs a time, a level and a source on each. rich's console
handler serves a person at a terminal instead: it wraps at the terminal's width and leaves the
time out. These formatters write each record as one line, a traceback included (its line
breaks escaped in text, a field in JSON), with the time in UTC (ISO 8601, ``+00:00``), the
level and the logger, and the run, round and party the record concerns where known: the
command names its run and party once (:func:`set_log_context`) and every record after that
carries them; a record about a round carries ``round`` (passed as ``extra``, or read from a
message that begins ``round N``).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from typing import Any

CONTEXT_FIELDS = ("run_id", "round", "party")
"""The fields a record may carry beyond time, level, logger and message."""

_context: dict[str, Any] = {}

_ROUND_PREFIX = re.compile(r"^(?:[\w.-]+: )?round (\d+)\b")


def set_log_context(**fields: Any) -> None:
    """Name what every later record concerns (``run_id``, ``party``): None clears a field.

    Parameters
    ----------
    fields
        Any of :data:`CONTEXT_FIELDS`.

    Raises
    ------
    ValueError
        For a field not among :data:`CONTEXT_FIELDS`.
    """
    for name, value in fields.items():
        if name not in CONTEXT_FIELDS:
            raise ValueError(f"unknown log context field {name!r}: one of {CONTEXT_FIELDS}")
        if value is None:
            _context.pop(name, None)
        else:
            _context[name] = value


def clear_log_context() -> None:
    """Forget the run and party named so far (a test's or a new command's fresh start)."""
    _context.clear()


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The run, round and party ``record`` concerns, where known: its own ``extra`` first,
    then the command's context, then a round named at the message's start."""
    fields = {name: _context[name] for name in CONTEXT_FIELDS if name in _context}
    for name in CONTEXT_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            fields[name] = value
    if "round" not in fields:
        match = _ROUND_PREFIX.match(record.getMessage())
        if match:
            fields["round"] = int(match.group(1))
    return fields


def utc_time(record: logging.LogRecord) -> str:
    """When ``record`` was made, in UTC to the millisecond: ``2026-12-06T09:49:18.123+00:00``."""
    return datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")


class TextLineFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER [run=… round=… party=…] message``, on one line (a traceback's
    line breaks are written as a backslash and ``n``)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of text."""
        fields = record_fields(record)
        where = " ".join(f"{name}={fields[name]}" for name in CONTEXT_FIELDS if name in fields)
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        text = text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")
        prefix = f"{utc_time(record)} {record.levelname} {record.name}"
        return f"{prefix} {where} {text}" if where else f"{prefix} {text}"


class JsonLineFormatter(logging.Formatter):
    """One JSON object a line: ``time``, ``level``, ``logger``, ``message``, and ``run_id``,
    ``round``, ``party`` where known (``exception``: the traceback, at debug level)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": utc_time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **record_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)

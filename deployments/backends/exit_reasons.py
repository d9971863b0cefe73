"""Why a replica's process ended, in words a person can act on.

Reads what supervisord reports (its process info and its main log) and the replica's own
log lines; says nothing about how to start or stop anything.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from serving.server import EXIT_LOAD_FAILED

LOG_RECORD_START = '{"ts"'  # how every JSON line of serving/logs.py and serving/access_log.py begins
STOPPED_ON_PURPOSE = ("it was stopped on purpose, not by a crash (for example when Berth and its local runtime "
                      "were stopped and started again)")


@dataclass(frozen=True)
class Exit:
    """One ended process: its exit code (-N: killed by signal N), and the words for it."""
    code: int | None
    memory_killed: bool
    text: str


def crash(info: dict[str, Any], lines: tuple[str, ...], main_log: Callable[[], str]) -> Exit:
    """A replica supervisord reports as exited, backing off or given up (FATAL)."""
    code = exit_code(info, main_log)
    memory = memory_killed(code, lines)
    text = describe_exit(code, memory, info.get("spawnerr") or "", lines)
    if info["statename"] == "FATAL":
        text += " supervisord gave up restarting it."
    return Exit(code, memory, text)


def previous_exit(info: dict[str, Any], lines: tuple[str, ...], main_log: Callable[[], str]) -> Exit:
    """Why a running replica's previous process ended: a crash, or a deliberate stop."""
    if stopped_on_purpose(main_log(), info["name"]):
        return Exit(None, False, STOPPED_ON_PURPOSE)
    lines = lines_before(info.get("pid"), lines)
    code = exit_code(info, main_log)
    memory = memory_killed(code, lines)
    return Exit(code, memory, describe_exit(code, memory, "", lines))


def lines_before(pid: int | None, lines: tuple[str, ...]) -> tuple[str, ...]:
    """The lines the previous process wrote: those before the `launch` event of process `pid`
    (the running one, as supervisord knows it), or all of them while it has not logged it yet."""
    for index in range(len(lines) - 1, -1, -1):
        record = _record(lines[index])
        if record.get("event") in ("launch", "startup") and pid and record.get("pid") == pid:
            return lines[:index]
    return lines


def _record(line: str) -> dict[str, Any]:
    if not line.startswith("{"):
        return {}
    try:
        record = json.loads(line)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def exit_code(info: dict[str, Any], main_log: Callable[[], str]) -> int | None:
    """The last exit (-N: killed by signal N). supervisord's exitstatus holds it only in EXITED:
    a process that exits before `startsecs` goes to BACKOFF (then FATAL) with exitstatus
    reported as 0, so there, and while running again, its main log says what happened."""
    code: int | None = info.get("exitstatus")
    if info["statename"] == "EXITED" and code not in (-1, None):
        return code
    logged = exit_from_main_log(main_log(), info["name"])
    return logged if logged is not None else code


def describe_exit(code: int | None, memory_killed: bool, spawn_error: str, lines: tuple[str, ...]) -> str:
    """Why a replica exited, in words a person can act on."""
    if spawn_error and not spawn_error.startswith(("Bad exit code", "Exited too quickly")):
        text = f"could not be started: {spawn_error}."
    elif memory_killed:
        text = ("was killed with SIGKILL, usually by the kernel for using too much memory; "
                "choose a larger instance type or fewer server workers.")
    elif code == EXIT_LOAD_FAILED:
        load_error = _load_error(lines)
        text = f"exited with code {code}: the model could not be loaded" + (f" ({load_error})." if load_error else ".")
    elif code is not None and code < 0:
        text = f"was killed by signal {-code}."
    else:
        text = f"exited with code {code}."
    tail = "\n".join(readable(lines[-5:]))
    return f"The replica {text}" + (f" Last log lines:\n{tail}" if tail else "")


def readable(lines: Iterable[str]) -> tuple[str, ...]:
    """Log lines as a person reads them; fragments of JSON lines (a process killed mid-write) left out."""
    return tuple(text for line in lines if (text := readable_log_line(line)) is not None)


def readable_log_line(line: str) -> str | None:
    """A JSON log line as a person reads it (`12:03:21 error model_load_failed: …`); None for a fragment.

    A line another one was written into (its writer killed mid-line, the next process's line
    after it) reads as that whole last record, after any plain text before it."""
    record = _record(line)
    if "event" in record:
        return _sentence(record)
    if record:
        return line
    start = line.rfind(LOG_RECORD_START)
    record = _record(line[start:]) if start >= 0 else {}
    if "event" not in record:
        return None if line.startswith(LOG_RECORD_START) else line
    before = "" if line.startswith("{") else line[:start].strip()
    return f"{before} {_sentence(record)}".strip()


def _sentence(record: dict[str, Any]) -> str:
    detail = next((str(record[key]) for key in ("error", "reason", "message") if record.get(key)), "")
    if not detail and record.get("method") and record.get("path"):  # an access log line
        detail = f"{record['method']} {record['path']} {record.get('status', '')}".strip()
    when = str(record.get("ts", ""))[11:19]
    text = f"{when} {record.get('level', 'info')} {record['event']}".strip()
    return f"{text}: {detail}" if detail else text


def memory_killed(code: int | None, lines: tuple[str, ...]) -> bool:
    return code == -9 or any('"exit_code":-9' in line or "MemoryError" in line for line in lines[-20:])


def exit_from_main_log(log: str, program: str) -> int | None:
    """The last exit of `program` that supervisord's main log records."""
    matches = re.findall(rf"exited: {re.escape(program)} \((?:exit status (\d+)|terminated by SIG([A-Z0-9]+))", log)
    if not matches:
        return None
    status, signal_name = matches[-1]
    if status:
        return int(status)
    try:
        return -int(signal.Signals[f"SIG{signal_name}"])
    except KeyError:
        return None


def stopped_on_purpose(log: str, program: str) -> bool:
    """The program's last end was a stop supervisord was asked for (its own shutdown included)."""
    ends = re.findall(rf"(exited|stopped): {re.escape(program)} \(", log)
    return bool(ends) and ends[-1] == "stopped"


def _load_error(lines: tuple[str, ...]) -> str:
    for line in reversed(lines):
        if "model_load_failed" in line:
            try:
                return str(json.loads(line).get("error", ""))
            except ValueError:
                return ""
    return ""

"""The Prediction tab's file mode: a request body from a file the user picks instead of typing it.

The model server takes JSON only (serving/codec.py), so a file is either
- `.json`: sent as it is, once it parses; or
- `.csv` with a header row: sent as the pandas split shape `{"columns": […], "data": [[…], …]}`, each
  cell read as the serving build's input schema types it (number, integer, boolean, string; an empty
  cell is null), so "5.1" goes as 5.1 and the model server checks the rest as for any client.
Anything else (an image, a binary file) is refused with what to send instead, before anything is sent.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import UploadedFile

from deployments.prediction.gateway import MAX_BODY_BYTES, PredictionInputError, parse_body, too_large

KINDS = (".json", ".csv")
TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


@dataclass(frozen=True)
class FileBody:
    text: str      # the JSON text sent (what the history keeps)
    payload: bytes
    summary: str   # for the result: "iris.csv: 3 rows of 4 columns, sent as {"columns", "data"}"


def body_from_file(upload: UploadedFile, schema: list[dict[str, Any]] | None) -> FileBody:
    """The request body `upload` stands for, or PredictionInputError saying what to send instead."""
    name = upload.name or "the file"
    if upload.size is not None and upload.size > MAX_BODY_BYTES:
        raise PredictionInputError(too_large(upload.size))
    kind = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if kind not in KINDS:
        raise PredictionInputError(f"{name}: this deployment's model takes JSON, so send a .json file (a request "
                                   "body) or a .csv file with a header row. Nothing was sent.")
    try:
        text = upload.read(MAX_BODY_BYTES + 1).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PredictionInputError(f"{name} is not UTF-8 text; save it as UTF-8 and try again. "
                                   "Nothing was sent.") from None
    if kind == ".json":
        _, payload = parse_body(text)
        return FileBody(text, payload, f"{name} as it is")
    body = csv_body(text, schema, name)
    text = json.dumps(body)
    _, payload = parse_body(text)
    rows, columns = len(body["data"]), len(body["columns"])
    return FileBody(text, payload, f"{name}: {rows} row{'s' * (rows != 1)} of {columns} column{'s' * (columns != 1)}, "
                                   'as {"columns": […], "data": […]}')


def csv_body(text: str, schema: list[dict[str, Any]] | None, name: str = "the file") -> dict[str, Any]:
    """A CSV with a header row as the split shape, cells typed by `schema` (by column name)."""
    rows = list(csv.reader(io.StringIO(text)))
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()  # trailing blank lines
    if len(rows) < 2:
        raise PredictionInputError(f"{name} needs a header row naming the columns and at least one row of "
                                   "values. Nothing was sent.")
    columns = [cell.strip() for cell in rows[0]]
    types = {field.get("name"): field.get("dtype") for field in schema or [] if isinstance(field, dict)}
    data = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(columns):
            raise PredictionInputError(f"{name}, line {number}: {len(row)} values for {len(columns)} columns. "
                                       "Nothing was sent.")
        data.append([_cell(value, types.get(column), name, number, column) for value, column in zip(row, columns,
                                                                                                     strict=True)])
    return {"columns": columns, "data": data}


def _cell(value: str, kind: str | None, name: str, line: int, column: str) -> Any:
    value = value.strip()
    if value == "":
        return None
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return _boolean(value)
    except ValueError:
        raise PredictionInputError(f"{name}, line {line}, column {column}: {value!r} is not {_WORDS[kind or '']}. "
                                   "Nothing was sent.") from None
    return value if kind == "string" else _guess(value)


_WORDS = {"integer": "a whole number", "number": "a number", "boolean": "true or false", "": "a value"}


def _boolean(value: str) -> bool:
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise ValueError(value)


def _guess(value: str) -> Any:
    """A column the schema does not name: a number when it reads as one, else the text."""
    for read in (int, float):
        try:
            return read(value)
        except ValueError:
            continue
    return value

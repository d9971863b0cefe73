"""Request and response JSON: every accepted input shape becomes rows in schema order.

Accepted bodies (all `application/json`):
  [{"f1": 1, "f2": 2}, …]                 list of records (Qwak RealTimeClient feature vector)
  {"f1": 1, "f2": 2}                      one record
  {"columns": ["f1", "f2"], "data": [[1, 2], …]}   pandas split
  {"instances": [{…}, …]} or {"instances": [[1, 2], …]}   records or positional rows

Each request is checked once, at the edge, before it joins a batch (so a bad request never
fails its batch-mates): field names and JSON types value by value while its rows are read
(a null is a type too: only nullable fields take it); then serving.model_input checks what
the model's real input dtype can hold and builds the batch's model input.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from serving.errors import SchemaError, ServingError, echo
from serving.schema import DTYPE_WORDS, Field, Schema

if TYPE_CHECKING:
    pass

Row = list[Any]
FAST_NUMBER = {"number"}


class Columns:
    """The model's input columns (from serving.schema), in order, with a fast type check.

    Dtype rules mirror `serving.schema.coerce_frame`: nullable fields (strings unless declared
    otherwise, numbers only when declared) may be null, integers accept integral floats, booleans
    must be true/false.
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.fields = schema.fields
        self.names = schema.names
        self.dtypes = [field.dtype for field in schema.fields]
        self.kinds = [_kind(field) for field in schema.fields]  # what _check_types checks
        self.index = {name: i for i, name in enumerate(self.names)}
        self.all_numbers = set(self.dtypes) == FAST_NUMBER


def decode_json(body: bytes) -> Any:
    if not body:
        raise ServingError("request body is empty; send JSON records, e.g. [{\"feature\": 1.0}]", 400)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ServingError(_not_utf8(body) or f"request body is not valid JSON: {exc}", 400) from None


def _not_utf8(body: bytes) -> str | None:
    """What is wrong when the body is not UTF-8 (looked for only once decoding failed)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (f"the request body is not valid UTF-8 (byte 0x{body[exc.start]:02x} at position {exc.start}); "
                "send JSON encoded as UTF-8")
    return None


def to_rows(payload: Any, columns: Columns) -> list[Row]:
    """Any accepted input shape → validated rows in schema order."""
    if isinstance(payload, list):
        return _rows(payload, columns)
    if isinstance(payload, dict):
        if "instances" in payload and len(payload) == 1:
            instances = payload["instances"]
            if not isinstance(instances, list):
                raise SchemaError('"instances" must be a list of records or of rows')
            return _rows(instances, columns)
        if "columns" in payload and "data" in payload and len(payload) <= 3:
            return _split_rows(payload, columns)
        return [_record_row(payload, columns, 1)]
    raise SchemaError("expected a record, a list of records, {\"columns\", \"data\"} or {\"instances\"}")


def _rows(items: list[Any], columns: Columns) -> list[Row]:
    if not items:
        raise SchemaError("no rows to predict: the list is empty")
    rows: list[Row] = []
    for number, item in enumerate(items, start=1):
        if type(item) is dict:
            rows.append(_record_row(item, columns, number))
        elif type(item) is list:
            rows.append(_positional_row(item, columns, number))
        else:
            raise SchemaError(f"row {number} must be a record {{field: value}} or a list of values")
    return rows


def _record_row(record: dict[str, Any], columns: Columns, number: int) -> Row:
    try:
        row = [record[name] for name in columns.names]
    except KeyError as exc:
        raise SchemaError(f"missing field '{exc.args[0]}' in row {number}") from None
    if len(record) != len(row):
        extra = next(key for key in record if key not in columns.index)
        raise SchemaError(f"unexpected field '{echo(extra)}' in row {number}; expected {', '.join(columns.names)}")
    _check_types(row, columns, number)
    return row


def _positional_row(values: list[Any], columns: Columns, number: int) -> Row:
    if len(values) != len(columns.names):
        raise SchemaError(
            f"row {number} has {len(values)} values; expected {len(columns.names)}: {', '.join(columns.names)}"
        )
    _check_types(values, columns, number)
    return values


def _split_rows(payload: dict[str, Any], columns: Columns) -> list[Row]:
    names, data = payload["columns"], payload["data"]
    if not isinstance(names, list) or not isinstance(data, list):
        raise SchemaError('"columns" and "data" must both be lists')
    _check_split_names(names, columns)
    if not data:
        raise SchemaError('no rows to predict: "data" is empty')
    order = [names.index(name) for name in columns.names]
    rows: list[Row] = []
    for number, values in enumerate(data, start=1):
        if not isinstance(values, list) or len(values) != len(names):
            raise SchemaError(f"data row {number} must be a list of {len(names)} values")
        row = [values[i] for i in order]
        _check_types(row, columns, number)
        rows.append(row)
    return rows


def _check_split_names(names: list[Any], columns: Columns) -> None:
    for name in names:
        if type(name) is not str:
            raise SchemaError(f'"columns" must hold field names (strings); it holds {_json_type(name)}')
        if name not in columns.index:
            raise SchemaError(f"unexpected field '{echo(name)}' in \"columns\"; expected {', '.join(columns.names)}")
    if len(set(names)) != len(names):
        twice = next(name for i, name in enumerate(names) if name in names[:i])
        raise SchemaError(f"field '{echo(twice)}' is named twice in \"columns\"; name each field once")
    for name in columns.names:
        if name not in names:
            raise SchemaError(f"missing field '{name}' in \"columns\"")


def _kind(field: Field) -> str:
    """The check a field's values get: its dtype, with "?" when it may be null."""
    return field.dtype + "?" if field.nullable and field.dtype in ("number", "string") else field.dtype


def _is_number(value: Any) -> bool:
    return type(value) is float or type(value) is int


def _is_number_or_null(value: Any) -> bool:
    return value is None or type(value) is float or type(value) is int


def _is_integer(value: Any) -> bool:
    return type(value) is int or (type(value) is float and value.is_integer())


def _is_string(value: Any) -> bool:
    return type(value) is str


def _is_string_or_null(value: Any) -> bool:
    return value is None or type(value) is str


def _is_boolean(value: Any) -> bool:
    return type(value) is bool


_CHECKS = {"number": _is_number, "number?": _is_number_or_null, "integer": _is_integer,
           "string": _is_string, "string?": _is_string_or_null, "boolean": _is_boolean}


def _check_types(row: Row, columns: Columns, number: int) -> None:
    for value, kind in zip(row, columns.kinds, strict=True):
        if kind == "number":
            if type(value) is float or type(value) is int:
                continue
        elif _CHECKS[kind](value):
            continue
        raise _mistyped(columns, row, number)


def _mistyped(columns: Columns, row: Row, number: int) -> SchemaError:
    for value, field, kind in zip(row, columns.fields, columns.kinds, strict=True):
        if _CHECKS[kind](value):
            continue
        if value is None:
            return SchemaError(f"field '{field.name}' is null in row {number}; it is not nullable "
                               f"(send {DTYPE_WORDS[field.dtype]}, or declare it nullable under input_schema in berth.yaml)")
        return SchemaError(f"field '{field.name}' must be {DTYPE_WORDS[field.dtype]}; row {number} has {_json_type(value)}")
    return SchemaError(f"row {number} does not match the input schema")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "an object"
    return echo(orjson.dumps(value).decode())


# --- responses -----------------------------------------------------------------------

def result_rows(result: Any, expected: int) -> list[Any]:
    """A predict() result → one JSON-able item per input row (records for named columns)."""
    pandas = sys.modules.get("pandas")  # a result can only be a pandas object if pandas is loaded
    if type(result) is dict:
        items = _records(result, expected)
    elif pandas is not None and isinstance(result, pandas.DataFrame):
        names = [str(name) for name in result.columns]
        lists = [result[name].tolist() for name in result.columns]
        items = [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)]
        if not names:
            items = [{} for _ in range(len(result))]
    elif isinstance(result, np.ndarray) or (pandas is not None and isinstance(result, pandas.Series)):
        items = result.tolist()
    elif isinstance(result, list | tuple):
        items = list(result)
    else:
        raise ServingError(f"predict() returned {type(result).__name__}; return a pandas DataFrame", 500)
    if len(items) != expected:
        raise ServingError(f"predict() returned {len(items)} rows for {expected} input rows", 500)
    return items


def _records(columns: dict[str, Any], expected: int) -> list[Any]:
    """Named output columns → one record per row."""
    names = [str(name) for name in columns]
    lists = [column.tolist() if isinstance(column, np.ndarray) else list(column) for column in columns.values()]
    for name, values in zip(names, lists, strict=True):
        if len(values) != expected:
            raise ServingError(f"predict() returned {len(values)} rows of '{name}' for {expected} input rows", 500)
    if len(names) == 1:
        name = names[0]
        return [{name: value} for value in lists[0]]
    if not names:
        return [{} for _ in range(expected)]
    return [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)]


def encode_json(content: Any) -> bytes:
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=_fallback)


def _fallback(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None  # NaN / inf have no JSON form
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)

"""Request and response JSON: every accepted input shape becomes rows in schema order.

Accepted bodies (all `application/json`):
  [{"f1": 1, "f2": 2}, …]                 list of records (Qwak RealTimeClient feature vector)
  {"f1": 1, "f2": 2}                      one record
  {"columns": ["f1", "f2"], "data": [[1, 2], …]}   pandas split
  {"instances": [{…}, …]} or {"instances": [[1, 2], …]}   records or positional rows

Rows are validated per request (so a bad request never fails its batch-mates) and turned
into one model input per batch (`ModelInput`): a numpy array in the model's feature order,
or a DataFrame for models that take one. pandas is imported only for the latter.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from serving.errors import SchemaError, ServingError
from serving.schema import DTYPE_WORDS, NUMPY_DTYPES, Schema

if TYPE_CHECKING:
    import pandas as pd

Row = list[Any]

_FAST_NUMBER = {"number"}
_ARRAY_DTYPES = {"number": np.float64, "integer": np.int64, "boolean": np.bool_}


class Columns:
    """The model's input columns (from serving.schema), in order, with a fast type check.

    Dtype rules mirror `serving.schema.coerce_frame`: numbers and strings may be null,
    integers accept integral floats, booleans must be true/false.
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.fields = schema.fields
        self.names = schema.names
        self.dtypes = [field.dtype for field in schema.fields]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.all_numbers = set(self.dtypes) == _FAST_NUMBER


class ModelInput:
    """A batch's checked rows (schema order) → what the runtime predicts on: the columns it takes
    (`positions` among the schema's, in its order; None: all, in schema order) as one 2-d numpy
    array, or as a DataFrame with the schema's dtypes when `frame`."""

    def __init__(self, columns: Columns, positions: list[int] | None = None, frame: bool = False) -> None:
        picked = list(range(len(columns.names))) if positions is None else positions
        self.positions = positions
        self.picked = picked
        self.names = [columns.names[i] for i in picked]
        self.dtypes = [columns.dtypes[i] for i in picked]
        self.all_numbers = set(self.dtypes) == _FAST_NUMBER
        self.array_dtype = _array_dtype(self.dtypes)
        self.frame = frame

    def build(self, rows: list[Row]) -> np.ndarray | pd.DataFrame:
        return self.to_frame(rows) if self.frame else self.to_array(rows)

    def to_array(self, rows: list[Row]) -> np.ndarray:
        if self.array_dtype is object:  # mixed types: each column converted on its own, as in a DataFrame
            array = np.empty((len(rows), len(self.picked)), dtype=object)
            for j, (i, dtype) in enumerate(zip(self.picked, self.dtypes, strict=True)):
                array[:, j] = _column(dtype, [row[i] for row in rows])
            return array
        array = np.array(rows, dtype=self.array_dtype)
        return array if self.positions is None else array[:, self.positions]

    def to_frame(self, rows: list[Row]) -> pd.DataFrame:
        import pandas as pd

        if self.all_numbers:
            return pd.DataFrame(self.to_array(rows), columns=self.names, copy=False)
        columns = list(zip(*rows, strict=True))
        data = {name: _column(dtype, columns[i]) for name, dtype, i in zip(self.names, self.dtypes, self.picked, strict=True)}
        return pd.DataFrame(data, index=pd.RangeIndex(len(rows)), copy=False)


def _array_dtype(dtypes: list[str]) -> Any:
    """The dtype a DataFrame of these columns would give `to_numpy()`."""
    kinds = set(dtypes)
    if len(kinds) == 1 and dtypes[0] in _ARRAY_DTYPES:
        return _ARRAY_DTYPES[dtypes[0]]
    if kinds == {"number", "integer"}:
        return np.float64
    return object


def _column(dtype: str, values: Sequence[Any]) -> np.ndarray:
    return np.array(values, dtype=NUMPY_DTYPES[dtype])


def decode_json(body: bytes) -> Any:
    if not body:
        raise ServingError("request body is empty; send JSON records, e.g. [{\"feature\": 1.0}]", 400)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ServingError(f"request body is not valid JSON: {exc}", 400) from None


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
        raise SchemaError(f"unexpected field '{extra}' in row {number}; expected {', '.join(columns.names)}")
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
    for name in columns.names:
        if name not in names:
            raise SchemaError(f"missing field '{name}' in \"columns\"")
    for name in names:
        if name not in columns.index:
            raise SchemaError(f"unexpected field '{name}' in \"columns\"; expected {', '.join(columns.names)}")
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


def _is_number(value: Any) -> bool:
    return value is None or type(value) is float or type(value) is int


def _is_integer(value: Any) -> bool:
    return type(value) is int or (type(value) is float and value.is_integer())


def _is_string(value: Any) -> bool:
    return value is None or type(value) is str


def _is_boolean(value: Any) -> bool:
    return type(value) is bool


_CHECKS = {"number": _is_number, "integer": _is_integer, "string": _is_string, "boolean": _is_boolean}


def _check_types(row: Row, columns: Columns, number: int) -> None:
    for value, dtype in zip(row, columns.dtypes, strict=True):
        if dtype == "number":
            if type(value) is float or type(value) is int or value is None:
                continue
        elif _CHECKS[dtype](value):
            continue
        raise _mistyped(columns, row, number)


def _mistyped(columns: Columns, row: Row, number: int) -> SchemaError:
    for value, field in zip(row, columns.fields, strict=True):
        if not _CHECKS[field.dtype](value):
            return SchemaError(
                f"field '{field.name}' must be {DTYPE_WORDS[field.dtype]}; row {number} has {_json_type(value)}"
            )
    return SchemaError(f"row {number} does not match the input schema")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "an object"
    return orjson.dumps(value).decode()


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

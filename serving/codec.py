"""Request and response JSON: every accepted input shape becomes rows in schema order.

Accepted bodies (all `application/json`):
  [{"f1": 1, "f2": 2}, …]                 list of records (Qwak RealTimeClient feature vector)
  {"f1": 1, "f2": 2}                      one record
  {"columns": ["f1", "f2"], "data": [[1, 2], …]}   pandas split
  {"instances": [{…}, …]} or {"instances": [[1, 2], …]}   records or positional rows

Each request is checked once, at the edge, before it joins a batch (so a bad request never
fails its batch-mates): field names and JSON types value by value while its rows are read
(a null is a type too: only nullable fields take it), then, vectorised, what the model's real
input dtype can hold (`ModelInput.piece`: int64 overflow, float32 range and the like). A
batch's model input (`ModelInput.build`) joins its requests' pieces: a numpy array in the
model's feature order, or a DataFrame for models that take one. pandas is imported only for
the latter.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from serving.errors import SchemaError, ServingError, echo
from serving.schema import DTYPE_WORDS, NUMPY_DTYPES, Field, Schema

if TYPE_CHECKING:
    import pandas as pd

Row = list[Any]
Piece = Any  # one request's model input: an ndarray, or its rows for models that take a DataFrame

_FAST_NUMBER = {"number"}
_ARRAY_DTYPES = {"number": np.float64, "integer": np.int64, "boolean": np.bool_}


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
        self.all_numbers = set(self.dtypes) == _FAST_NUMBER


class ModelInput:
    """Checked rows (schema order) → what the runtime predicts on: the columns it takes
    (`positions` among the schema's, in its order; None: all, in schema order) as one 2-d numpy
    array, or as a DataFrame with the schema's dtypes when `frame`. `model_dtypes` (the model's
    order) say what the model casts each column to, where that holds less than the JSON value."""

    def __init__(self, columns: Columns, positions: list[int] | None = None, frame: bool = False,
                 model_dtypes: Sequence[Any] | None = None) -> None:
        picked = list(range(len(columns.names))) if positions is None else positions
        self.positions = positions
        self.picked = picked
        self.fields = [columns.fields[i] for i in picked]
        self.names = [columns.names[i] for i in picked]
        self.dtypes = [columns.dtypes[i] for i in picked]
        self.all_numbers = set(self.dtypes) == _FAST_NUMBER
        self.array_dtype = _array_dtype(self.dtypes)
        self.frame = frame
        self.bounds = Bounds.of(self.fields, model_dtypes or [None] * len(picked))
        self.checks_frame = frame and (self.bounds is not None or "integer" in self.dtypes)

    def piece(self, rows: list[Row]) -> Piece:
        """One request's part of a batch, checked against what the model's input dtypes hold:
        its array, or (for a DataFrame model) its rows."""
        if self.frame:
            if self.checks_frame:
                self._check_columns(rows)
            return rows
        try:
            array = self.to_array(rows)
        except OverflowError:  # a Python int beyond int64
            raise _overflow(self, rows) from None
        if self.bounds is not None:
            self.bounds.check_array(array)
        return array

    def _check_columns(self, rows: list[Row]) -> None:
        try:
            arrays = self._columns(rows)
        except OverflowError:
            raise _overflow(self, rows) from None
        if self.bounds is not None:
            self.bounds.check(np.column_stack([arrays[j] for j in self.bounds.columns]))

    def build(self, pieces: list[Piece]) -> np.ndarray | pd.DataFrame:
        """A batch's model input from its requests' pieces."""
        if self.frame:
            return self.to_frame(pieces[0] if len(pieces) == 1 else [row for piece in pieces for row in piece])
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

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
        data = dict(zip(self.names, self._columns(rows), strict=True))
        return pd.DataFrame(data, index=pd.RangeIndex(len(rows)), copy=False)

    def _columns(self, rows: list[Row]) -> list[np.ndarray]:
        """Each column on its own, in the schema's dtype, as a DataFrame holds it."""
        columns = list(zip(*rows, strict=True))
        return [_column(dtype, columns[i]) for dtype, i in zip(self.dtypes, self.picked, strict=True)]


class Bounds:
    """The value range of each model input column whose dtype holds less than a JSON number
    (float32, int32, int64 for floats), checked on a request's whole array at once."""

    def __init__(self, columns: list[int], names: list[str], dtypes: list[np.dtype[Any]], width: int) -> None:
        self.columns = columns  # positions in the model input
        self.every = columns == list(range(width))  # all of them: no copy to pick them out
        self.names = names
        self.dtypes = dtypes
        self.low = np.array([_limits(dtype)[0] for dtype in dtypes])
        self.high = np.array([_limits(dtype)[1] for dtype in dtypes])
        self.safe = float(min(self.high.min(), -self.low.max()))  # |value| up to this fits every column

    @classmethod
    def of(cls, fields: list[Field], model_dtypes: Sequence[Any]) -> Bounds | None:
        bounded = [(j, field.name, dtype) for j, (field, model_dtype) in enumerate(zip(fields, model_dtypes, strict=True))
                   if (dtype := _narrow_dtype(field, model_dtype)) is not None]
        if not bounded:
            return None
        columns, names, dtypes = (list(part) for part in zip(*bounded, strict=True))
        return cls(columns, names, dtypes, len(fields))

    def check_array(self, array: np.ndarray) -> None:
        """`array`: a request's model input."""
        self.check(array if self.every else array[:, self.columns])

    def check(self, values: np.ndarray) -> None:
        """`values`: a request's bounded columns, in `columns` order."""
        if values.dtype == object:
            values = values.astype(np.float64)
        if np.abs(values).max() <= self.safe:  # one reduction for the usual request; NaN looks closer
            return
        outside = (values < self.low) | (values > self.high)  # NaN (a nullable null) is neither
        if outside.any():
            row, j = (int(i) for i in np.argwhere(outside)[0])
            raise self._out_of_range(row, j, values[row, j])

    def _out_of_range(self, row: int, j: int, value: Any) -> SchemaError:
        dtype = self.dtypes[j].name
        return SchemaError(
            f"field '{self.names[j]}' is out of range for {dtype} in row {row + 1}: {_number(value)} "
            f"(the model computes in {dtype}, which holds {_number(self.low[j], 8)} to {_number(self.high[j], 8)})")


def _narrow_dtype(field: Field, model_dtype: Any) -> np.dtype[Any] | None:
    """The dtype the model casts this field to, if some JSON number of its type doesn't fit in it."""
    declared = field.model_dtype or model_dtype
    if declared is None or field.dtype not in ("number", "integer"):
        return None
    dtype = np.dtype(declared)
    if dtype.kind not in "iuf" or dtype == np.float64 or (dtype == np.int64 and field.dtype == "integer"):
        return None  # any JSON number fits a float64; an integer field's int64 overflow is found converting it
    return dtype


def _limits(dtype: np.dtype[Any]) -> tuple[float, float]:
    info = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
    return float(info.min), float(info.max)


def _number(value: Any, digits: int | None = None) -> str:
    """As JSON would write it (None digits: all it takes to read the same float back)."""
    number = float(value)
    if number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return repr(number) if digits is None else f"{number:.{digits}g}"


def _overflow(model_input: ModelInput, rows: list[Row]) -> SchemaError:
    """The first integer field that holds a value beyond int64 (only looked for once converting failed)."""
    low, high = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    for number, row in enumerate(rows, start=1):
        for i, field in zip(model_input.picked, model_input.fields, strict=True):
            value = row[i]
            if field.dtype == "integer" and type(value) is int and not low <= value <= high:
                return SchemaError(f"field '{field.name}' is out of range for int64 in row {number}: {echo(str(value))} "
                                   f"(an integer field holds {low} to {high})")
    return SchemaError("a value is out of range for the model's input dtype")


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

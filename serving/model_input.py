"""What the model predicts on: a request's checked rows against what the model's real input
dtypes can hold (vectorised: int64 overflow, float32 range and the like), then a batch's
requests joined into one numpy array in the model's feature order, or a DataFrame for models
that take one. pandas is imported only for the latter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from serving.codec import FAST_NUMBER, Columns, Row
from serving.errors import SchemaError, echo
from serving.schema import NUMPY_DTYPES, Field

if TYPE_CHECKING:
    import pandas as pd

Piece = Any  # one request's model input: an ndarray, or its rows for models that take a DataFrame

_ARRAY_DTYPES = {"number": np.float64, "integer": np.int64, "boolean": np.bool_}


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
        self.all_numbers = set(self.dtypes) == FAST_NUMBER
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

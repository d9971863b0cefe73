"""Input and output schemas: an ordered list of `{"name", "dtype", "nullable"}` fields.

Inferred once at build time from the example records and the example output, refined by
what berth.yaml declares under `input_schema` (`refine`): which fields may be null, and the
numpy dtype the model really computes in (`model_dtype`, e.g. float32) when the server can't
tell. `coerce_frame` turns records into a DataFrame with the schema's column order and
dtypes, or raises `SchemaError` (422) naming the offending field (the server's own
per-request checks are in serving.codec). pandas is imported only by the functions that need it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from serving.errors import BundleError, SchemaError, echo

if TYPE_CHECKING:
    import pandas as pd

DTYPES = ("integer", "number", "string", "boolean")
NUMPY_DTYPES = {"integer": np.int64, "number": np.float64, "boolean": np.bool_, "string": object}
ACCEPTED_KINDS = {"integer": "iu", "number": "iuf", "boolean": "b", "string": ""}
DTYPE_WORDS = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false"}
NULLABLE_BY_DEFAULT = ("string",)  # numbers are nullable only when declared (or null in example_input)

Record = Mapping[str, Any]


@dataclass(frozen=True)
class Field:
    name: str
    dtype: str
    nullable: bool = False
    model_dtype: str | None = None  # declared: the numpy dtype the model casts this field to

    def to_dict(self) -> dict[str, Any]:
        declared = {"model_dtype": self.model_dtype} if self.model_dtype else {}
        return {"name": self.name, "dtype": self.dtype, "nullable": self.nullable} | declared


@dataclass(frozen=True)
class Schema:
    fields: tuple[Field, ...]

    @property
    def names(self) -> list[str]:
        return [field.name for field in self.fields]

    def to_list(self) -> list[dict[str, Any]]:
        return [field.to_dict() for field in self.fields]

    @classmethod
    def from_list(cls, fields: Sequence[Mapping[str, Any]]) -> Schema:
        return cls(tuple(_field(item) for item in fields))


def _field(item: Mapping[str, Any]) -> Field:
    dtype = str(item["dtype"])
    nullable = bool(item.get("nullable", dtype in NULLABLE_BY_DEFAULT))
    return Field(str(item["name"]), dtype, nullable, item.get("model_dtype"))


def infer_input_schema(records: Sequence[Record], declared: Mapping[str, Mapping[str, Any]] | None = None
                       ) -> list[dict[str, Any]]:
    """Schema of the example records, refined by berth.yaml's `input_schema`; raises BundleError when a
    field's type is unclear. A field that is null in the example is nullable (validation then shows
    the model takes it); an integer field that may be null is a number (NaN has no integer form)."""
    names = list(records[0])
    for number, record in enumerate(records[1:], start=2):
        if list(record) != names and set(record) != set(names):
            raise BundleError(f"example_input record {number} has fields {sorted(record)}; expected {names}")
    fields = []
    for name in names:
        values = [r[name] for r in records]
        dtype = _example_dtype(name, values)
        field = {"name": name, "dtype": dtype, "nullable": dtype in NULLABLE_BY_DEFAULT}
        if None in values:
            _apply(field, {"nullable": True}, "example_input")
        fields.append(field)
    return refine(fields, declared or {})


def refine(fields: Sequence[Mapping[str, Any]], declared: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The schema with what berth.yaml declares per field (`nullable`, `model_dtype`) applied on top."""
    refined = [Schema.from_list([item]).fields[0].to_dict() for item in fields]
    by_name = {item["name"]: item for item in refined}
    for name, properties in declared.items():
        if name not in by_name:
            raise BundleError(f"input_schema declares field '{name}', which example_input does not have; "
                              f"fields: {', '.join(by_name)}")
        _apply(by_name[name], properties, "input_schema")
    return refined


def _apply(item: dict[str, Any], properties: Mapping[str, Any], where: str) -> None:
    name, dtype = item["name"], item["dtype"]
    if "model_dtype" in properties:
        if dtype not in ("number", "integer"):
            raise BundleError(f"{where}: field '{name}' is {dtype}, so it can't have a model_dtype")
        item["model_dtype"] = properties["model_dtype"]
    if "nullable" in properties:
        nullable = bool(properties["nullable"])
        if nullable and dtype == "boolean":
            raise BundleError(f"{where}: field '{name}' is true/false and can't be null; "
                              "send it as a number (0/1) to allow null")
        item["nullable"] = nullable
        if nullable and dtype == "integer":
            item["dtype"] = "number"  # null reaches the model as NaN, which only a float holds


def _example_dtype(name: str, values: list[Any]) -> str:
    present = [value for value in values if value is not None]
    if not present:
        raise BundleError(f"example_input field '{name}' is null everywhere; give one real value")
    kinds = {_value_dtype(value) for value in present}
    if kinds == {"integer", "number"}:
        return "number"
    only = kinds.pop() if len(kinds) == 1 else None
    if only is not None:
        return only
    raise BundleError(f"example_input field '{name}' mixes value types ({present[:3]}…); use one type")


def _value_dtype(value: Any) -> str | None:
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, np.integer)):
        return "integer"
    if isinstance(value, (float, np.floating)):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def infer_output_schema(df: pd.DataFrame) -> list[dict[str, str]]:
    return [{"name": str(name), "dtype": _series_dtype(df[name])} for name in df.columns]


def _series_dtype(series: pd.Series) -> str:
    """One of DTYPES; outputs may also hold lists ("array") or mappings ("object")."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(series.dtype):
        return "number"
    first = series.iloc[0] if len(series) else None
    if isinstance(first, (list, tuple, np.ndarray)):
        return "array"
    if isinstance(first, Mapping):
        return "object"
    return "string"


def coerce_frame(data: Sequence[Record] | pd.DataFrame, schema: Schema | Sequence[Mapping[str, str]]) -> pd.DataFrame:
    """Order columns as the schema says and coerce dtypes; SchemaError on any mismatch."""
    import pandas as pd

    if not isinstance(schema, Schema):
        schema = Schema.from_list(schema)
    if isinstance(data, pd.DataFrame):
        _check_names(set(map(str, data.columns)), schema, "the request")
        columns = {str(name): data[name].to_numpy() for name in data.columns}
    else:
        columns = _columns_from_records(data, schema)
    return _frame(columns, schema)


def _columns_from_records(records: Sequence[Record], schema: Schema) -> dict[str, Any]:
    if not records:
        raise SchemaError("the request has no records; send at least one")
    names = schema.names
    expected = set(names)
    for number, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise SchemaError(f"record {number} must be an object of field names to values")
        if record.keys() != expected:
            _check_names(set(record), schema, f"record {number}")
    return {name: [record[name] for record in records] for name in names}


def _check_names(got: set[str], schema: Schema, where: str) -> None:
    missing = [name for name in schema.names if name not in got]
    extra = sorted(got.difference(schema.names))
    if missing:
        raise SchemaError(f"{where} is missing field(s) {', '.join(missing)}; expected {schema.names}")
    if extra:
        raise SchemaError(f"{where} has unknown field(s) {echo(', '.join(extra))}; expected {schema.names}")


def _frame(columns: dict[str, Any], schema: Schema) -> pd.DataFrame:
    import pandas as pd

    dtypes = {field.dtype for field in schema.fields}
    if len(dtypes) == 1 and dtypes != {"string"}:  # one block: the fast path
        arrays = [_coerce(field, columns[field.name]) for field in schema.fields]
        return pd.DataFrame(np.column_stack(arrays), columns=schema.names, copy=False)
    by_name = {field.name: _coerce(field, columns[field.name]) for field in schema.fields}
    return pd.DataFrame(by_name, index=pd.RangeIndex(len(by_name[schema.names[0]])), copy=False)


def _coerce(field: Field, values: Any) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=object if field.dtype == "string" else None)
    except ValueError:  # ragged nested lists
        raise _not_scalar(field) from None
    if array.ndim != 1:
        raise _not_scalar(field)
    if array.dtype.kind in ACCEPTED_KINDS[field.dtype]:
        return array.astype(NUMPY_DTYPES[field.dtype], copy=False)
    return _coerce_slowly(field, array)


def _not_scalar(field: Field) -> SchemaError:
    return SchemaError(f"field '{field.name}' must hold one {field.dtype} value per record, not a list")


def _coerce_slowly(field: Field, array: np.ndarray) -> np.ndarray:
    """Nulls, mixed values, integral floats for integers: check value by value."""
    if field.dtype == "integer" and array.dtype.kind == "f" and _all_integral(array):
        return array.astype(np.int64)
    if not field.nullable and None in array.tolist():
        number = array.tolist().index(None) + 1
        raise SchemaError(f"field '{field.name}' is null in record {number}; it is not nullable "
                          "(send a value, or declare it nullable under input_schema in berth.yaml)")
    if field.dtype == "number" and array.dtype.kind == "O" and _all_fit(array, _is_number_or_null):
        return array.astype(np.float64)
    if field.dtype == "string" and _all_fit(array, _is_string_or_null):
        return array
    raise _mistyped(field, array)


def _all_integral(array: np.ndarray) -> bool:
    return bool(np.isfinite(array).all() and (array == np.floor(array)).all())


def _all_fit(array: np.ndarray, check: Any) -> bool:
    return all(check(value) for value in array)


def _is_number_or_null(value: Any) -> bool:
    return value is None or _value_dtype(value) in ("integer", "number")


def _is_string_or_null(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _mistyped(field: Field, array: np.ndarray) -> SchemaError:
    for number, value in enumerate(array.tolist(), start=1):
        if not _fits(field.dtype, value):
            shown = "null" if value is None else echo(repr(value))
            return SchemaError(
                f"field '{field.name}' must be {DTYPE_WORDS[field.dtype]}; record {number} has {shown}"
            )
    return SchemaError(f"field '{field.name}' must be {DTYPE_WORDS[field.dtype]}")


def _fits(dtype: str, value: Any) -> bool:
    found = _value_dtype(value)
    if dtype == "number":
        return found in ("integer", "number")
    if dtype == "integer" and found == "number":
        return float(value).is_integer()
    return found == dtype

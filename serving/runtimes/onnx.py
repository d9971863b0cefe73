"""ONNX models through ONNX Runtime (CPU)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from serving.errors import PredictionError
from serving.runtimes.base import Runtime

ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


class OnnxRuntime(Runtime):
    session: Any

    def load(self) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        self.session = onnxruntime.InferenceSession(
            str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = self.session.get_inputs()
        self.output_names = [output.name for output in self.session.get_outputs()]

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        outputs = self.session.run(self.output_names, self._feeds(df))
        return output_frame(self.output_names, outputs)

    def _feeds(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        names = [tensor.name for tensor in self.inputs]
        if all(name in df.columns for name in names):  # one input per column
            return {tensor.name: _column_tensor(df[tensor.name], tensor) for tensor in self.inputs}
        if len(self.inputs) == 1:  # one matrix of all columns, in schema order
            return {names[0]: df.to_numpy().astype(_dtype(self.inputs[0]), copy=False)}
        raise PredictionError(f"the ONNX model takes inputs {names}; the request fields are {list(df.columns)}")


def _dtype(tensor: Any) -> Any:
    return ONNX_DTYPES.get(tensor.type, np.float32)


def _column_tensor(column: pd.Series, tensor: Any) -> np.ndarray:
    array = column.to_numpy().astype(_dtype(tensor), copy=False)
    return array.reshape(-1, 1) if len(tensor.shape) == 2 else array


def output_frame(names: list[str], outputs: list[Any]) -> pd.DataFrame:
    """One column per output; the first is `prediction` when it holds one value per row."""
    columns: dict[str, Any] = {}
    for position, (name, output) in enumerate(zip(names, outputs, strict=True)):
        values = _per_row(output)
        columns["prediction" if position == 0 and _is_flat(values) else name] = values
    return pd.DataFrame(columns, copy=False)


def _per_row(output: Any) -> Any:
    if isinstance(output, np.ndarray):
        if output.ndim == 2 and output.shape[1] == 1:
            return output[:, 0]
        return output if output.ndim == 1 else list(output.tolist())
    return list(output)  # sequences of maps (e.g. ZipMap probabilities): one dict per row


def _is_flat(values: Any) -> bool:
    return isinstance(values, np.ndarray) and values.ndim == 1

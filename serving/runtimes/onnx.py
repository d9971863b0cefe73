"""ONNX models through ONNX Runtime (CPU).

A served session runs each inference on the calling thread (no intra- or inter-op thread pool):
the session is created in the server's parent and shared by the forked workers, where pool
threads started before the fork would not exist. More workers use more cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from serving.errors import PredictionError
from serving.runtimes.base import Outputs, Runtime

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
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = self.session.get_inputs()
        self.input_names = [tensor.name for tensor in self.inputs]
        self.output_names = [output.name for output in self.session.get_outputs()]
        self.per_column = False

    def input_positions(self, columns: Sequence[str]) -> list[int] | None:
        """One input per column when the inputs are named after columns, else one matrix of all
        columns in schema order."""
        index = {name: i for i, name in enumerate(columns)}
        self.per_column = all(name in index for name in self.input_names)
        if self.per_column:
            positions = [index[name] for name in self.input_names]
            return None if positions == list(range(len(columns))) else positions
        if len(self.inputs) == 1:
            return None
        raise PredictionError(f"the ONNX model takes inputs {self.input_names}; the request fields are {list(columns)}")

    def input_dtypes(self, count: int) -> list[Any]:
        """Each input tensor's element type (one per column, or one matrix of all columns)."""
        if self.per_column:
            return [ONNX_DTYPES.get(tensor.type) for tensor in self.inputs]
        return [ONNX_DTYPES.get(self.inputs[0].type)] * count

    def predict_batch(self, inputs: np.ndarray) -> Outputs:
        outputs = self.session.run(self.output_names, self._feeds(inputs))
        return output_columns(self.output_names, outputs)

    def _feeds(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        if self.per_column:
            return {tensor.name: _column_tensor(matrix[:, i], tensor) for i, tensor in enumerate(self.inputs)}
        return {self.input_names[0]: matrix.astype(_dtype(self.inputs[0]), copy=False)}


def _dtype(tensor: Any) -> Any:
    return ONNX_DTYPES.get(tensor.type, np.float32)


def _column_tensor(column: np.ndarray, tensor: Any) -> np.ndarray:
    array = column.astype(_dtype(tensor), copy=False)
    return array.reshape(-1, 1) if len(tensor.shape) == 2 else array


def output_columns(names: list[str], outputs: list[Any]) -> Outputs:
    """One column per output; the first is `prediction` when it holds one value per row."""
    columns: Outputs = {}
    for position, (name, output) in enumerate(zip(names, outputs, strict=True)):
        values = _per_row(output)
        columns["prediction" if position == 0 and _is_flat(values) else name] = values
    return columns


def _per_row(output: Any) -> Any:
    if isinstance(output, np.ndarray):
        if output.ndim == 2 and output.shape[1] == 1:
            return output[:, 0]
        return output if output.ndim == 1 else list(output.tolist())
    return list(output)  # sequences of maps (e.g. ZipMap probabilities): one dict per row


def _is_flat(values: Any) -> bool:
    return isinstance(values, np.ndarray) and values.ndim == 1

"""The one object that does the serving work: load, warm up, predict, say if it's ready.

`load()` runs once, in the server's parent before it forks the workers (so they share the
model's memory and start ready); `start()` runs in each worker after the fork (the model's
per-process `initialize()` and a warm-up). Protocol adapters (rest.py) only translate HTTP to
calls on `DataPlane`; errors leave here as `ServingError`s carrying their HTTP status.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving import codec
from serving.batching import AdaptiveBatcher
from serving.bundle import BundleSpec, read_bundle
from serving.deadlines import Deadlines
from serving.errors import NotReadyError, PredictionError, ServingError
from serving.loader import initialize_runtime, load_runtime
from serving.model_input import ModelInput, Piece
from serving.runtimes.base import Runtime
from serving.schema import Schema, infer_input_schema, refine

REPORT = Path(".berth") / "report.json"


@dataclass(frozen=True)
class Limits:
    timeout_s: float
    max_batch_size: int
    max_batch_wait_s: float


class DataPlane:
    def __init__(self, bundle_dir: Path, limits: Limits,
                 on_batch: Callable[[int, float], None] | None = None) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.limits = limits
        self.spec: BundleSpec | None = None
        self.runtime: Runtime | None = None
        self.columns: codec.Columns | None = None
        self.model_input: ModelInput | None = None
        self.ready = False
        self.batcher = AdaptiveBatcher(self._predict_batch, limits.max_batch_size,
                                       limits.max_batch_wait_s, on_batch)
        self.deadlines = Deadlines(limits.timeout_s)

    # --- lifecycle ---------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self.model_input is not None

    def load(self) -> float:
        """Read the bundle, load the model (not initialized), warm it up with the example input
        when the runtime allows that before `initialize()`; seconds taken."""
        started = time.perf_counter()
        self.spec = read_bundle(self.bundle_dir)
        runtime = load_runtime(self.bundle_dir, self.spec, initialize=False)
        self.columns = _columns(self.bundle_dir, self.spec)
        self.model_input = _model_input(runtime, self.columns)
        self.runtime = runtime
        self.batcher.may_block = runtime.may_block
        if self.spec.examples and runtime.warm_before_initialize:
            self._warm_up(self.spec.examples)
        return time.perf_counter() - started

    def start(self) -> float:
        """In the process that will predict: initialize the runtime, answer the example input;
        then the plane is ready. Seconds taken."""
        assert self.runtime is not None, "load() first"  # noqa: S101 - programming-error check, free under -O
        assert self.spec is not None  # noqa: S101 - narrows the type; load() set it
        started = time.perf_counter()
        initialize_runtime(self.runtime)
        if self.spec.examples:
            self._warm_up(self.spec.examples)
        self.ready = True
        return time.perf_counter() - started

    def _warm_up(self, examples: list[dict[str, Any]]) -> None:
        piece = self._piece(examples)
        started = time.perf_counter()
        self._predict_batch([piece])
        self.batcher.typical_batch_s = time.perf_counter() - started

    def metadata(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "framework": spec.framework if spec else None,
            "ready": self.ready,
            "input_schema": self.columns.schema.to_list() if self.columns else None,
            "max_batch_size": self.limits.max_batch_size,
        }

    # --- predict -----------------------------------------------------------------

    async def predict(self, read_body: Callable[[], Awaitable[bytes]], request_id: str = "") -> list[Any]:
        """Read, decode and check one request, predict it in a batch, return its rows. What the model
        prints or logs while predicting it names `request_id` (serving.model_output)."""
        if not self.ready:
            raise NotReadyError("the model is still loading; retry when /health/ready answers 200")
        batcher = self.batcher
        watch = self.deadlines.watch()
        batcher.expect()
        arriving = True
        try:
            piece = self._piece(codec.decode_json(await read_body()))
            batcher.arrived()
            arriving = False
            return await batcher.submit(piece, len(piece), request_id)
        except asyncio.CancelledError:
            if not watch.expired or watch.task is None:
                raise
            watch.task.uncancel()  # the cancellation was the deadline's: this task goes on
            ms = round(self.limits.timeout_s * 1000)
            raise ServingError(f"the prediction took longer than the {ms} ms timeout", 504) from None
        finally:
            watch.release()
            if arriving:
                batcher.arrived()

    def _piece(self, payload: Any) -> Piece:
        """One request checked at the edge, once: its fields and types, then what the model's own
        input dtypes can hold; SchemaError (422) naming the field and row otherwise."""
        assert self.columns is not None  # noqa: S101 - narrows the type; load() set it
        assert self.model_input is not None  # noqa: S101 - narrows the type; load() set it
        return self.model_input.piece(codec.to_rows(payload, self.columns))

    def _predict_batch(self, requests: list[Piece]) -> list[list[Any]]:
        """Runs in the predict thread: one model input, one predict, results split back."""
        assert self.runtime is not None  # noqa: S101 - narrows the type; load() set it
        assert self.model_input is not None  # noqa: S101 - narrows the type; load() set it
        sizes = [len(piece) for piece in requests]
        inputs = self.model_input.build(requests)
        try:
            result = self.runtime.predict_batch(inputs)
        except ServingError:
            raise
        except Exception as exc:  # the user's model can raise anything
            raise PredictionError(f"the model raised {type(exc).__name__}: {exc}") from exc
        items = codec.result_rows(result, sum(sizes))
        return _split(items, sizes)


def _split(items: list[Any], sizes: list[int]) -> list[list[Any]]:
    if len(sizes) == 1:
        return [items]
    out, start = [], 0
    for size in sizes:
        out.append(items[start:start + size])
        start += size
    return out


def _model_input(runtime: Runtime, columns: codec.Columns) -> ModelInput:
    positions = runtime.input_positions(columns.names)
    taken = len(columns.names) if positions is None else len(positions)
    return ModelInput(columns, positions, runtime.takes_frame, runtime.input_dtypes(taken))


def _columns(bundle_dir: Path, spec: BundleSpec) -> codec.Columns:
    """The recorded schema (report.json input_schema), else inferred from the example; with what
    berth.yaml declares (nullable fields, model dtypes) on top either way."""
    report = bundle_dir / REPORT
    if report.is_file():
        recorded = json.loads(report.read_text(encoding="utf-8")).get("input_schema")
        if recorded:
            recorded = _nullable_where_the_example_is_null(recorded, spec.examples or [])
            return codec.Columns(Schema.from_list(refine(recorded, spec.input_schema)))
    if not spec.examples:
        raise ServingError("the build has no input schema and no example_input; add example_input to berth.yaml")
    return codec.Columns(Schema.from_list(infer_input_schema(spec.examples, spec.input_schema)))


def _nullable_where_the_example_is_null(recorded: list[dict[str, Any]], examples: list[dict[str, Any]]
                                        ) -> list[dict[str, Any]]:
    """Schemas recorded before fields said whether they are `nullable`: a field null in the example
    is (so such a build still answers its own example, as it did)."""
    nulls = {name for record in examples for name, value in record.items() if value is None}
    return [item | {"nullable": True} if "nullable" not in item and item["name"] in nulls else item
            for item in recorded]

"""The `fastapi-numpy` reference, what an experienced engineer writes: FastAPI, an `async def`
endpoint reading the JSON body itself (no pydantic model), one numpy row per record in the
model's feature order, `model.predict` on a model fitted on arrays.

    BENCH_MODEL=model-numpy.joblib uvicorn bench.serving.reference_numpy:app --workers 2
"""

from __future__ import annotations

import os

import joblib
import numpy as np
from fastapi import FastAPI, Request

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")

app = FastAPI()
model = joblib.load(os.environ.get("BENCH_MODEL", "model-numpy.joblib"))


@app.post("/v1/predict")
async def predict(request: Request) -> list[dict[str, int]]:
    rows = await request.json()
    features = np.array([[row[name] for name in FEATURES] for row in rows], dtype=np.float64)
    return [{"prediction": int(p)} for p in model.predict(features)]

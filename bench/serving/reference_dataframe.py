"""The `fastapi-dataframe` reference, the server most users write: FastAPI + pydantic body +
`model.predict` on a DataFrame per request.

    BENCH_MODEL=model.joblib uvicorn bench.serving.reference_dataframe:app --workers 2
"""

from __future__ import annotations

import os

import joblib
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()
model = joblib.load(os.environ.get("BENCH_MODEL", "model.joblib"))


class Features(BaseModel):
    sepal_length: float
    sepal_width: float
    petal_length: float
    petal_width: float


@app.post("/v1/predict")
def predict(rows: list[Features]) -> list[dict[str, int]]:
    frame = pd.DataFrame([row.model_dump() for row in rows])
    return [{"prediction": int(p)} for p in model.predict(frame)]

"""The base class a `python` framework build subclasses (Qwak users: replace `QwakModel`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import pandas as pd

Method = TypeVar("Method", bound=Callable[..., Any])


class BerthModel:
    """Subclass it, train in `build()` (optional), answer in `predict()`.

    `build()` runs once when the build is validated; the trained instance is then
    pickled with the bundle, so replicas start from the trained model and call
    `initialize_model()` once after loading it. `__init__` takes no arguments.
    """

    def build(self) -> None:
        """Train or load state. Runs once, at build time."""

    def initialize_model(self) -> None:
        """Runs in every replica after the model is loaded: open clients, warm caches."""

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError("predict(df) must return a pandas DataFrame")


def api(**_options: Any) -> Callable[[Method], Method]:
    """Accepts Qwak's `@api()` decorator on `predict` unchanged; it does nothing here."""

    def keep(method: Method) -> Method:
        return method

    return keep

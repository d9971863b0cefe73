"""Errors of the data plane. Each carries the HTTP status it maps to; the server maps
them to JSON responses in one place. Messages are written for the person who must act."""

from __future__ import annotations

ECHO_CHARS = 100  # how much of a client's own value an error message repeats


def echo(text: str) -> str:
    """A client's value as an error message repeats it: whole when short, else its start and its length
    (a 5 MB string must not come back as a 5 MB error)."""
    if len(text) <= ECHO_CHARS:
        return text
    return f"{text[:ECHO_CHARS]}… ({len(text)} characters)"


class ServingError(Exception):
    """Base of every error Berth raises on purpose while building or serving a model."""

    status: int = 500

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, object]:
        return {"error": self.message, "status": self.status}


class BundleError(ServingError):
    """The uploaded build (berth.yaml, archive, files, requirements) must be fixed."""

    status = 400


class SchemaError(ServingError):
    """A request's fields don't match the model's input schema."""

    status = 422


class ModelLoadError(ServingError):
    """The model artifact or the user's class could not be loaded."""

    status = 500


class PredictionError(ServingError):
    """The model failed to answer, or answered with something that is not a DataFrame."""

    status = 500


class MethodNotAllowed(ServingError):
    """A route asked with a method it does not answer; `allow` is the Allow header's value."""

    status = 405

    def __init__(self, message: str, allow: str) -> None:
        super().__init__(message)
        self.allow = allow


class NotReadyError(ServingError):
    """The model is still loading or warming up."""

    status = 503

"""Saved cases: a request and the answer it must get, compared exactly or within a numeric tolerance.

`run_cases` is what anything that gates on them calls (the tab's "Run all saved cases" today).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from deployments.models import Deployment, SavedCase
from deployments.prediction.gateway import Answer, PredictionInputError, parse_body, send

MAX_DIFFERENCES = 20


def differences(expected: Any, actual: Any, tolerance: float = 0.0, path: str = "$") -> list[str]:
    """Where `actual` differs from `expected`, one line per place (`$[0].species: expected 0, got 1`)."""
    if _number(expected) and _number(actual):
        if expected == actual or (tolerance > 0 and math.isclose(expected, actual, rel_tol=0, abs_tol=tolerance)):
            return []
        within = f" (tolerance {tolerance:g})" if tolerance else ""
        return [f"{path}: expected {expected!r}, got {actual!r}{within}"]
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[str] = []
        for key in expected:
            if key not in actual:
                found.append(f"{path}.{key}: missing")
            else:
                found += differences(expected[key], actual[key], tolerance, f"{path}.{key}")
        found += [f"{path}.{key}: not expected, got {_short(actual[key])}" for key in actual if key not in expected]
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        found = []
        if len(expected) != len(actual):
            found.append(f"{path}: expected {len(expected)} items, got {len(actual)}")
        for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
            found += differences(want, got, tolerance, f"{path}[{index}]")
        return found
    if type(expected) is type(actual) and expected == actual:
        return []
    return [f"{path}: expected {_short(expected)}, got {_short(actual)}"]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 100 else text[:100] + "…"


@dataclass
class CaseResult:
    case: SavedCase
    answer: Answer
    diff: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.answer.ok and not self.diff


def run_case(case: SavedCase, variation: str = "") -> CaseResult:
    answer = send(case.deployment, json.dumps(case.request).encode("utf-8"), variation)
    if not answer.ok:
        return CaseResult(case, answer, [f"HTTP {answer.status or '—'}: {answer.message}"])
    return CaseResult(case, answer, differences(case.expected, answer.json, case.tolerance)[:MAX_DIFFERENCES])


def run_cases(deployment: Deployment, variation: str = "") -> list[CaseResult]:
    return [run_case(case, variation) for case in SavedCase.objects.filter(deployment=deployment).select_related("deployment__model")]


def save_case(deployment: Deployment, user: User, name: str, request_text: str, expected_text: str,
              tolerance: str | float = 0.0) -> SavedCase:
    """Check and store a case; ValidationError per field (`name`, `request`, `expected`, `tolerance`)."""
    errors: dict[str, str] = {}
    name = name.strip()
    if not name:
        errors["name"] = "Name the case (e.g. 'setosa')."
    elif len(name) > 100:
        errors["name"] = f"At most 100 characters (got {len(name)})."
    elif SavedCase.objects.filter(deployment=deployment, name=name).exists():
        errors["name"] = f"This deployment already has a case named {name!r}."
    request = expected = None
    try:
        request, _ = parse_body(request_text)
    except PredictionInputError as exc:
        errors["request"] = str(exc)
    try:
        expected = json.loads(expected_text)
    except json.JSONDecodeError as exc:
        errors["expected"] = f"The expected answer is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
    try:
        limit = float(tolerance or 0)
        if not math.isfinite(limit) or limit < 0:
            raise ValueError
    except ValueError:
        errors["tolerance"] = f"A number from 0 up (e.g. 1e-6), or empty for an exact match (got {tolerance!r})."
        limit = 0.0
    if errors:
        raise ValidationError(errors)
    return SavedCase.objects.create(deployment=deployment, name=name, request=request, expected=expected,
                                    tolerance=limit, created_by=user)

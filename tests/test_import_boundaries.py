"""serving/ and sdk/ run where Django is absent (model-server image, users' laptops)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DJANGO_SIDE = ("django", "rest_framework", "channels", "celery", "console", "deployments", "monitoring")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["serving", "sdk"])
def test_the_data_plane_and_the_client_import_nothing_from_the_django_side(package):
    offenders = {
        f"{path.relative_to(REPO)}: {name}"
        for path in (REPO / package).rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in DJANGO_SIDE
    }
    assert not offenders, "Django-side imports found:\n" + "\n".join(sorted(offenders))

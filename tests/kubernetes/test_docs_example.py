"""docs/kubernetes.md shows exactly the objects Berth creates for its two-variation example."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from deployments.backends.kubernetes.example import as_yaml, example_manifests
from tests.kubernetes.conftest import REPO

DOC = REPO / "docs" / "kubernetes.md"
# The first YAML block under the example's heading (the console renders docs with raw HTML escaped,
# so no HTML comment marks it).
BLOCK = re.compile(r"\n### Example: two variations\n[^#]*?\n```yaml\n(.*?)\n```\n", re.DOTALL)


def documented() -> str:
    match = BLOCK.search(DOC.read_text())
    assert match, "docs/kubernetes.md has lost its generated example block"
    return match[1] + "\n"


def test_the_documented_objects_are_what_the_manifest_functions_make() -> None:
    assert documented() == as_yaml(example_manifests()), (
        "docs/kubernetes.md is out of date: paste the output of `python -m deployments.backends.kubernetes.example`")


def test_the_example_command_prints_them() -> None:
    result = subprocess.run([sys.executable, "-m", "deployments.backends.kubernetes.example"],
                            cwd=REPO, env={**os.environ, "DJANGO_SETTINGS_MODULE": "console.settings"},
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == documented()


def test_the_documented_kubectl_selector_is_the_one_removal_uses() -> None:
    from deployments.backends.kubernetes.example import TARGET
    from deployments.backends.kubernetes.labels import deployment_selector, selector_string

    assert f"-l {selector_string(deployment_selector(TARGET))}\n" in DOC.read_text()

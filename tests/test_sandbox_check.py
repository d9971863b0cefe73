"""Without a working sandbox, Berth runs no model code, and says what to install."""

from __future__ import annotations

import subprocess
import sys

from tests.fixtures.processes import REPO, process_env

VALIDATE_WITHOUT_BWRAP = """
import django, tempfile
from pathlib import Path
django.setup()
from deployments.builds.validation import run_validator
bundle = Path(tempfile.mkdtemp())
(bundle / "berth.yaml").write_text("framework: python")
result = run_validator(bundle, 10, 1024)
print(result.ok, result.error)
"""


def test_a_machine_without_bubblewrap_validates_no_build_and_says_what_to_install():
    done = subprocess.run([sys.executable, "-c", VALIDATE_WITHOUT_BWRAP], cwd=REPO,  # noqa: S603 - our own code
                          env=process_env(PATH="/nonexistent"), capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("False The build was not validated: model code can't be run safely")
    assert "install the Debian/Ubuntu package 'bubblewrap'" in done.stdout

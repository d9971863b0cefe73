"""The validation log as the model's author reads it (deployments/builds/log.py), and as it is stored."""

from __future__ import annotations

import json

from deployments.builds.log import for_author
from deployments.builds.validation import _log

SYNTAX_ERROR = """berth: running model:M.build()…
Traceback (most recent call last):
  File "/srv/berth/serving/validate.py", line 131, in _step
    yield
  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import
  File "/bundle/model.py", line 3
    def predict(self, df)
                         ^
SyntaxError: expected ':'
berth: build failed: SyntaxError: expected ':' (model.py, line 3)"""

ONLY_BERTH = """Traceback (most recent call last):
  File "/srv/berth/serving/validate.py", line 60, in validate
    spec = read_bundle(bundle_dir)
  File "/srv/berth/serving/bundle.py", line 90, in read_bundle
    raise BundleError("berth.yaml: framework is missing")
serving.bundle.BundleError: berth.yaml: framework is missing
berth: reading berth.yaml failed: berth.yaml: framework is missing"""

WITH_HANDLING = """Traceback (most recent call last):
  File "/bundle/model.py", line 8, in build
    import missing_module
ModuleNotFoundError: No module named 'missing_module'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/berth/serving/validate.py", line 131, in _step
    yield
  File "/bundle/model.py", line 10, in build
    raise RuntimeError("install missing_module")
RuntimeError: install missing_module"""


def test_a_syntax_error_keeps_the_authors_line_and_drops_berths_frames():
    shown = for_author(SYNTAX_ERROR)

    assert "serving/validate.py" not in shown
    assert "importlib" not in shown
    assert '  File "/bundle/model.py", line 3\n    def predict(self, df)\n' in shown
    assert "SyntaxError: expected ':'" in shown


def test_an_error_that_never_reached_the_authors_code_is_shown_without_frames():
    shown = for_author(ONLY_BERTH)

    assert "Traceback" not in shown
    assert "serving/bundle.py" not in shown
    assert "serving.bundle.BundleError: berth.yaml: framework is missing" in shown
    assert shown.endswith("berth: reading berth.yaml failed: berth.yaml: framework is missing")


def test_both_tracebacks_of_a_chain_through_the_authors_code_stay_each_from_its_first_own_frame():
    shown = for_author(WITH_HANDLING)

    assert "During handling of the above exception" in shown
    assert shown.count("Traceback (most recent call last):") == 2
    assert "serving/validate.py" not in shown
    assert 'File "/bundle/model.py", line 10, in build' in shown


def test_lines_that_are_no_traceback_are_kept_as_printed():
    log = "berth: loading the model…\nmy own print: 42\n  indented output of mine\nberth: validation passed"

    assert for_author(log) == log


def test_the_stored_log_leaves_out_the_report_line_of_stdout():
    report = json.dumps({"ok": False, "error": "predict failed: KeyError: 'x'"})

    log = _log(f"{report}\n".encode(), b"berth: loading the model\nKeyError: 'x'\n")

    assert log == "berth: loading the model\nKeyError: 'x'"


def test_a_log_stored_with_the_report_line_is_shown_without_it():
    assert for_author('berth: validation passed\n{"ok": true, "framework": "python"}') == "berth: validation passed"

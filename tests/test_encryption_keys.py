"""Encryption keys of secrets at rest: made once into the data dir, never derived, rotatable with reencrypt_secrets."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
from dataclasses import asdict
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import override_settings

from console.crypto import configured_keys, decrypt, encrypt, new_key
from console.secret_key import load_or_create
from deployments.models import Deployment, Rollout, Variation
from deployments.rollouts.spec import DeploySpec
from deployments.sandbox.command import Limits
from tests.fixtures.deployments import a_ready_build, an_active_rollout, serving_deployment, variation
from tests.fixtures.processes import REPO, process_env

PRINT_SETTINGS = ("import json, django; django.setup(); from django.conf import settings; "
                  "print(json.dumps({'keys': settings.BERTH_ENCRYPTION_KEYS, 'secret_key': settings.SECRET_KEY}))")
OLD, NEW = new_key(), new_key()


def derived_from(secret_key: str) -> str:
    """The key Berth used to derive from SECRET_KEY when BERTH_ENCRYPTION_KEYS was empty."""
    return base64.urlsafe_b64encode(hashlib.sha256(f"berth-secrets:{secret_key}".encode()).digest()).decode()


def start_console(data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    """Load the console's settings in a fresh process, as `make run`, the worker and the launcher do."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BERTH_ENCRYPTION_KEYS", "BERTH_SECRET_KEY"))}
    clean.update(BERTH_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="console.settings", **env)
    return subprocess.run([sys.executable, "-c", PRINT_SETTINGS], cwd=REPO, env=clean,  # noqa: S603 - our own
                          capture_output=True, text=True, timeout=60)


def test_a_fresh_data_dir_gets_its_own_keys_file_readable_by_its_owner_only(tmp_path: Path) -> None:
    first = start_console(tmp_path / "data")
    assert first.returncode == 0, first.stderr
    loaded = json.loads(first.stdout)

    keys_file = tmp_path / "data" / "encryption_keys"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    [key] = loaded["keys"]
    assert keys_file.read_text().strip() == key
    Fernet(key)  # a valid key
    assert key != derived_from(loaded["secret_key"])
    assert (tmp_path / "data" / "secret_key").read_text().strip() == loaded["secret_key"]
    again = start_console(tmp_path / "data")
    assert json.loads(again.stdout)["keys"] == [key], "a later start reads the same keys"


def test_keys_can_come_from_a_file_as_kubernetes_mounts_them(tmp_path: Path) -> None:
    mounted = tmp_path / "mounted"
    mounted.write_text(f"{NEW},{OLD}\n")

    started = start_console(tmp_path / "data", BERTH_ENCRYPTION_KEYS_FILE=str(mounted))

    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["keys"] == [NEW, OLD]
    assert not (tmp_path / "data" / "encryption_keys").exists(), "nothing is generated when keys are given"


def test_a_malformed_key_stops_startup_naming_the_setting_and_how_to_make_one(tmp_path: Path) -> None:
    started = start_console(tmp_path / "data", BERTH_ENCRYPTION_KEYS=f"{NEW},not-a-fernet-key")

    assert started.returncode != 0
    last_line = started.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: BERTH_ENCRYPTION_KEYS: key 2 of 2 "
                                "is not a valid Fernet key."), started.stderr
    assert "32 random bytes in url-safe base64" in last_line
    assert "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())" in last_line
    assert "not-a-fernet-key" not in started.stderr, "a key, even a broken one, is never printed"


def test_a_broken_keys_file_is_named_in_the_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BERTH_ENCRYPTION_KEYS", raising=False)
    monkeypatch.delenv("BERTH_ENCRYPTION_KEYS_FILE", raising=False)
    (tmp_path / "encryption_keys").write_text(f"{NEW}\n{OLD}\n")  # one a line is not the format

    with pytest.raises(ImproperlyConfigured) as caught:
        configured_keys(tmp_path)

    assert str(caught.value).startswith(f"BERTH_ENCRYPTION_KEYS (read from {tmp_path / 'encryption_keys'}): "
                                        "key 1 of 1 is not a valid Fernet key.")


def test_a_generated_file_is_never_readable_by_others_whatever_the_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0)
    try:
        value = load_or_create(tmp_path / "data", "encryption_keys", lambda: "first")
    finally:
        os.umask(old_umask)

    assert value == "first"
    assert stat.S_IMODE((tmp_path / "data" / "encryption_keys").stat().st_mode) == 0o600
    assert load_or_create(tmp_path / "data", "encryption_keys", lambda: "second") == "first", "made once, then read"
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["encryption_keys"], "no temporary file is left"


def test_a_token_made_with_the_old_secret_key_derivation_no_longer_decrypts() -> None:
    assert derived_from(settings.SECRET_KEY) not in settings.BERTH_ENCRYPTION_KEYS
    token = Fernet(derived_from(settings.SECRET_KEY)).encrypt(b"s3cret").decode()

    with pytest.raises(ValueError, match="cannot be decrypted with the configured keys"):
        decrypt(token)


def test_a_value_encrypted_before_a_new_key_is_prepended_still_decrypts() -> None:
    with override_settings(BERTH_ENCRYPTION_KEYS=[OLD]):
        before = encrypt("s3cret")
    with override_settings(BERTH_ENCRYPTION_KEYS=[NEW, OLD]):
        after = encrypt("s3cret")
        assert decrypt(before) == decrypt(after) == "s3cret"
    with override_settings(BERTH_ENCRYPTION_KEYS=[NEW]):
        assert decrypt(after) == "s3cret", "new values use the newest key"


def test_the_replica_launcher_decrypts_with_the_keys_the_console_uses(tmp_path: Path) -> None:
    """launch.py loads the settings from the same BERTH_DATA_DIR: no key is passed to it."""
    record = tmp_path / "replica.json"
    (tmp_path / "bundle").mkdir()
    (tmp_path / "socket").mkdir()
    limits = Limits(processes=16, open_files=64, memory_mb=1024, file_mb=1, scratch_mb=1)
    record.write_text(json.dumps({
        "argv": [sys.executable, "-c", "import os; print(os.environ['MODE'], os.environ['API_TOKEN'])"],
        "base_env": {}, "env": {"MODE": "fast"}, "secret_env": {"API_TOKEN": encrypt("tok-9f2c41")},
        "starts_file": str(tmp_path / "starts"),
        "sandbox": {"label": "keys-test", "bundle": str(tmp_path / "bundle"), "socket_dir": str(tmp_path / "socket"),
                    "network": False, "limits": asdict(limits)}}))

    launched = subprocess.run([sys.executable, "-m", "deployments.backends.launch", str(record)],  # noqa: S603
                              cwd=REPO, env=process_env(), capture_output=True, text=True, timeout=60)

    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert launched.stdout.strip().splitlines()[-1] == "fast tok-9f2c41"  # printed in the sandbox


# --- manage.py reencrypt_secrets --------------------------------------------------------------


def secret_deployment(model) -> Deployment:
    """A deployment serving a secret and a plain env var, its secret stored under OLD."""
    with override_settings(BERTH_ENCRYPTION_KEYS=[OLD]):
        return serving_deployment(model, variation(a_ready_build(model), env=[
            {"name": "API_TOKEN", "value": "s3cret", "secret": True}, {"name": "MODE", "value": "fast"}]),
            revisions=2)


def stored_tokens(deployment: Deployment) -> list[str]:
    tokens = [e.value for r in Rollout.objects.filter(deployment=deployment).order_by("revision")
              for v in DeploySpec.from_json(r.spec).variations for e in v.env if e.secret]
    return tokens + [e["value"] for v in Variation.objects.filter(deployment=deployment) for e in v.env
                     if e["secret"]]


def reencrypt_secrets() -> str:
    out = StringIO()
    call_command("reencrypt_secrets", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_reencrypt_secrets_lets_the_old_key_be_dropped(iris_model) -> None:
    deployment = secret_deployment(iris_model)
    with override_settings(BERTH_ENCRYPTION_KEYS=[NEW, OLD]):
        output = reencrypt_secrets()
        assert "Re-encrypted 3 secret value(s) with the newest key." in output  # two revisions, one variation row
        assert "Redeploy these so their replicas start from the new values" in output
        assert str(deployment) in output
        assert reencrypt_secrets().startswith("Re-encrypted 0 secret value(s)"), "a second run changes nothing"

    with override_settings(BERTH_ENCRYPTION_KEYS=[NEW]):
        tokens = stored_tokens(deployment)
        assert len(tokens) == 3
        assert [decrypt(token) for token in tokens] == ["s3cret"] * 3
        rollout = Rollout.objects.get(deployment=deployment, revision=2)
        assert [e.value for e in DeploySpec.from_json(rollout.spec).variations[0].env][1] == "fast"


@pytest.mark.django_db
def test_reencrypt_secrets_refuses_while_a_rollout_runs(iris_model) -> None:
    deployment = secret_deployment(iris_model)
    an_active_rollout(deployment)
    before = stored_tokens(deployment)

    with override_settings(BERTH_ENCRYPTION_KEYS=[NEW, OLD]), pytest.raises(CommandError, match="Wait for these"):
        reencrypt_secrets()

    assert stored_tokens(deployment) == before


@pytest.mark.django_db
def test_a_value_no_configured_key_opens_changes_nothing_and_says_where_it_is(iris_model) -> None:
    deployment = secret_deployment(iris_model)
    before = stored_tokens(deployment)

    with override_settings(BERTH_ENCRYPTION_KEYS=[NEW]), pytest.raises(CommandError) as caught:
        reencrypt_secrets()

    assert f"{deployment} revision 1 (deploy), variation default, env API_TOKEN" in str(caught.value)
    assert "nothing was changed" in str(caught.value)
    assert stored_tokens(deployment) == before

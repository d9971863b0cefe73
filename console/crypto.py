"""Encryption of secrets at rest (secret env vars): Fernet, keys rotatable newest-first.

The keys come only from BERTH_ENCRYPTION_KEYS (or BERTH_ENCRYPTION_KEYS_FILE), else from
BERTH_DATA_DIR/encryption_keys, generated once on first start. They are never derived from
SECRET_KEY: code that learns the secret key must not be able to read stored secrets.
"""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from console.env import envstr
from console.secret_key import load_or_create

KEYS_FILE = "encryption_keys"  # in BERTH_DATA_DIR: the variable's format, comma-separated keys, newest first
FERNET_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")  # 32 bytes, url-safe base64: Fernet itself skips stray characters
MAKE_KEY = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
KEY_HELP = ("Give comma-separated Fernet keys, newest first; a key is 32 random bytes in url-safe base64 "
            f"(44 characters, ending in '='). Make one with: {MAKE_KEY}")


def new_key() -> str:
    return Fernet.generate_key().decode()


def configured_keys(data_dir: Path) -> list[str]:
    """The keys of the settings: BERTH_ENCRYPTION_KEYS(_FILE), else the data directory's file, made once."""
    raw, source = envstr("BERTH_ENCRYPTION_KEYS"), "BERTH_ENCRYPTION_KEYS"
    if not raw:
        raw = load_or_create(data_dir, KEYS_FILE, new_key)
        source = f"BERTH_ENCRYPTION_KEYS (read from {data_dir / KEYS_FILE})"
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    if not keys:
        raise ImproperlyConfigured(f"{source}: no key given. {KEY_HELP}")
    for number, key in enumerate(keys, start=1):
        if not FERNET_KEY.fullmatch(key):  # the key itself stays out of the message: it is a secret
            raise ImproperlyConfigured(f"{source}: key {number} of {len(keys)} is not a valid Fernet key. {KEY_HELP}")
    return keys



def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.BERTH_ENCRYPTION_KEYS])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("a stored secret cannot be decrypted with the configured keys") from None


def reencrypt(token: str) -> str:
    """`token` under the newest key: unchanged when it already is, else rotated from an older key."""
    try:
        Fernet(settings.BERTH_ENCRYPTION_KEYS[0]).decrypt(token.encode())
        return token
    except InvalidToken:
        pass
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise ValueError("a stored secret cannot be decrypted with the configured keys") from None

"""The login form: a wrong username or password marks both fields invalid and points them at the
message, so a screen reader says why when either gets focus."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

ERROR_ID = "login-error"


class LoginForm(AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError:  # wrong username or password, or an inactive account
            for name in ("username", "password"):
                self.fields[name].widget.attrs.update({"aria-invalid": "true", "aria-describedby": ERROR_ID})
            raise

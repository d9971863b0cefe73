"""The deploy wizard's forms: one form per variation, one formset of env rows per variation.

Each field is checked as the user types by the spec's own rule for it (`rollouts.spec.check_*`),
so the wizard says what the API says; `DeployWizard.is_valid()` then calls
`rollouts.spec.validate_spec` once for the rules across fields (unique names, traffic adding
up to 100%, builds still ready) and puts each of its messages back on the field it names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formset_factory
from django.http import QueryDict

from console.crypto import decrypt, encrypt
from deployments.models import BuildStatus, InstanceType, Model
from deployments.models.variation import BOUNDS
from deployments.rollouts.spec import (
    FIELD_HELP,
    MAX_ENV_VALUE,
    DeploySpec,
    check_env_name,
    check_env_value,
    check_iam_role_arn,
    check_number,
    check_secret_name,
    check_variation_name,
    validate_spec,
)
from deployments.rollouts.spec_edit import rebalance, spec_to_data

VARIATIONS_PREFIX = "variations"
NUMBER_FIELDS = ("replicas", "server_workers", "request_timeout_ms", "deploy_timeout_min", "max_batch_size",
                 "traffic_percent")


class SpecField(forms.Field):
    """A field whose value is checked by the spec's rule for it (blank is left to the spec's default)."""

    def __init__(self, rule: Callable[[Any], Any], **kwargs: Any) -> None:
        self.rule = rule
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> Any:
        return self.rule(value)


class SpecNumberField(SpecField):
    widget = forms.NumberInput

    def __init__(self, name: str, label: str) -> None:
        low, high, default = BOUNDS[name]
        self.low, self.high = low, high
        super().__init__(partial(check_number, name), label=label, initial=default,
                         help_text=f"{FIELD_HELP[name]} {low}-{high}.")

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        return {**super().widget_attrs(widget), "min": self.low, "max": self.high}


class SpecChoiceField(forms.ChoiceField):
    """A select whose value the spec judges (a build no longer ready, an instance type withdrawn)."""

    def validate(self, value: Any) -> None:
        return None


class LiveValidation:
    """Every input asks the server about itself as the user types (see views.deploy.validate_field)."""

    def live(self, validate_url: str | None) -> None:
        if not validate_url:
            return
        for name, field in self.fields.items():  # type: ignore[attr-defined]
            if isinstance(field.widget, forms.HiddenInput):
                continue
            target = f"#err-{self.add_prefix(name)}"  # type: ignore[attr-defined]
            field.widget.attrs.update({
                "hx-post": validate_url, "hx-trigger": "input changed delay:300ms, change",
                "hx-target": target, "hx-swap": "outerHTML", "hx-sync": "this:replace",
            })


class VariationForm(LiveValidation, forms.Form):
    name = SpecField(check_variation_name, label="Variation name", initial="default", help_text=FIELD_HELP["name"],
                     widget=forms.TextInput(attrs={"maxlength": 36}))
    build_id = SpecChoiceField(label="Build")
    instance_type = SpecChoiceField(label="Instance type", initial="small")
    replicas = SpecNumberField("replicas", "Replicas (pods)")
    server_workers = SpecNumberField("server_workers", "Server workers")
    request_timeout_ms = SpecNumberField("request_timeout_ms", "Request timeout (ms)")
    deploy_timeout_min = SpecNumberField("deploy_timeout_min", "Deploy timeout (min)")
    max_batch_size = SpecNumberField("max_batch_size", "Max batch size")
    traffic_percent = SpecNumberField("traffic_percent", "Traffic (%)")
    shadow = forms.BooleanField(label="Shadow", required=False, help_text=FIELD_HELP["shadow"])
    daemon_mode = forms.BooleanField(label="Daemon mode", required=False, help_text=FIELD_HELP["daemon_mode"])
    outbound_network = forms.BooleanField(label="Allow outbound network", required=False,
                                          help_text=FIELD_HELP["outbound_network"])
    iam_role_arn = SpecField(check_iam_role_arn, label="IAM role ARN", help_text=FIELD_HELP["iam_role_arn"],
                             widget=forms.TextInput(attrs={"maxlength": 2048}))
    service_account_key_secret_name = SpecField(
        check_secret_name, label="Service-account key secret name",
        help_text=FIELD_HELP["service_account_key_secret_name"], widget=forms.TextInput(attrs={"maxlength": 253}))

    basic_fields = ("name", "build_id", "instance_type", "replicas", "traffic_percent", "shadow")
    advanced_fields = ("server_workers", "request_timeout_ms", "deploy_timeout_min", "max_batch_size",
                       "daemon_mode", "outbound_network", "iam_role_arn", "service_account_key_secret_name")

    def __init__(self, *args: Any, model: Model, validate_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        builds = model.builds.filter(status=BuildStatus.READY).order_by("-created_at")
        self.fields["build_id"].choices = [  # type: ignore[attr-defined]
            (str(b.build_id), f"{b.short_id} — {b.source_name or b.framework} — {b.created_at:%Y-%m-%d %H:%M}")
            for b in builds]
        self.fields["instance_type"].choices = [  # type: ignore[attr-defined]
            (t.name, t.label) for t in InstanceType.objects.filter(active=True)]
        self.live(validate_url)

    def bound_fields(self, names: tuple[str, ...]) -> list[forms.BoundField]:
        return [self[name] for name in names]

    def basic(self) -> list[forms.BoundField]:
        return self.bound_fields(self.basic_fields)

    def advanced(self) -> list[forms.BoundField]:
        return self.bound_fields(self.advanced_fields)


class EnvForm(LiveValidation, forms.Form):
    name = forms.CharField(label="Name", required=False, widget=forms.TextInput(attrs={"maxlength": 128}))
    value = forms.CharField(label="Value", required=False, strip=False,
                            widget=forms.TextInput(attrs={"autocomplete": "off", "maxlength": MAX_ENV_VALUE}))
    secret = forms.BooleanField(label="Secret", required=False,
                                help_text="Stored encrypted; never shown again.")
    stored = forms.BooleanField(required=False, widget=forms.HiddenInput)  # a secret value is already stored

    def __init__(self, *args: Any, validate_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.live(validate_url)
        stored = self["stored"].value() in (True, "True", "true", "on")
        if stored:
            self.fields["value"].widget.attrs["placeholder"] = "•••••• (kept unless you type a new value)"

    def clean_name(self) -> str:
        name = self.cleaned_data.get("name") or ""
        return check_env_name(name) if name else ""  # a blank row is left out

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "name" in self.errors:
            return cleaned
        if not cleaned.get("name") and cleaned.get("value"):
            self.add_error("name", "Give this value a name.")
        elif cleaned.get("name") and cleaned.get("value"):
            try:
                check_env_value(cleaned["name"], cleaned["value"])
            except ValidationError as exc:
                self.add_error("value", exc)
        return cleaned

    @property
    def is_blank(self) -> bool:
        return not (self.cleaned_data.get("name") or self.cleaned_data.get("value"))


class BaseVariationFormSet(forms.BaseFormSet):
    default_error_messages = {**forms.BaseFormSet.default_error_messages,
                              "too_few_forms": "Keep at least one variation."}


VariationFormSet = formset_factory(VariationForm, formset=BaseVariationFormSet, extra=0, min_num=1,
                                   validate_min=True, can_delete=True)
EnvFormSet = formset_factory(EnvForm, extra=0, can_delete=True)


class DeployWizard:
    """The configure step: variations with their env rows, validated together against the spec rules."""

    def __init__(self, model: Model, data: QueryDict | None = None, initial: Mapping[str, Any] | None = None,
                 previous: DeploySpec | None = None, validate_url: str | None = None,
                 show_errors: bool = True) -> None:
        self.model, self.previous, self.show_errors = model, previous, show_errors
        self.spec: DeploySpec | None = None
        self.errors: list[str] = []
        kwargs = {"model": model, "validate_url": validate_url}
        if data is not None:
            self.variations = VariationFormSet(data, prefix=VARIATIONS_PREFIX, form_kwargs=kwargs)
            self.envs = [EnvFormSet(data, prefix=env_prefix(i), form_kwargs={"validate_url": validate_url})
                         for i in range(self.variations.total_form_count())]
        else:
            raw = list((initial or {}).get("variations") or [])
            self.variations = VariationFormSet(initial=[_form_initial(v) for v in raw], prefix=VARIATIONS_PREFIX,
                                               form_kwargs=kwargs)
            self.envs = [EnvFormSet(initial=[_env_initial(e) for e in v.get("env") or []], prefix=env_prefix(i),
                                    form_kwargs={"validate_url": validate_url})
                         for i, v in enumerate(raw)]

    @classmethod
    def start(cls, model: Model, current: DeploySpec | None, build_id: str = "",
              validate_url: str | None = None) -> DeployWizard:
        """The form as first shown: what serves now, or one `default` variation of the chosen build."""
        initial = spec_to_data(current)
        if not initial["variations"]:
            build = build_id or next(iter(model.builds.filter(status=BuildStatus.READY)
                                          .order_by("-created_at").values_list("build_id", flat=True)), "")
            initial["variations"] = [{"name": "default", "build_id": str(build), "traffic_percent": 100}]
        elif build_id:  # "Deploy" on a build row: that build goes to the busiest live variation
            initial["variations"][0]["build_id"] = build_id
        return cls(model, initial=initial, previous=current, validate_url=validate_url)

    @property
    def rows(self) -> list[tuple[VariationForm, Any]]:
        return list(zip(self.variations.forms, self.envs, strict=True))

    def is_valid(self) -> bool:
        forms_ok = self.variations.is_valid() and all(envs.is_valid() for envs in self.envs)
        if not forms_ok:
            self.errors += [str(error) for error in self.variations.non_form_errors()]
            return False
        try:
            self.spec = validate_spec(self.model, self.spec_data(), self.previous)
        except ValidationError as exc:
            self._place(exc)
            return False
        return True

    def spec_data(self) -> dict[str, Any]:
        """The `validate_spec` input from the cleaned forms (removed variations and blank env rows left out)."""
        variations = []
        for form, envs in self._kept():
            data = {name: form.cleaned_data.get(name) for name in form.fields if name != "DELETE"}
            data["env"] = [{"name": e.cleaned_data["name"], "value": e.cleaned_data.get("value", ""),
                            "secret": bool(e.cleaned_data.get("secret"))} for e in _kept_env(envs)]
            variations.append(data)
        return {"variations": variations}

    def _kept(self) -> list[tuple[VariationForm, Any]]:
        return [(form, envs) for form, envs in self.rows if not (form.cleaned_data or {}).get("DELETE")]

    def _place(self, exc: ValidationError) -> None:
        """Put each `validate_spec` message on the field it names (`variations.0.env.1.name`)."""
        kept = self._kept()
        for key, messages in exc.message_dict.items():
            parts = key.split(".")
            if parts[0] != "variations" or len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) >= len(kept):
                self.errors += messages
                continue
            form, envs = kept[int(parts[1])]
            field = parts[2] if len(parts) > 2 else None
            if field == "env" and len(parts) > 4:
                rows = _kept_env(envs)
                index = int(parts[3]) if parts[3].isdigit() else len(rows)
                if index < len(rows) and parts[4] in rows[index].fields:
                    for message in messages:
                        rows[index].add_error(parts[4], message)
                    continue
            for message in messages:
                form.add_error(field if field in form.fields else None, message)

    # --- editing without saving: add rows, rebalance ----------------------------------------------

    @property
    def traffic(self) -> list[tuple[str, int, bool]]:
        """(name, percent, live) of each variation as typed, for the running total."""
        result = []
        for form in self.variations.forms:
            if _flag(form["DELETE"].value()):
                continue
            percent = _int(form["traffic_percent"].value())
            result.append((str(form["name"].value() or ""), percent, not _flag(form["shadow"].value())))
        return result

    @property
    def traffic_total(self) -> int:
        return sum(percent for _, percent, live in self.traffic if live)


def env_prefix(index: int) -> str:
    return f"{VARIATIONS_PREFIX}-{index}-env"


def add_variation(data: QueryDict, model: Model) -> QueryDict:
    """One more variation (`challenger`, `challenger-2`…) on the newest ready build, with 0% traffic."""
    data = data.copy()
    count = int(data.get(f"{VARIATIONS_PREFIX}-TOTAL_FORMS") or 0)
    names = {data.get(f"{VARIATIONS_PREFIX}-{i}-name") for i in range(count)}
    name = next(n for n in ["challenger", *(f"challenger-{i}" for i in range(2, 200))] if n not in names)
    build = model.builds.filter(status=BuildStatus.READY).order_by("-created_at").values_list("build_id", flat=True)
    defaults = {"name": name, "build_id": str(build.first() or ""), "instance_type": "small", "traffic_percent": 0}
    defaults |= {field: BOUNDS[field][2] for field in NUMBER_FIELDS if field != "traffic_percent"}
    for field, value in defaults.items():
        data[f"{VARIATIONS_PREFIX}-{count}-{field}"] = str(value)
    data[f"{VARIATIONS_PREFIX}-TOTAL_FORMS"] = str(count + 1)
    data[f"{env_prefix(count)}-TOTAL_FORMS"] = "0"
    data[f"{env_prefix(count)}-INITIAL_FORMS"] = "0"
    return data


def add_env_row(data: QueryDict, variation: int) -> QueryDict:
    data = data.copy()
    key = f"{env_prefix(variation)}-TOTAL_FORMS"
    data[key] = str(int(data.get(key) or 0) + 1)
    data.setdefault(f"{env_prefix(variation)}-INITIAL_FORMS", "0")
    return data


def rebalanced(data: QueryDict) -> QueryDict:
    """Split 100% evenly over the serving (not removed, not shadow) variations."""
    data = data.copy()
    indexes = [i for i in range(int(data.get(f"{VARIATIONS_PREFIX}-TOTAL_FORMS") or 0))
               if not _flag(data.get(f"{VARIATIONS_PREFIX}-{i}-DELETE"))]
    live = [not _flag(data.get(f"{VARIATIONS_PREFIX}-{i}-shadow")) for i in indexes]
    for index, percent in zip(indexes, rebalance([0] * len(indexes), live), strict=True):
        data[f"{VARIATIONS_PREFIX}-{index}-traffic_percent"] = str(percent)
    return data


FIELD_NAME = re.compile(rf"^{VARIATIONS_PREFIX}-(\d+)-(?:env-(\d+)-)?([a-z_]+)$")


def field_errors(model: Model, data: QueryDict, html_name: str) -> list[str] | None:
    """Errors of one field as typed, e.g. `variations-0-replicas` or `variations-0-env-2-name`; None if unknown."""
    match = FIELD_NAME.match(html_name or "")
    if not match:
        return None
    variation, env_row, field = match.groups()
    if env_row is not None:
        form: forms.Form = EnvForm(data, prefix=f"{env_prefix(int(variation))}-{env_row}")
    else:
        form = VariationForm(data, prefix=f"{VARIATIONS_PREFIX}-{variation}", model=model)
    if field not in form.fields:
        return None
    form.is_valid()
    return [str(error) for error in form.errors.get(field, [])]


# --- the reviewed draft, kept in the session between review and deploy -----------------------------

def seal(data: Mapping[str, Any]) -> dict[str, Any]:
    """The draft with typed secret values encrypted, so the session never holds them in clear."""
    return {**data, "variations": [
        {**v, "env": [{**e, "value": encrypt(e["value"]), "sealed": True} if e.get("secret") and e.get("value")
                      else e for e in v.get("env", [])]} for v in data.get("variations", [])]}


def unseal(data: Mapping[str, Any]) -> dict[str, Any]:
    return {**data, "variations": [
        {**v, "env": [{"name": e["name"], "value": decrypt(e["value"]) if e.get("sealed") else e.get("value", ""),
                       "secret": bool(e.get("secret"))} for e in v.get("env", [])]}
        for v in data.get("variations", [])]}


def _kept_env(envs: Any) -> list[EnvForm]:
    return [e for e in envs.forms if e.cleaned_data and not e.cleaned_data.get("DELETE") and not e.is_blank]


def _form_initial(variation: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in variation.items() if key != "env"}


def _env_initial(item: Mapping[str, Any]) -> dict[str, Any]:
    secret = bool(item.get("secret"))
    return {"name": item.get("name", ""), "value": "" if secret else item.get("value", ""), "secret": secret,
            "stored": secret}


def _flag(value: object) -> bool:
    return value in (True, "on", "true", "True", "1")


def _int(value: object) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0

"""The deploy wizard's forms: one form per variation, one formset of env rows per variation.

Each field is checked as the user types by the spec's own rule for it (`rollouts.spec.check_*`),
so the wizard says what the API says; `DeployWizard.is_valid()` then calls
`rollouts.spec.validate_spec` once for the rules across fields (unique names, traffic adding
up to 100%, builds still ready) and puts each of its messages back on the field it names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formset_factory
from django.http import QueryDict

from console.crypto import decrypt, encrypt
from deployments.endpoint_keys.defaults import require_key_default
from deployments.models import Build, BuildStatus, InstanceType, Model
from deployments.models.variation import BOUNDS
from deployments.rollouts.spec import (
    FIELD_HELP,
    KUBERNETES_ONLY,
    MAX_ENV_VALUE,
    DeploySpec,
    check_env_name,
    check_env_value,
    check_iam_role_arn,
    check_instance_type_runs_here,
    check_number,
    check_secret_name,
    check_variation_name,
    on_kubernetes,
    validate_spec,
)
from deployments.rollouts.spec_edit import rebalance, spec_to_data

VARIATIONS_PREFIX = "variations"
NUMBER_FIELDS = ("replicas", "server_workers", "request_timeout_ms", "deploy_timeout_min", "max_batch_size",
                 "traffic_percent")
def offered_instance_types() -> list[InstanceType]:
    """The active catalog; GPU types only where a GPU can exist (Kubernetes), not on the local runtime."""
    types = InstanceType.objects.filter(active=True)
    return list(types if on_kubernetes() else types.filter(gpu_count=0))


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
    build_id = SpecChoiceField(label="Build", required=False)  # blank: the spec says "Choose a build to deploy."
    instance_type = SpecChoiceField(label="Instance type", initial="small", required=False)
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
            (str(b.build_id), f"{b.short_id} — {build_name(b)} — {b.created_at:%Y-%m-%d %H:%M}") for b in builds]
        self.fields["instance_type"].choices = [  # type: ignore[attr-defined]
            (t.name, t.label) for t in offered_instance_types()]
        if not on_kubernetes():
            for name in KUBERNETES_ONLY:
                del self.fields[name]
        self.live(validate_url)

    def clean_instance_type(self) -> str:
        return check_instance_type_runs_here(str(self.cleaned_data.get("instance_type") or ""))

    def bound_fields(self, names: tuple[str, ...]) -> list[forms.BoundField]:
        return [self[name] for name in names if name in self.fields]

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
        row = int(self.prefix.rsplit("-", 1)[-1]) + 1 if self.prefix and self.prefix[-1].isdigit() else 1
        for name, words in {"name": "name", "value": "value", "secret": "is secret"}.items():
            if name in self.fields:  # the table's column headers are no <label> for its inputs
                self.fields[name].widget.attrs["aria-label"] = f"Environment variable {row} {words}"
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
    default_error_messages = {
        **forms.BaseFormSet.default_error_messages,
        "missing_management_form": "The form arrived incomplete (its list of variations is missing); "
                                   "reload the page and try again."}


# No validate_min: it counts a variation left at its defaults as none; `validate_spec` says
# "Add at least one variation." itself. "Remove this variation" is an edit action, not a DELETE flag.
VariationFormSet = formset_factory(VariationForm, formset=BaseVariationFormSet, extra=0, min_num=1)
class BaseEnvFormSet(forms.BaseFormSet):
    default_error_messages = {
        **forms.BaseFormSet.default_error_messages,
        "missing_management_form": "The form arrived incomplete (a list of environment variables is missing); "
                                   "reload the page and try again."}

    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields and index is not None:
            form.fields["DELETE"].widget.attrs["aria-label"] = f"Remove environment variable {index + 1}"


EnvFormSet = formset_factory(EnvForm, formset=BaseEnvFormSet, extra=0, can_delete=True)


@dataclass(frozen=True)
class Problem:
    """One line of the error summary: what is wrong, and the id of the field to fix it in."""

    target: str
    label: str
    message: str


class DeployWizard:
    """The configure step: variations with their env rows, validated together against the spec rules."""

    def __init__(self, model: Model, data: QueryDict | None = None, initial: Mapping[str, Any] | None = None,
                 previous: DeploySpec | None = None, validate_url: str | None = None) -> None:
        self.model, self.previous = model, previous
        self.spec: DeploySpec | None = None
        self.errors: list[str] = []
        kwargs = {"model": model, "validate_url": validate_url}
        # A checkbox: a posted form without it means off; a first showing keeps what serves, else the default.
        self.require_key = bool(data.get("require_key")) if data is not None else \
            bool((initial or {}).get("require_key", require_key_default()))
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
        valid = self._check()
        self._mark_invalid()
        return valid

    def _check(self) -> bool:
        forms_ok = self.variations.is_valid() and all(envs.is_valid() for envs in self.envs)
        if not forms_ok:
            formsets = [self.variations, *self.envs]
            self.errors += [str(error) for formset in formsets for error in formset.non_form_errors()]
            return False
        try:
            self.spec = validate_spec(self.model, self.spec_data(), self.previous)
        except ValidationError as exc:
            self._place(exc)
            return False
        return True

    def spec_data(self) -> dict[str, Any]:
        """The `validate_spec` input from the cleaned forms (blank env rows left out)."""
        variations = []
        for form, envs in self.rows:
            data = {name: form.cleaned_data.get(name) for name in form.fields}
            data["env"] = [{"name": e.cleaned_data["name"], "value": e.cleaned_data.get("value", ""),
                            "secret": bool(e.cleaned_data.get("secret"))} for e in _kept_env(envs)]
            variations.append(data)
        return {"variations": variations, "require_key": self.require_key}

    def _place(self, exc: ValidationError) -> None:
        """Put each `validate_spec` message on the field it names (`variations.0.env.1.name`)."""
        rows = self.rows
        for key, messages in exc.message_dict.items():
            parts = key.split(".")
            if parts[0] != "variations" or len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) >= len(rows):
                self.errors += messages
                continue
            form, envs = rows[int(parts[1])]
            field = parts[2] if len(parts) > 2 else None
            if field == "env" and len(parts) > 4:
                kept = _kept_env(envs)
                index = int(parts[3]) if parts[3].isdigit() else len(kept)
                if index < len(kept) and parts[4] in kept[index].fields:
                    for message in messages:
                        kept[index].add_error(parts[4], message)
                    continue
            for message in messages:
                form.add_error(field if field in form.fields else None, message)

    def _mark_invalid(self) -> None:
        """`aria-invalid` and `aria-describedby` (its error list) on each field with an error."""
        for form in self._all_forms():
            for name in form.errors:
                if name in form.fields:
                    form.fields[name].widget.attrs.update({
                        "aria-invalid": "true", "aria-describedby": f"err-{form.add_prefix(name)}"})

    def _all_forms(self) -> Iterator[forms.Form]:
        for form, envs in self.rows:
            yield form
            yield from envs.forms

    # --- the error summary at the top ---------------------------------------------------------------

    @property
    def problems(self) -> list[Problem]:
        """Every error on the page, in page order, each pointing at the field (or part) to fix."""
        problems = [Problem("traffic-total" if "raffic" in message else "deploy-form", "Variations", message)
                    for message in self.errors]
        for vi, (form, envs) in enumerate(self.rows):
            problems += self._variation_problems(vi, form, envs)
        return problems

    def _variation_problems(self, vi: int, form: VariationForm, envs: Any) -> list[Problem]:
        where = f"Variation {form['name'].value() or vi + 1}"
        problems = [Problem(f"variation-{vi}", where, str(message)) for message in form.non_field_errors()]
        for field in [*form.basic(), *form.advanced()]:
            problems += [Problem(field.auto_id, f"{where} · {field.label}", str(m)) for m in field.errors]
        for row, env in enumerate(envs.forms):
            for name in ("name", "value"):
                problems += [Problem(env[name].auto_id, f"{where} · environment variable {row + 1} {name}", str(m))
                             for m in env[name].errors]
        return problems

    @property
    def open_advanced(self) -> set[int]:
        """The variations whose advanced settings start open: those with env rows or an error there."""
        return {index for index, (form, envs) in enumerate(self.rows)
                if envs.total_form_count() or any(field.errors for field in form.advanced())}

    # --- editing without saving: add rows, rebalance ----------------------------------------------

    @property
    def traffic(self) -> list[tuple[str, int, bool]]:
        """(name, percent, live) of each variation as typed, for the running total."""
        return [(str(form["name"].value() or ""), _int(form["traffic_percent"].value()),
                 not _flag(form["shadow"].value())) for form in self.variations.forms]

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


VARIATION_KEY = re.compile(rf"^{VARIATIONS_PREFIX}-(\d+)-(.+)$")


def remove_variation(data: QueryDict, index: int) -> QueryDict:
    """The form without variation `index` (the ones after it move up); a lone serving one left gets 100%."""
    total = int(data.get(f"{VARIATIONS_PREFIX}-TOTAL_FORMS") or 0)
    if total < 2 or not 0 <= index < total:
        return data
    kept = QueryDict(mutable=True)
    for key, values in data.lists():
        match = VARIATION_KEY.match(key)
        if match is None:
            kept.setlist(key, values)
        elif int(match[1]) != index:
            number = int(match[1]) - (int(match[1]) > index)
            kept.setlist(f"{VARIATIONS_PREFIX}-{number}-{match[2]}", values)
    kept[f"{VARIATIONS_PREFIX}-TOTAL_FORMS"] = str(total - 1)
    initial = int(data.get(f"{VARIATIONS_PREFIX}-INITIAL_FORMS") or 0)
    kept[f"{VARIATIONS_PREFIX}-INITIAL_FORMS"] = str(min(initial, total - 1))
    live = [i for i in range(total - 1) if not _flag(kept.get(f"{VARIATIONS_PREFIX}-{i}-shadow"))]
    if len(live) == 1:
        kept[f"{VARIATIONS_PREFIX}-{live[0]}-traffic_percent"] = "100"
    return kept


def rebalanced(data: QueryDict) -> QueryDict:
    """Split 100% evenly over the serving (not removed, not shadow) variations."""
    data = data.copy()
    indexes = list(range(int(data.get(f"{VARIATIONS_PREFIX}-TOTAL_FORMS") or 0)))
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


# --- the review: which builds change, and whether clients would notice -----------------------------

SCHEMAS = (("input_schema", "Input"), ("output_schema", "Output"))


def build_name(build: Build) -> str:
    """What people call a build: its label when it has one, else the name of the file uploaded."""
    return str(getattr(build, "label", "") or build.source_name or build.framework or build.short_id)


@dataclass(frozen=True)
class BuildChange:
    """A variation moving from one build to another, with how their schemas differ (empty: they agree)."""

    variation: str
    before: Build
    after: Build
    differences: tuple[str, ...]


def build_changes(current: DeploySpec | None, new: Sequence[tuple[str, str]]) -> list[BuildChange]:
    """Each (variation, build id) of `new` whose build differs from the one serving it now.

    A variation that does not serve yet is compared with the busiest serving one: clients get
    answers from both as soon as it takes traffic.
    """
    if current is None or not current.variations:
        return []
    busiest = max(current.variations, key=lambda v: (not v.shadow, v.traffic_percent))
    moves = [(name, (current.variation(name) or busiest).build_id, build_id) for name, build_id in new]
    moves = [move for move in moves if move[1] != move[2]]
    builds = {str(b.build_id): b for b in Build.objects.filter(build_id__in={i for m in moves for i in m[1:]})}
    return [BuildChange(name, builds[old], builds[new_id], schema_differences(builds[old], builds[new_id]))
            for name, old, new_id in moves if old in builds and new_id in builds]


def schema_differences(before: Build, after: Build) -> tuple[str, ...]:
    """How `after`'s recorded input and output schemas differ from `before`'s, field by field."""
    found: list[str] = []
    for attribute, side in SCHEMAS:
        old, new = _schema_fields(getattr(before, attribute)), _schema_fields(getattr(after, attribute))
        if old is None or new is None:  # not recorded: nothing to compare
            continue
        found += [f"{side} field {name} is gone" for name in old if name not in new]
        found += [f"{side} field {name} is new ({dtype})" for name, dtype in new.items() if name not in old]
        found += [f"{side} field {name} changes type: {old[name]} → {dtype}"
                  for name, dtype in new.items() if name in old and old[name] != dtype]
    return tuple(found)


def schema_changed(changes: Sequence[BuildChange]) -> bool:
    return any(change.differences for change in changes)


def _schema_fields(schema: Any) -> dict[str, str] | None:
    if not isinstance(schema, list):
        return None
    return {str(item["name"]): str(item.get("dtype", "")) for item in schema if isinstance(item, dict)
            and "name" in item}


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

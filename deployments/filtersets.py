"""Filters shared by list pages and API lists."""

from __future__ import annotations

import django_filters

from deployments.models import Build, BuildStatus, Deployment, DeploymentStatus, Model


class ModelFilterSet(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug")

    class Meta:
        model = Model
        fields = ["project"]


class BuildFilterSet(django_filters.FilterSet):
    model_id = django_filters.CharFilter(field_name="model__model_id")
    status = django_filters.ChoiceFilter(choices=BuildStatus.choices)

    class Meta:
        model = Build
        fields = ["model_id", "status", "framework"]


class DeploymentFilterSet(django_filters.FilterSet):
    model_id = django_filters.CharFilter(field_name="model__model_id")
    project = django_filters.CharFilter(field_name="model__project__slug")
    status = django_filters.ChoiceFilter(choices=DeploymentStatus.choices)

    class Meta:
        model = Deployment
        fields = ["model_id", "project", "status", "environment"]

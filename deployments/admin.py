from django.contrib import admin

from deployments.models import (
    Build,
    Deployment,
    InstanceType,
    Membership,
    Model,
    Project,
    Rollout,
    RolloutEvent,
    Variation,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role"]
    list_filter = ["role"]


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ["model_id", "name", "project", "created_at"]


@admin.register(Build)
class BuildAdmin(admin.ModelAdmin):
    list_display = ["build_id", "model", "status", "framework", "created_at"]
    list_filter = ["status", "framework"]
    readonly_fields = ["build_id", "sha256", "size_bytes", "log"]


# --- deployments and rollouts ----------------------------------------------------------


@admin.register(InstanceType)
class InstanceTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "cpu", "memory_gb", "gpu_count", "gpu_kind", "active"]


class VariationInline(admin.TabularInline):
    model = Variation
    extra = 0
    exclude = ["env"]  # secret values are encrypted; never shown or edited here
    readonly_fields = ["name", "build", "instance_type", "replicas", "traffic_percent", "shadow"]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["model", "environment", "status", "gateway_url", "updated_at"]
    list_filter = ["status", "environment"]
    readonly_fields = ["current_rollout", "gateway_port", "gateway_url", "observed"]
    inlines = [VariationInline]


@admin.register(Rollout)
class RolloutAdmin(admin.ModelAdmin):
    list_display = ["deployment", "revision", "action", "status", "triggered_by", "created_at", "finished_at"]
    list_filter = ["status", "action"]
    readonly_fields = ["spec", "reason"]


@admin.register(RolloutEvent)
class RolloutEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "deployment", "kind", "level", "variation", "replica", "message"]
    list_filter = ["kind", "level"]

from __future__ import annotations

from django.urls import path

from deployments.views import builds, models, projects

urlpatterns = [
    path("projects/", projects.project_list, name="project-list"),
    path("projects/new/", projects.project_create, name="project-create"),
    path("projects/<slug:slug>/", projects.project_detail, name="project-detail"),
    path("projects/<slug:slug>/invite/", projects.project_invite, name="project-invite"),
    path("projects/<slug:slug>/members/<int:member_pk>/role/", projects.project_member_role,
         name="project-member-role"),
    path("projects/<slug:slug>/members/<int:member_pk>/remove/", projects.project_remove_member,
         name="project-remove-member"),
    path("projects/<slug:slug>/invitations/<int:invitation_pk>/revoke/", projects.project_revoke_invitation,
         name="project-revoke-invitation"),
    path("invitations/<int:pk>/accept/", projects.invitation_accept, name="invitation-accept"),
    path("invitations/<int:pk>/decline/", projects.invitation_decline, name="invitation-decline"),
    path("projects/<slug:slug>/models/new/", models.model_create, name="model-create"),
    path("models/<slug:model_id>/", models.model_detail, name="model-detail"),
    path("models/<slug:model_id>/builds/upload/", builds.build_upload, name="build-upload"),
    path("models/<slug:model_id>/builds/<str:build_id>/", builds.build_detail, name="build-detail"),
    path("models/<slug:model_id>/builds/<str:build_id>/edit/", builds.build_edit, name="build-edit"),
    path("models/<slug:model_id>/builds/<str:build_id>/delete/", builds.build_delete, name="build-delete"),
    path("docs/screenshots/<str:name>", builds.doc_screenshot, name="doc-screenshot"),
    path("docs/<slug:name>/", builds.doc_page, name="doc-page"),
]

# Deploy wizard and deployment pages.
from deployments.views import deploy, deployments  # noqa: E402

urlpatterns += [
    path("models/<slug:model_id>/deploy/", deploy.deploy_start, name="deploy-start"),
    path("models/<slug:model_id>/deploy/realtime/", deploy.deploy_realtime, name="deploy-realtime"),
    path("models/<slug:model_id>/deploy/validate/", deploy.validate_field, name="deploy-validate"),
    path("models/<slug:model_id>/deployments/", deployments.model_deployments, name="model-deployments"),
    path("deployments/<int:pk>/", deployments.deployment_detail, name="deployment-detail"),
    path("deployments/<int:pk>/charts/", deployments.deployment_charts, name="deployment-charts"),
    path("deployments/<int:pk>/configuration/", deployments.deployment_configuration,
         name="deployment-configuration"),
    path("deployments/<int:pk>/events/", deployments.deployment_events, name="deployment-events"),
    path("deployments/<int:pk>/scale/", deployments.deployment_scale, name="deployment-scale"),
    path("deployments/<int:pk>/rollback/", deployments.deployment_rollback, name="deployment-rollback"),
    path("deployments/<int:pk>/undeploy/", deployments.deployment_undeploy, name="deployment-undeploy"),
]

# The Prediction tab (deployments/views/predict.py).
from deployments.views import predict  # noqa: E402

urlpatterns += [
    path("deployments/<int:pk>/predict/", predict.deployment_predict, name="deployment-predict"),
    path("deployments/<int:pk>/predict/cases/", predict.predict_case_save, name="deployment-predict-case-save"),
    path("deployments/<int:pk>/predict/cases/run/", predict.predict_cases_run, name="deployment-predict-cases-run"),
    path("deployments/<int:pk>/predict/cases/<int:case_pk>/delete/", predict.predict_case_delete,
         name="deployment-predict-case-delete"),
]

# The Logs tab (deployments/views/logs.py).
from deployments.views import logs  # noqa: E402

urlpatterns += [
    path("deployments/<int:pk>/logs/", logs.deployment_logs, name="deployment-logs"),
    path("deployments/<int:pk>/logs/download/", logs.deployment_logs_download, name="deployment-logs-download"),
]

# The Usage tab: how a client calls the deployment.
from deployments.views import usage  # noqa: E402

urlpatterns += [
    path("deployments/<int:pk>/usage/", usage.deployment_usage, name="deployment-usage"),
]

# A project's endpoint keys (docs/endpoint-keys.md).
from deployments.views import endpoint_keys  # noqa: E402

urlpatterns += [
    path("projects/<slug:slug>/keys/", endpoint_keys.project_endpoint_keys, name="project-endpoint-keys"),
    path("projects/<slug:slug>/keys/<int:key_pk>/revoke/", endpoint_keys.project_endpoint_key_revoke,
         name="project-endpoint-key-revoke"),
]

from deployments.models.build import Build, BuildStatus
from deployments.models.deployment import Deployment, DeploymentStatus
from deployments.models.endpoint_key import EndpointKey
from deployments.models.instance_type import InstanceType
from deployments.models.invitation import Invitation
from deployments.models.model import Model
from deployments.models.prediction import PredictionCall, SavedCase
from deployments.models.project import Membership, Project, Role
from deployments.models.rollout import (
    EventKind,
    EventLevel,
    Rollout,
    RolloutAction,
    RolloutEvent,
    RolloutStatus,
)
from deployments.models.variation import Variation

__all__ = [
    "Build", "BuildStatus", "Deployment", "DeploymentStatus", "EndpointKey", "EventKind", "EventLevel",
    "InstanceType", "Invitation", "Membership", "Model", "PredictionCall", "Project", "Role", "Rollout", "RolloutAction",
    "RolloutEvent", "RolloutStatus", "SavedCase", "Variation",
]

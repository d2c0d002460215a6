"""The local Meta Marketing (Graph) API sandbox: seeded data, faults, the score model and the server."""

from adsvc.sandbox.data import InsightsQuery, SandboxConfig, SandboxData
from adsvc.sandbox.errors import GraphError
from adsvc.sandbox.faults import FaultProfile
from adsvc.sandbox.graph import SANDBOX_ACCESS_TOKEN, SandboxState
from adsvc.sandbox.scoring import ScoreBoard
from adsvc.sandbox.server import SANDBOX_STATE, create_sandbox_app

__all__ = [
    "SANDBOX_ACCESS_TOKEN",
    "SANDBOX_STATE",
    "FaultProfile",
    "GraphError",
    "InsightsQuery",
    "SandboxConfig",
    "SandboxData",
    "SandboxState",
    "ScoreBoard",
    "create_sandbox_app",
]

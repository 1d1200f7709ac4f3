"""Public entry point: ``sim.model.RecoveryModel``, the Mesa face (:mod:`sim.faces.mesa_model`)."""

from sim.faces.mesa_model import AGENT_REPORTERS, ModelError, RecoveryModel, ServiceUser, TeamAgent

__all__ = ["AGENT_REPORTERS", "ModelError", "RecoveryModel", "ServiceUser", "TeamAgent"]

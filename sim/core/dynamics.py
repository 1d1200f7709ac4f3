"""The weekly dynamics of users: mechanism doses, processes, outcomes and feedback.

Steps 2-5 of the weekly schedule (docs/ODD.md). Plain numpy over (R, N) arrays;
nothing here knows of Mesa, files or the command line. Every process p in [0, 1]
moves by a signed dose d and relaxes to the user's baseline b::

    p += rate x (max(d, 0) x (1 - p) - max(-d, 0) x p) - decay x (p - b)
"""

from __future__ import annotations

import numpy as np

from sim.core.logic_model import USER_INTERVENTIONS, intervention, mechanism_profile_matrix
from sim.core.state import BatchParams, State
from sim.core.world import World

__all__ = [
    "ADVANCED_STAGE",
    "apply_outcomes",
    "functioning_target",
    "mechanism_doses",
    "personal_recovery",
    "recovery_stage",
    "update_processes",
]

PROFILE = mechanism_profile_matrix()  # (K, 4)
IPS = USER_INTERVENTIONS.index("supported_employment")
HOUSING_FIRST = USER_INTERVENTIONS.index("supported_housing")
GROUP_INTERVENTIONS = tuple(
    k for k, name in enumerate(USER_INTERVENTIONS) if intervention(name).group
)
ADVANCED_STAGE = 3  # rebuilding and growth model recovery for others
QPR_MAX = 60.0


def personal_recovery(state: State) -> np.ndarray:
    """Personal-recovery score on the QPR-15 scale (0-60), shape (R, N).

    Equal weights of the five CHIME processes (Leamy et al. 2011, Br J Psychiatry
    199:445-52): connectedness, hope, identity (1 - self-stigma), meaning,
    empowerment.
    """
    p = state.process
    chime = state.connectedness + p["hope"] + (1.0 - state.self_stigma) + p["meaning"]
    return (QPR_MAX / 5.0) * (chime + p["empowerment"])


def recovery_stage(qpr: np.ndarray) -> np.ndarray:
    """Andresen stage index 0-4 (moratorium ... growth) from equal QPR bands."""
    return np.minimum((qpr * (5.0 / QPR_MAX)).astype(np.int64), 4)


def mechanism_doses(state: State, world: World, bp: BatchParams, engaged: np.ndarray,
                    advanced: np.ndarray) -> np.ndarray:
    """The four mechanism doses of every user this week, shape (R, N, 4).

    Intervention doses (profile x fidelity) are modulated by engagement
    (information, role modelling) and by the team's professional attitudes
    (alliance, choice). Usual care adds a signed alliance and choice dose that
    is positive in pro-recovery teams and negative in custodial ones, and ties
    further on in recovery add a signed role-modelling dose.
    """
    raw = state.enrolled.astype(np.float64) @ PROFILE  # (R, N, 4)
    raw *= bp.per_agent("fidelity")[..., None]
    attitudes = state.attitudes[:, world.team_of_agent]
    usual = bp.per_agent("usual_care_contact") * (2.0 * attitudes - 1.0)
    degree = state.network.degree()
    share_advanced = state.network.neighbour_sum(advanced) / np.maximum(degree, 1)
    peer_signal = np.where(degree > 0, share_advanced - 0.5, 0.0)
    doses = np.empty_like(raw)
    doses[..., 0] = raw[..., 0] * engaged
    doses[..., 1] = raw[..., 1] * (0.5 + attitudes) + usual
    doses[..., 2] = raw[..., 2] * engaged + bp.network_role_model_weight * peer_signal
    doses[..., 3] = raw[..., 3] * (0.5 + attitudes) + usual
    return doses


def _move(p: np.ndarray, dose: np.ndarray, rate: np.ndarray, decay: np.ndarray,
          base: np.ndarray) -> np.ndarray:
    up = np.maximum(dose, 0.0) * (1.0 - p) - np.maximum(-dose, 0.0) * p
    return np.clip(p + rate * up - decay * (p - base), 0.0, 1.0)


def update_processes(state: State, bp: BatchParams, doses: np.ndarray,
                     noise: np.ndarray) -> None:
    """Move the processes in sequence (information -> knowledge -> self-efficacy, ...).

    Args:
        state: Updated in place.
        bp: Parameters.
        doses: Mechanism doses (R, N, 4).
        noise: Standard normal draws (R, N, 3) for hope, empowerment, motivation.
    """
    p, b, decay = state.process, state.baseline, bp.process_decay_rate_per_week
    info, alliance, role, choice = (doses[..., i] for i in range(4))
    p["knowledge"] = _move(p["knowledge"], info, bp.knowledge_learning_rate_per_week, decay,
                           b["knowledge"])
    knowledge_gain = np.maximum(p["knowledge"] - b["knowledge"], 0.0)
    p["self_efficacy"] = _move(p["self_efficacy"], knowledge_gain,
                               bp.self_efficacy_rate_per_week, decay, b["self_efficacy"])
    p["trust"] = _move(p["trust"], alliance, bp.trust_rate_per_week, decay, b["trust"])
    sd = bp.process_noise_sd
    p["hope"] = np.clip(_move(p["hope"], role, bp.hope_rate_per_week, decay, b["hope"])
                        + sd * noise[..., 0], 0.0, 1.0)
    state.self_stigma = _move(state.self_stigma, -role, bp.stigma_reduction_rate_per_week, decay,
                              state.self_stigma_baseline)
    p["empowerment"] = np.clip(
        _move(p["empowerment"], choice, bp.empowerment_rate_per_week, decay, b["empowerment"])
        + sd * noise[..., 1], 0.0, 1.0)
    roles = state.employed + bp.participation_meaning_weight * state.enrolled.any(axis=-1)
    p["meaning"] = _move(p["meaning"], roles, bp.meaning_rate_per_week, decay, b["meaning"])


def functioning_target(state: State) -> np.ndarray:
    """Functioning set-point: mean of low symptoms, housing, work and self-efficacy."""
    return 0.25 * ((1.0 - state.severity) + state.housed + state.employed
                   + state.process["self_efficacy"])


def _odds_to_probability(base_probability: np.ndarray, log_odds_shift: np.ndarray) -> np.ndarray:
    odds = base_probability / (1.0 - base_probability) * np.exp(log_odds_shift)
    return odds / (1.0 + odds)


def job_finding_probability(state: State, bp: BatchParams) -> np.ndarray:
    """Weekly job-finding chance of each user, shape (R, N); zero during relapse."""
    readiness = (state.process["self_efficacy"] + state.motivation + 1.0 - state.severity) / 3.0
    points = 100.0 * (bp.per_agent("unemployment_rate") - bp.reference_unemployment_rate)
    shift = (-np.log(bp.job_entry_odds_ratio_per_point) * points
             - bp.stigma_job_penalty * (bp.per_agent("public_stigma") - 0.5)
             + bp.readiness_job_gradient * (readiness - 0.5)
             + np.log(bp.work_history_job_multiplier) * state.work_history
             + np.log(bp.ips_job_finding_multiplier) * state.enrolled[..., IPS])
    return np.where(state.in_relapse, 0.0,
                    _odds_to_probability(bp.job_finding_probability_per_week, shift))


def _loss_probability(base: np.ndarray, protection: np.ndarray, protected: np.ndarray,
                      in_relapse: np.ndarray, relapse_multiplier: np.ndarray) -> np.ndarray:
    factor = (1.0 - protection * protected) * np.where(in_relapse, relapse_multiplier, 1.0)
    return np.minimum(base * factor, 1.0)


def apply_outcomes(state: State, bp: BatchParams, draws: dict[str, np.ndarray]) -> None:
    """Employment, housing, relapse, severity, functioning, connectedness and feedback.

    Args:
        state: Updated in place.
        bp: Parameters.
        draws: Uniforms (R, N) named ``employment``, ``housing``, ``relapse``
            and normals (R, N, 3) named ``noise``.
    """
    u_job, u_house, u_relapse = draws["employment"], draws["housing"], draws["relapse"]
    lose_job_chance = _loss_probability(bp.job_loss_probability_per_week, bp.ips_job_retention,
                                        state.enrolled[..., IPS], state.in_relapse,
                                        bp.relapse_loss_multiplier)
    start = ~state.employed & (u_job < job_finding_probability(state, bp))
    lose = state.employed & (u_job < lose_job_chance)
    state.employed = (state.employed | start) & ~lose
    state.ever_employed |= start
    state.weeks_employed += state.employed

    in_hf = state.enrolled[..., HOUSING_FIRST]
    availability = bp.per_agent("housing_availability") / 0.5
    gain_chance = _odds_to_probability(
        bp.housing_gain_probability_per_week,
        np.log(availability) + np.log(bp.housing_first_multiplier) * in_hf)
    lose_home_chance = _loss_probability(bp.housing_loss_probability_per_week,
                                         bp.housing_first_retention, in_hf, state.in_relapse,
                                         bp.relapse_loss_multiplier)
    gain = ~state.housed & (u_house < gain_chance)
    evict = state.housed & (u_house < lose_home_chance)
    state.housed = (state.housed | gain) & ~evict
    state.weeks_housed += state.housed

    onset, resolve = _relapse(state, bp, u_relapse)
    _feedback(state, bp, start, lose, onset, draws["noise"][..., 2])
    state.in_relapse = (state.in_relapse | onset) & ~resolve
    state.relapses += onset
    target = state.severity_baseline + bp.relapse_severity_rise * state.in_relapse
    state.severity = np.clip(state.severity + bp.severity_rate_per_week * (target - state.severity),
                             0.0, 1.0)
    state.functioning += bp.functioning_rate_per_week * (functioning_target(state)
                                                         - state.functioning)
    state.connectedness += bp.connectedness_rate_per_week * (
        connectedness_target(state, bp) - state.connectedness)


def connectedness_target(state: State, bp: BatchParams) -> np.ndarray:
    """Connectedness set-point: ties / (ties + half-saturation ties)."""
    degree = state.network.degree()
    return degree / (degree + bp.connectedness_half_ties)


def _relapse(state: State, bp: BatchParams, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gain = np.maximum(state.process["knowledge"] - state.baseline["knowledge"], 0.0)
    hazard = (bp.relapse_probability_per_week * (0.5 + state.severity)
              * np.exp(-bp.relapse_knowledge_protection * gain))
    onset = ~state.in_relapse & (u < hazard)
    resolve = state.in_relapse & (u < bp.relapse_recovery_probability_per_week)
    return onset, resolve


def _feedback(state: State, bp: BatchParams, start: np.ndarray, lose: np.ndarray,
              onset: np.ndarray, noise: np.ndarray) -> None:
    """Success raises hope, motivation and self-efficacy; job loss and relapse set them back."""
    p = state.process
    boost, setback = bp.success_boost * start, bp.job_loss_setback * lose
    relapse = bp.relapse_setback * onset
    for name in ("hope", "self_efficacy"):
        p[name] = p[name] + boost * (1.0 - p[name])
        p[name] = p[name] * (1.0 - relapse) * (1.0 - (setback if name == "hope" else 0.0))
    m = state.motivation + boost * (1.0 - state.motivation)
    m = m * (1.0 - setback) * (1.0 - relapse)
    set_point = state.motivation_baseline + bp.hope_motivation_gain * (p["hope"] - state.baseline[
        "hope"])
    m += bp.motivation_rate_per_week * (set_point - m) + bp.process_noise_sd * noise
    state.motivation = np.clip(m, 0.0, 1.0)

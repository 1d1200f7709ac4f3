"""The rules of the weekly schedule, each stated once, over one user (or team, or tie).

Every rule is a small numba-compiled function with named inputs, written to be
read beside the submodel of docs/ODD.md §7 it implements (cited in each
docstring). They are callable from plain Python (``rules.move(0.5, 1.0, 0.2,
0.0, 0.5)``), which is how ``tests/test_submodels.py`` tests them, and the
compiled drivers of :mod:`sim.core.kernels`, :mod:`sim.core.service_kernels` and
:mod:`sim.core.network_kernels` call them for every (run, user) in each phase.
There is no second (vectorised) statement of the model.

The array helpers at the end (:func:`personal_recovery`, :func:`recovery_stage`,
:func:`functioning_set_points`, :func:`connectedness_set_points`) apply a rule to
whole (R, N) arrays, for initialisation, metrics and the faces.
"""

from __future__ import annotations

import numba
import numpy as np

from sim.core.scales import LAST_STAGE, QPR_PER_PROCESS, STAGES_PER_POINT

__all__ = [
    "FUNCTIONING_WEIGHTS",
    "connectedness_set_point",
    "connectedness_set_points",
    "dropout_chance",
    "engagement",
    "feedback",
    "functioning_set_point",
    "functioning_set_points",
    "functioning_weight_sum",
    "job_log_odds_shift",
    "knowledge_gain",
    "loss_probability",
    "motivation_update",
    "move",
    "move_noisy",
    "odds_to_probability",
    "partner_offset",
    "peer_signal",
    "personal_recovery",
    "personal_recovery_score",
    "recovery_stage",
    "relapse_hazard",
    "severity_update",
    "stage_of",
    "tie_lapses",
    "trained_attitude",
    "usual_care_dose",
]


def _jit(function):
    return numba.njit(cache=True, nogil=True, error_model="numpy")(function)


@_jit
def _clip01(x):
    return min(max(x, 0.0), 1.0)


# ----------------------------------------------------------------- services (ODD §7.1-7.4, 7.12)


@_jit
def trained_attitude(baseline, gain, participation, week, weeks):
    """A trained team's professional attitudes this week (ODD §7.1).

    attitudes = baseline + gain x participation x min(1, week / weeks) x (1 - baseline).
    """
    rise = gain * participation * min(1.0, week / weeks)
    return baseline + rise * (1.0 - baseline)


@_jit
def engagement(motivation, trust, trust_weight):
    """Engagement (0-1): motivation x (1 - w + w x trust) (ODD §7.2)."""
    return motivation * (1.0 - trust_weight + trust_weight * trust)


@_jit
def dropout_chance(probability, engaged):
    """Weekly dropout chance of a participant: probability x (1 - engagement) (ODD §7.12)."""
    return probability * (1.0 - engaged)


# ----------------------------------------------------------------- doses and processes (§7.5-7.6)


@_jit
def usual_care_dose(contact, attitude, neutral):
    """Usual care's signed alliance and choice dose (ODD §7.5).

    contact x 2 x (attitudes - neutral), ``neutral`` = ``usual_care_neutral_attitudes``
    (computed as contact x (2 x attitudes - 2 x neutral): today's operations at 0.5).
    """
    return contact * (2.0 * attitude - 2.0 * neutral)


@_jit
def move(p, dose, rate, decay, base):
    """One process moved by a signed dose and relaxed to its baseline (ODD §7.6).

    p + rate x (max(d, 0) x (1 - p) - max(-d, 0) x p) - decay x (p - base), clipped to [0, 1].
    """
    up = max(dose, 0.0) * (1.0 - p) - max(-dose, 0.0) * p
    return _clip01(p + rate * up - decay * (p - base))


@_jit
def move_noisy(p, dose, rate, decay, base, sd, noise):
    """:func:`move`, plus sd x a standard normal, clipped again (hope, empowerment; ODD §7.6)."""
    return _clip01(move(p, dose, rate, decay, base) + sd * noise)


@_jit
def knowledge_gain(knowledge, base):
    """Knowledge gained over the baseline, max(k - base, 0) (ODD §7.6, §7.9)."""
    return max(knowledge - base, 0.0)


# --------------------------------------------------------------------- outcomes (§7.7-7.11)


@_jit
def job_log_odds_shift(
    points,
    log_odds_ratio_per_point,
    stigma_penalty,
    public_stigma,
    reference_stigma,
    readiness_gradient,
    reference_readiness,
    efficacy,
    motivation,
    severity,
    w_efficacy,
    w_motivation,
    w_symptoms,
    w_sum,
    log_work_history,
    work_history,
    log_ips,
    in_ips,
):
    """The log-odds shift of the weekly job-finding chance (ODD §7.7).

    ``points`` is the site's unemployment rate above the reference, in percentage
    points; readiness = (w_SE x self-efficacy + w_M x motivation + w_Sev x (1 - severity))
    / w_sum, with w_sum = w_SE + w_M + w_Sev (the mean at equal weights), written as
    ((w_SE x se + w_M x m) + w_Sev - w_Sev x severity) / w_sum so that the default
    weights of 1 give today's operations.
    """
    site = -log_odds_ratio_per_point * points - stigma_penalty * (public_stigma - reference_stigma)
    readiness = (
        w_efficacy * efficacy + w_motivation * motivation + w_symptoms - w_symptoms * severity
    ) / w_sum
    return (
        site
        + readiness_gradient * (readiness - reference_readiness)
        + log_work_history * (1.0 if work_history else 0.0)
        + log_ips * in_ips
    )


@_jit
def odds_to_probability(base_odds, exp_shift):
    """The chance whose odds are base_odds x exp(shift) (ODD §7.7, §7.8)."""
    odds = base_odds * exp_shift
    return odds / (1.0 + odds)


@_jit
def loss_probability(base, protection, protected, in_relapse, relapse_multiplier):
    """Weekly chance to lose a job or a home (ODD §7.7, §7.8).

    base x (1 - protection x protected) x (relapse multiplier during relapse), at most 1.
    """
    factor = (1.0 - protection * protected) * (relapse_multiplier if in_relapse else 1.0)
    return min(base * factor, 1.0)


@_jit
def relapse_hazard(probability, severity, protection_factor, offset, slope):
    """Weekly relapse-onset chance (ODD §7.9).

    p x (1 + slope x (severity - reference)) x exp(-protection x gain), computed as
    p x (offset + slope x severity) x ... with ``offset`` = 1 - slope x reference
    (``relapse_severity_offset``, 0.5 at the defaults: today's operations).
    ``protection_factor`` is exp(-protection x knowledge gain), evaluated by numpy.
    """
    return probability * (offset + slope * severity) * protection_factor


@_jit
def feedback(x, boost, hit, setback):
    """Job start lifts hope or self-efficacy toward 1; relapse and job loss cut it (ODD §7.10).

    ``boost``, ``hit`` and ``setback`` are zero unless the event happened this week
    (self-efficacy has no job-loss setback: pass 0).
    """
    x = x + boost * (1.0 - x)
    return x * (1.0 - hit) * (1.0 - setback)


@_jit
def motivation_update(m, boost, setback, hit, base, hope_change, hope_gain, rate, sd, noise):
    """Motivation after this week's events, relaxed to a hope-dependent set-point (ODD §7.10).

    ``hope_change`` is hope minus its baseline; the set-point is base + gain x hope_change.
    """
    x = m + boost * (1.0 - m)
    x = x * (1.0 - setback) * (1.0 - hit)
    set_point = base + hope_gain * hope_change
    x = x + (rate * (set_point - x) + sd * noise)
    return _clip01(x)


@_jit
def severity_update(severity, base, in_relapse, rise, rate):
    """Severity relaxes toward its baseline, raised by ``rise`` during relapse (ODD §7.11)."""
    target = base + rise * (1.0 if in_relapse else 0.0)
    return _clip01(severity + rate * (target - severity))


@_jit
def functioning_set_point(
    severity, housed, employed, efficacy, w_symptoms, w_housing, w_employment, w_efficacy, w_sum
):
    """Functioning set-point: weighted mean of low symptoms, housing, work and self-efficacy.

    (w_Sev x (1 - severity) + w_H x housed + w_W x employed + w_SE x efficacy) / w_sum,
    w_sum the weights' sum (ODD §7.11); the plain mean at the default weights of 1.
    """
    return (
        w_symptoms * (1.0 - severity)
        + w_housing * (1.0 if housed else 0.0)
        + w_employment * (1.0 if employed else 0.0)
        + w_efficacy * efficacy
    ) / w_sum


@_jit
def connectedness_set_point(degree, half_ties):
    """Connectedness set-point: ties / (ties + half-saturation ties) (ODD §7.11)."""
    d = float(degree)
    return d / (d + half_ties)


@_jit
def peer_signal(n_advanced, degree, neutral_share):
    """Role modelling by ties: the share of ties in an advanced stage minus ``neutral_share``.

    ``neutral_share`` is ``peer_signal_neutral_share`` (ODD §7.5); 0 for a user
    without ties; the share is an exact count over the degree.
    """
    return n_advanced / max(degree, 1) - neutral_share if degree > 0 else 0.0


# --------------------------------------------------------------------- network (§7.13)


@_jit
def partner_offset(u, size, position):
    """A uniformly chosen other member of a group of ``size``: its offset in the group.

    ``position`` is the chooser's own offset, skipped (ODD §7.13).
    """
    pick = np.int64(np.floor(u * (size - 1)))
    if pick >= position:
        pick += 1
    return pick


@_jit
def tie_lapses(u_a, u_b, probability):
    """A tie lapses when frac(u_a + u_b) < probability (ODD §7.13).

    frac(u) of u in [0, 2) as numpy's remainder by 1.0.
    """
    u = u_a + u_b
    if u >= 1.0:
        u -= 1.0
    return u < probability


# --------------------------------------------------------------------- recovery (§7.14)


@_jit
def personal_recovery_score(connectedness, hope, self_stigma, meaning, empowerment):
    """Personal recovery on the QPR-15 scale (0-60) from the five CHIME processes (ODD §7.14).

    Equal weights (Leamy et al. 2011, Br J Psychiatry 199:445-52): connectedness,
    hope, identity (1 - self-stigma), meaning, empowerment.
    """
    return QPR_PER_PROCESS * (connectedness + hope + (1.0 - self_stigma) + meaning + empowerment)


@_jit
def stage_of(qpr):
    """Andresen stage index 0-4 (moratorium ... growth) from equal QPR bands (ODD §7.14)."""
    return min(int(qpr * STAGES_PER_POINT), LAST_STAGE)


# --------------------------------------------------------------------- on whole arrays


@_jit
def _scores(connectedness, hope, self_stigma, meaning, empowerment, out):
    for j in range(out.shape[0]):
        out[j] = personal_recovery_score(
            connectedness[j], hope[j], self_stigma[j], meaning[j], empowerment[j]
        )


@_jit
def _stages(qpr, out):
    for j in range(out.shape[0]):
        out[j] = stage_of(qpr[j])


@_jit
def _functioning(
    severity,
    housed,
    employed,
    efficacy,
    w_symptoms,
    w_housing,
    w_employment,
    w_efficacy,
    w_sum,
    out,
):
    for j in range(out.shape[0]):
        out[j] = functioning_set_point(
            severity[j],
            housed[j],
            employed[j],
            efficacy[j],
            w_symptoms[j],
            w_housing[j],
            w_employment[j],
            w_efficacy[j],
            w_sum[j],
        )


@_jit
def _connectedness(degree, half_ties, out):
    for j in range(out.shape[0]):
        out[j] = connectedness_set_point(degree[j], half_ties[j])


def _flat(x: np.ndarray, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(x, shape), dtype=dtype).reshape(-1)


def personal_recovery(state) -> np.ndarray:
    """:func:`personal_recovery_score` of every user of a state, shape (R, N)."""
    p, shape = state.process, state.shape
    out = np.empty(shape)
    _scores(
        *(
            _flat(x, shape)
            for x in (
                state.connectedness,
                p["hope"],
                state.self_stigma,
                p["meaning"],
                p["empowerment"],
            )
        ),
        out.reshape(-1),
    )
    return out


def recovery_stage(qpr: np.ndarray) -> np.ndarray:
    """:func:`stage_of` of every score in ``qpr`` (any shape), as int64."""
    qpr = np.asarray(qpr, dtype=np.float64)
    out = np.empty(qpr.shape, dtype=np.int64)
    _stages(_flat(qpr, qpr.shape), out.reshape(-1))
    return out


FUNCTIONING_WEIGHTS = (
    "symptom_functioning_weight",
    "housing_functioning_weight",
    "employment_functioning_weight",
    "self_efficacy_functioning_weight",
)


def functioning_weight_sum(w_symptoms, w_housing, w_employment, w_efficacy):
    """The functioning weights' sum, added in the set-point's order (4.0 at the defaults)."""
    return ((w_symptoms + w_housing) + w_employment) + w_efficacy


def functioning_set_points(state, values) -> np.ndarray:
    """:func:`functioning_set_point` of every user of a state, shape (R, N).

    ``values`` maps the registry's functioning weights to (R, 1) arrays
    (``BatchParams.registry_values``).
    """
    shape = state.shape
    out = np.empty(shape)
    weights = [values[name] for name in FUNCTIONING_WEIGHTS]
    _functioning(
        _flat(state.severity, shape),
        _flat(state.housed, shape, np.bool_),
        _flat(state.employed, shape, np.bool_),
        _flat(state.process["self_efficacy"], shape),
        *(_flat(w, shape) for w in weights),
        _flat(functioning_weight_sum(*weights), shape),
        out.reshape(-1),
    )
    return out


def connectedness_set_points(state, half_ties: np.ndarray) -> np.ndarray:
    """:func:`connectedness_set_point` of every user of a state, shape (R, N).

    ``half_ties`` is (R, 1) (``BatchParams.connectedness_half_ties``).
    """
    shape = state.shape
    out = np.empty(shape)
    _connectedness(
        _flat(state.network.degree(), shape, np.int64), _flat(half_ties, shape), out.reshape(-1)
    )
    return out

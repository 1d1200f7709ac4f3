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
    "admission",
    "connectedness_set_point",
    "connectedness_set_points",
    "consolidate",
    "dropout_chance",
    "engagement",
    "exit_chances",
    "exit_reason",
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
    "social_inclusion",
    "social_inclusion_score",
    "stage_of",
    "stigma_modifier",
    "tie_lapses",
    "trained_attitude",
    "usual_care_dose",
    "usual_care_target",
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
def dropout_chance(probability, engaged, weeks_in, halving_weeks):
    """Weekly dropout chance of a participant (ODD §7.12).

    probability x (1 - engagement) / (1 + weeks in / halving weeks): disengaged
    people drop out, mostly early.
    """
    return probability * (1.0 - engaged) / (1.0 + weeks_in / halving_weeks)


@_jit
def exit_chances(stage, advanced_stage, engaged, recovered, moved_on, disengaged, died):
    """Weekly chances of leaving an open service by reason (ODD §7.15).

    Recovered: ``recovered`` for users at or beyond the ``advanced_stage`` (0 before);
    moved on: ``moved_on``; disengaged: ``disengaged`` x (1 - engagement), so people
    with little motivation or working alliance drift away; died: ``died``.
    Returned in :data:`sim.core.open_service.EXIT_REASONS` order.
    """
    return (
        recovered if stage >= advanced_stage else 0.0,
        moved_on,
        disengaged * (1.0 - engaged),
        died,
    )


@_jit
def exit_reason(u, chances):
    """Which reason (1-based, in ``chances`` order) a uniform ``u`` picks, or 0 to stay.

    Competing risks on one draw: reason j is picked when u falls in its slice of
    [0, sum of chances); the chances are small, so their sum stays below 1.
    """
    edge = 0.0
    for j in range(len(chances)):
        edge += chances[j]
        if u < edge:
            return j + 1
    return 0


@_jit
def stigma_modifier(public_stigma, reference, strength):
    """How strongly a stigma-moderated mechanism works (ODD §7.5): effect modification.

    max(0, 1 - strength x (public stigma - reference)): 1 at the reference context,
    above 1 in less stigmatising and below 1 in more stigmatising contexts.
    """
    return max(0.0, 1.0 - strength * (public_stigma - reference))


@_jit
def consolidate(set_point, level, entry, rate, memory):
    """A set-point moved toward the current level (ODD §7.6): sustained change lasts.

    set_point + rate x (level - set_point) + memory x (entry - set_point): a gain
    held for long becomes the new set-point, a setback held for long erodes it, and
    over years the set-point returns toward the person's entry level (``memory``,
    much slower than ``rate``).
    """
    return set_point + rate * (level - set_point) + memory * (entry - set_point)


# ----------------------------------------------------------------- doses and processes (§7.5-7.6)


@_jit
def usual_care_dose(contact, attitude, neutral):
    """Usual care's signed alliance and choice dose (ODD §7.5), a level effect (§7.6).

    contact x 2 x (attitudes - neutral), ``neutral`` = ``usual_care_neutral_attitudes``
    (computed as contact x (2 x attitudes - 2 x neutral): today's operations at 0.5).
    """
    return contact * (2.0 * attitude - 2.0 * neutral)


@_jit
def usual_care_target(set_point, shift):
    """The level a process relaxes to under usual care (ODD §7.6).

    The person's own set-point plus usual care's signed shift (link weight x
    :func:`usual_care_dose`), clipped to [0, 1]: a level effect of the team, which
    holds a process above (pro-recovery) or below (custodial) the person's set-point
    without driving it further week after week. Set-points consolidate the level net
    of this shift (:func:`consolidate`), so a team's usual care is not absorbed into
    the person's own gains.
    """
    return _clip01(set_point + shift)


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
    conversion_per_point,
    stigma_penalty,
    public_stigma,
    reference_stigma,
    readiness_gradient,
    reference_readiness,
    efficacy,
    motivation,
    severity,
    self_stigma,
    w_efficacy,
    w_motivation,
    w_symptoms,
    w_stigma,
    w_sum,
    log_work_history,
    work_history,
    log_ips,
    ips_fidelity,
):
    """The log-odds shift of the weekly job-finding chance (ODD §7.7).

    ``points`` is the site's unemployment rate above the reference, in percentage
    points. Readiness is the weighted mean of self-efficacy, motivation, low
    symptoms and low self-stigma (weights w, their sum w_sum). Unemployment lowers
    the odds (a level effect) and also how well readiness and IPS convert into jobs
    (effect modification): both terms are scaled by exp(-conversion x points).
    ``ips_fidelity`` is the IPS team's fidelity while enrolled in IPS, else 0: IPS
    multiplies the odds by multiplier ** fidelity.
    """
    site = -log_odds_ratio_per_point * points - stigma_penalty * (public_stigma - reference_stigma)
    readiness = (
        w_efficacy * efficacy
        + w_motivation * motivation
        + w_symptoms * (1.0 - severity)
        + w_stigma * (1.0 - self_stigma)
    ) / w_sum
    conversion = np.exp(-conversion_per_point * points)
    return (
        site
        + conversion
        * (readiness_gradient * (readiness - reference_readiness) + log_ips * ips_fidelity)
        + log_work_history * (1.0 if work_history else 0.0)
    )


@_jit
def odds_to_probability(base_odds, exp_shift):
    """The chance whose odds are base_odds x exp(shift) (ODD §7.7, §7.8)."""
    odds = base_odds * exp_shift
    return odds / (1.0 + odds)


@_jit
def loss_probability(
    base, protection, protected, in_relapse, relapse_multiplier, weeks_kept, halving_weeks
):
    """Weekly chance to lose a job or a home (ODD §7.7, §7.8).

    base x (1 - protection x protected) x (relapse multiplier during relapse)
    / (1 + weeks kept / halving weeks), at most 1. ``protected`` is the supporting
    team's fidelity while in IPS or Housing First, else 0; ``weeks_kept`` the weeks
    of work (or stable housing) accumulated so far: tenure protects.
    """
    factor = (1.0 - protection * protected) * (relapse_multiplier if in_relapse else 1.0)
    return min(base * factor / (1.0 + weeks_kept / halving_weeks), 1.0)


@_jit
def relapse_hazard(probability, severity, protection_factor, offset, slope):
    """Weekly relapse-onset chance (ODD §7.9).

    p x (1 + slope x (severity - reference)) x protection_factor, computed as
    p x (offset + slope x severity) x ... with ``offset`` = 1 - slope x reference
    (``relapse_severity_offset``). ``protection_factor`` is exp of
    -knowledge protection x knowledge gain - trust protection x (trust - reference)
    + log(unhoused multiplier) x (not housed), evaluated by numpy.
    """
    return probability * (offset + slope * severity) * protection_factor


@_jit
def admission(u, hazard, admit_probability, compulsory_share, plan, plan_rr):
    """Whether a relapse onset leads to admission, and whether it is compulsory (ODD §7.9).

    ``u`` is the week's relapse uniform, below ``hazard`` at an onset, so u / hazard is
    a fresh uniform: admitted if it is below ``admit_probability``, compulsorily if it
    is below admit_probability x compulsory share x (1 - (1 - plan_rr) x plan), where
    ``plan`` is the crisis plan's fidelity (0 without one). Returns 0 (not admitted),
    1 (voluntary) or 2 (compulsory).
    """
    v = u / hazard
    compulsory = compulsory_share * (1.0 - (1.0 - plan_rr) * plan)
    if v < admit_probability * compulsory:
        return 2
    return 1 if v < admit_probability else 0


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
def connectedness_set_point(
    degree,
    half_ties,
    employed,
    housed,
    in_group,
    self_stigma,
    participation,
    w_ties,
    w_work,
    w_housing,
    w_group,
    w_sum,
    withdrawal,
):
    """Connectedness (belonging) set-point (ODD §7.11), in [0, 1].

    (w_T x ties / (ties + half) + participation x (w_W x work + w_H x housed + w_G x
    group)) / w_sum x (1 - withdrawal x self-stigma). ``participation`` is the
    stigma modifier of social participation (:func:`stigma_modifier`); ``in_group``
    is the engagement in a group intervention (0 outside one).
    """
    d = float(degree)
    social = w_ties * d / (d + half_ties) + participation * (
        w_work * (1.0 if employed else 0.0)
        + w_housing * (1.0 if housed else 0.0)
        + w_group * in_group
    )
    return _clip01(social / w_sum * (1.0 - withdrawal * self_stigma))


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
def social_inclusion_score(employed, housed, family, degree):
    """Objective social inclusion, 0-6, after the SIX index (ODD §7.14).

    SIX (Priebe et al. 2008, Acta Psychiatr Scand 118:57-63) scores employment,
    living situation, family/partnership and friendship from routine data. The
    model reads it as 2 for competitive work, 2 for a stable home, 1 for a partner or
    family contact, 1 for at least one tie (a friend); an integer.
    """
    return (
        (2 if employed else 0)
        + (2 if housed else 0)
        + (1 if family else 0)
        + (1 if degree > 0 else 0)
    )


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


@_jit
def _inclusion(employed, housed, family, degree, out):
    for j in range(out.shape[0]):
        out[j] = social_inclusion_score(employed[j], housed[j], family[j], degree[j])


def social_inclusion(state) -> np.ndarray:
    """:func:`social_inclusion_score` of every user of a state, shape (R, N), as float."""
    shape = state.shape
    out = np.empty(shape)
    _inclusion(
        _flat(state.employed, shape, np.bool_),
        _flat(state.housed, shape, np.bool_),
        _flat(state.family, shape, np.bool_),
        _flat(state.network.degree(), shape, np.int64),
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


CONNECTEDNESS_WEIGHTS = (
    "ties_connectedness_weight",
    "work_connectedness_weight",
    "housing_connectedness_weight",
    "group_connectedness_weight",
)


@_jit
def _connectedness(
    degree, employed, housed, self_stigma, stigma, half, ref, k, wt, ww, wh, wg, ws, wd, out
):
    for j in range(out.shape[0]):
        out[j] = connectedness_set_point(
            degree[j],
            half[j],
            employed[j],
            housed[j],
            0.0,
            self_stigma[j],
            stigma_modifier(stigma[j], ref[j], k[j]),
            wt[j],
            ww[j],
            wh[j],
            wg[j],
            ws[j],
            wd[j],
        )


def connectedness_set_points(state, values, public_stigma) -> np.ndarray:
    """:func:`connectedness_set_point` of every user of a state outside groups, shape (R, N).

    ``values`` maps registry names to (R, 1) arrays (``BatchParams.registry_values``);
    ``public_stigma`` is each user's site value, (R, N).
    """
    shape = state.shape
    out = np.empty(shape)
    weights = [values[name] for name in CONNECTEDNESS_WEIGHTS]
    _connectedness(
        _flat(state.network.degree(), shape, np.int64),
        _flat(state.employed, shape, np.bool_),
        _flat(state.housed, shape, np.bool_),
        _flat(state.self_stigma, shape),
        _flat(public_stigma, shape),
        _flat(values["connectedness_half_ties"], shape),
        _flat(values["reference_public_stigma"], shape),
        _flat(values["social_participation_stigma_modification"], shape),
        *(_flat(w, shape) for w in weights),
        _flat(connectedness_weight_sum(*weights), shape),
        _flat(values["self_stigma_withdrawal"], shape),
        out.reshape(-1),
    )
    return out


def connectedness_weight_sum(w_ties, w_work, w_housing, w_group):
    """The connectedness weights' sum (4.0 at the defaults)."""
    return ((w_ties + w_work) + w_housing) + w_group

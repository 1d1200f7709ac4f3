"""The compiled drivers of the weekly step (docs/ODD.md §3, steps 5-8): doses, processes, outcomes.

The rules themselves are stated once, per user, in :mod:`sim.core.rules`; the
drivers here loop over (run, user) per phase and call them (engagement, uptake
and admission are in :mod:`sim.core.service_kernels`, the network week in
:mod:`sim.core.network_kernels`; :mod:`sim.core.compiled` glues the phases).
The week's draws arrive as fixed-size blocks per stream, filled from the runs' own
generators (:mod:`sim.core.rng_kernels`); ``exp``/``log`` of arrays stay in numpy
between the phases (numpy's SIMD versions can differ from the C library's in the last
bit; keeping numpy's keeps the saved baseline).

A phase is a plain function of arrays and a record of per-run parameters read
by name (``p = prm[r]``, then ``p.hope_rate_per_week``; :data:`RUN_PARAMETERS`,
built by :func:`run_parameters` from the registry); indices of processes,
mechanisms and interventions are derived from :mod:`sim.core.logic_model` and
:data:`sim.core.state.PROCESS_NAMES` at import (numba reads them as constants).
"""

from __future__ import annotations

import numpy as np

from sim.core import rules
from sim.core.logic_model import (
    ALTERNATIVE_LINKS,
    MECHANISM_LINKS,
    MECHANISMS,
    PROCESSES,
    USER_INTERVENTIONS,
    intervention,
    mechanism_profile_matrix,
)
from sim.core.parameters import REGISTRY
from sim.core.state import PROCESS_NAMES
from sim.core.world import ENVIRONMENT_KEYS, SERVICE_KEYS

__all__ = [
    "DERIVED_PARAMETERS",
    "GROUP_INTERVENTIONS",
    "NOISE_COLUMNS",
    "PROFILE",
    "RUN_PARAMETERS",
    "RUN_PARAMETER_NAMES",
    "link_weights",
    "outcomes",
    "processes",
    "run_parameters",
]

# columns of the weekly "noise" block (standard normals per user): one per noisy process
NOISE_COLUMNS = ("hope", "empowerment", "motivation")
NOISE_HOPE, NOISE_EMPOWERMENT, NOISE_MOTIVATION = (
    NOISE_COLUMNS.index(name) for name in ("hope", "empowerment", "motivation")
)

_jit = rules._jit  # one compile configuration for every kernel

# Values a rule needs that are functions of registry values, computed once per run in
# numpy (numpy's log can differ from the C library's in the last bit).
DERIVED_PARAMETERS = {
    "log_job_entry_odds_ratio_per_point": lambda v: np.log(v["job_entry_odds_ratio_per_point"]),
    "log_work_history_job_multiplier": lambda v: np.log(v["work_history_job_multiplier"]),
    "log_ips_job_finding_multiplier": lambda v: np.log(v["ips_job_finding_multiplier"]),
    "log_housing_first_multiplier": lambda v: np.log(v["housing_first_multiplier"]),
    "log_unhoused_relapse_multiplier": lambda v: np.log(v["unhoused_relapse_multiplier"]),
    "odds_job_finding_probability_per_week": lambda v: (
        v["job_finding_probability_per_week"] / (1.0 - v["job_finding_probability_per_week"])
    ),
    "odds_housing_gain_probability_per_week": lambda v: (
        v["housing_gain_probability_per_week"] / (1.0 - v["housing_gain_probability_per_week"])
    ),
    # community ties re-form at the rate they lapse, so the mean degree stays near
    # initial_ties_mean outside groups
    "community_tie_probability_per_week": lambda v: (
        v["tie_decay_probability_per_week"] * v["initial_ties_mean"] / 2
    ),
    # the relative weights of readiness and of the functioning set-point are divided by
    # their sums, added in the rules' order (3.0 and 4.0 at the defaults)
    "readiness_weight_sum": lambda v: (
        (
            (v["self_efficacy_readiness_weight"] + v["motivation_readiness_weight"])
            + v["symptom_readiness_weight"]
        )
        + v["self_stigma_readiness_weight"]
    ),
    "connectedness_weight_sum": lambda v: rules.connectedness_weight_sum(
        *(v[name] for name in rules.CONNECTEDNESS_WEIGHTS)
    ),
    "functioning_weight_sum": lambda v: rules.functioning_weight_sum(
        *(v[name] for name in rules.FUNCTIONING_WEIGHTS)
    ),
    # hazard = base x (offset + slope x severity), offset = 1 - slope x reference (0.5)
    "relapse_severity_offset": lambda v: (
        1.0 - v["relapse_severity_slope"] * v["relapse_reference_severity"]
    ),
}
# The per-run parameter record the kernels read by name (``p = prm[r]``, then
# ``p.hope_rate_per_week``): every run-level registry parameter, then the derived values.
# Site- and team-level values are left out: a world may override them per site or team,
# and the kernels read those from their own (R, S) / (R, T) arrays.
RUN_PARAMETER_NAMES: tuple[str, ...] = (
    *(name for name in REGISTRY if name not in (*ENVIRONMENT_KEYS, *SERVICE_KEYS)),
    *DERIVED_PARAMETERS,
)
RUN_PARAMETERS = np.dtype([(name, np.float64) for name in RUN_PARAMETER_NAMES])


def run_parameters(values) -> np.ndarray:
    """The (R,) record array of :data:`RUN_PARAMETERS` from registry values by name.

    Args:
        values: Registry parameter name -> (R, 1) or (R,) float array
            (:attr:`sim.core.state.BatchParams.registry_values`).
    """
    columns = {name: values[name] for name in RUN_PARAMETER_NAMES if name in values}
    columns.update({name: rule(values) for name, rule in DERIVED_PARAMETERS.items()})
    n_runs = np.shape(next(iter(columns.values())))[0]
    record = np.empty(n_runs, dtype=RUN_PARAMETERS)
    for name in RUN_PARAMETER_NAMES:
        record[name] = np.reshape(columns[name], n_runs)
    return record


# The mechanism -> process links of the logic model (sim.core.logic_model.MECHANISM_LINKS):
# source mechanism, target process (in logic_model.PROCESSES order, self-stigma included)
# and sign, read by the processes driver; their weights are registry parameters.
# The alternative wirings (ALTERNATIVE_LINKS, weight 0 by default) come last.
LINKS = (*MECHANISM_LINKS, *ALTERNATIVE_LINKS)
LINK_SOURCE = np.array([MECHANISMS.index(x.source) for x in LINKS], dtype=np.int64)
LINK_TARGET = np.array([list(PROCESSES).index(x.target) for x in LINKS], dtype=np.int64)
LINK_SIGN = np.array([float(x.sign) for x in LINKS])
LINK_PARAMETERS = tuple(f"{x.source}_to_{x.target}_weight" for x in LINKS)
N_LINK_TARGETS = len(PROCESSES)
# the link target of each row of the process block (self-stigma is held apart)
PROCESS_TARGET = np.array([list(PROCESSES).index(name) for name in PROCESS_NAMES], dtype=np.int64)
DOSE_KNOWLEDGE, DOSE_TRUST, DOSE_HOPE, DOSE_SELF_STIGMA, DOSE_EMPOWERMENT = (
    list(PROCESSES).index(name)
    for name in ("knowledge", "trust", "hope", "self_stigma", "empowerment")
)


def link_weights(values) -> np.ndarray:
    """The (R, links) weights of :data:`LINKS`, from registry values by name."""
    return np.ascontiguousarray(
        np.concatenate([np.reshape(values[name], (-1, 1)) for name in LINK_PARAMETERS], axis=1)
    )


# rows of the (R, n_processes, N) process block, in sim.core.state.PROCESS_NAMES order
N_PROCESSES = len(PROCESS_NAMES)
KNOWLEDGE = PROCESS_NAMES.index("knowledge")
SELF_EFFICACY = PROCESS_NAMES.index("self_efficacy")
TRUST = PROCESS_NAMES.index("trust")
HOPE = PROCESS_NAMES.index("hope")
EMPOWERMENT = PROCESS_NAMES.index("empowerment")
MEANING = PROCESS_NAMES.index("meaning")
# mechanisms, in sim.core.logic_model.MECHANISMS order (columns of the profile and doses)
N_MECHANISMS = len(MECHANISMS)
INFORMATION = MECHANISMS.index("information_and_skills")
ALLIANCE = MECHANISMS.index("working_alliance")
ROLE_MODELLING = MECHANISMS.index("role_modelling")
CHOICE = MECHANISMS.index("increasing_choice")
# interventions with a rule of their own, in sim.core.logic_model.USER_INTERVENTIONS order
IPS = USER_INTERVENTIONS.index("supported_employment")
HOUSING_FIRST = USER_INTERVENTIONS.index("supported_housing")
CRISIS_PLANNING = USER_INTERVENTIONS.index("shared_decision_making")
GROUP_INTERVENTIONS = tuple(
    k for k, name in enumerate(USER_INTERVENTIONS) if intervention(name).group
)
GROUP = np.array([intervention(name).group for name in USER_INTERVENTIONS])
PROFILE = mechanism_profile_matrix()  # (user interventions, mechanisms)
# rows of the processes kernel's scratch planes (N_PLANES, R, N): one dose plane per
# process of logic_model.PROCESSES, then the knowledge gain, the roles (meaning's dose),
# IPS and Housing First fidelity while enrolled (else 0)
PL_GAIN, PL_ROLES, PL_IPS, PL_HF, PL_PLAN = range(N_LINK_TARGETS, N_LINK_TARGETS + 5)
PL_BOOST, PL_SETBACK, PL_RELAPSE_HIT = 0, 1, 2  # reused by outcomes
N_PLANES = N_LINK_TARGETS + 5


@_jit
def _neighbour_share_advanced(prm, advanced, run, a, b, degree, count, out):
    """:func:`sim.core.rules.peer_signal` of every user, from the ties' 0/1 advanced flags.

    ``advanced`` is 0/1 in bytes and the tallies are int32 (``count``), so the
    arrays read and written at random partners' indices are small enough to stay
    in cache.
    """
    n_agents = advanced.shape[1]
    count[:] = 0
    for e in range(run.shape[0]):
        r = run[e]
        count[r, a[e]] += advanced[r, b[e]]
        count[r, b[e]] += advanced[r, a[e]]
    for r in range(out.shape[0]):
        neutral = prm[r].peer_signal_neutral_share
        for i in range(n_agents):
            out[r, i] = rules.peer_signal(count[r, i], degree[r, i], neutral)


@_jit
def processes(
    prm,
    profile,
    links,
    offer_ptr,
    offer_k,
    team_of_agent,
    site_of_agent,
    attitudes,
    fidelity,
    usual_care_contact,
    unemployment_rate,
    public_stigma,
    housing_site_shift,
    enrolled,
    completed,
    engaged,
    process,
    baseline,
    entry,
    connectedness,
    self_stigma,
    self_stigma_baseline,
    self_stigma_entry,
    employed,
    housed,
    motivation,
    severity,
    work_history,
    noise,
    run,
    a,
    b,
    degree,
    advanced,
    advanced_count,
    peer_signal,
    planes,
    doses,
    job_shift,
    relapse_exponent,
    housing_shift,
):
    """Mechanism doses (ODD §7.5), connectedness (§7.11) and the processes (§7.6).

    ``fidelity`` and ``usual_care_contact`` are per team (R, T),
    ``unemployment_rate``, ``public_stigma`` and ``housing_site_shift`` (the
    availability term of the housing log-odds) per site (R, S); ``links`` (R, L)
    are the weights of the logic model's mechanism -> process links.
    Writes ``doses`` (R, N, mechanisms) and moves the processes, self-stigma and
    connectedness in place, consolidating the set-points; leaves in ``job_shift``,
    ``relapse_exponent`` and ``housing_shift`` the arguments of the three ``exp``
    calls of the outcome phase, for numpy to evaluate.
    """
    n_runs, n_agents = engaged.shape
    shift = _usual_care_shifts(prm, links, usual_care_contact, attitudes)
    for r in range(n_runs):  # stages at the start of the week
        advanced_stage = prm[r].advanced_stage
        for i in range(n_agents):
            qpr = rules.personal_recovery_score(
                connectedness[r, i],
                process[r, HOPE, i],
                self_stigma[r, i],
                process[r, MEANING, i],
                process[r, EMPOWERMENT, i],
            )
            advanced[r, i] = 1 if rules.stage_of(qpr) >= advanced_stage else 0
    _neighbour_share_advanced(prm, advanced, run, a, b, degree, advanced_count, peer_signal)
    raw = np.empty(N_MECHANISMS)
    mechanism = np.empty(N_MECHANISMS)
    for r in range(n_runs):
        p = prm[r]
        for i in range(n_agents):  # scalar: the interventions each user is in
            raw[:] = 0.0
            any_enrolled = False
            in_group = False
            for k in offer_k[offer_ptr[i] : offer_ptr[i + 1]]:
                # exact either way: the sums are of multiples of 0.5
                e = 1.0 if enrolled[r, i, k] else 0.0
                any_enrolled |= enrolled[r, i, k]
                in_group |= enrolled[r, i, k] and GROUP[k]
                for m in range(N_MECHANISMS):
                    raw[m] += e * profile[k, m]
            # the profiles' structural uncertainty (1 = as declared; x 1.0 is exact)
            raw[INFORMATION] *= p.information_and_skills_profile_scale
            raw[ALLIANCE] *= p.working_alliance_profile_scale
            raw[ROLE_MODELLING] *= p.role_modelling_profile_scale
            raw[CHOICE] *= p.increasing_choice_profile_scale
            team, site = team_of_agent[i], site_of_agent[i]
            fid = fidelity[r, team]
            stigma = public_stigma[r, site]
            # moderators scale how strongly each mechanism works (effect modification)
            attitude = p.attitude_dose_offset + p.attitude_dose_slope * attitudes[r, team]
            role_strength = rules.stigma_modifier(
                stigma, p.reference_public_stigma, p.role_modelling_stigma_modification
            )
            mechanism[INFORMATION] = raw[INFORMATION] * fid * engaged[r, i]
            mechanism[ALLIANCE] = raw[ALLIANCE] * fid * attitude
            mechanism[ROLE_MODELLING] = role_strength * (
                raw[ROLE_MODELLING] * fid * engaged[r, i]
                + p.network_role_model_weight * peer_signal[r, i]
            )
            mechanism[CHOICE] = raw[CHOICE] * fid * attitude
            for m in range(N_MECHANISMS):
                doses[r, i, m] = mechanism[m]
            for t in range(N_LINK_TARGETS):
                planes[t, r, i] = 0.0
            for link in range(LINK_SOURCE.shape[0]):
                planes[LINK_TARGET[link], r, i] += (
                    LINK_SIGN[link] * links[r, link] * mechanism[LINK_SOURCE[link]]
                )
            planes[PL_ROLES, r, i] = (1.0 if employed[r, i] else 0.0) + (
                p.participation_meaning_weight * (1.0 if any_enrolled else 0.0)
            )
            planes[PL_IPS, r, i] = fid if enrolled[r, i, IPS] else 0.0
            planes[PL_HF, r, i] = fid if enrolled[r, i, HOUSING_FIRST] else 0.0
            # a crisis plan is made in shared decision-making and kept after it ends
            has_plan = enrolled[r, i, CRISIS_PLANNING] or completed[r, i, CRISIS_PLANNING]
            planes[PL_PLAN, r, i] = fid if has_plan else 0.0
            # belonging, from last week's work, home, groups and ties (ODD §7.11)
            participation = rules.stigma_modifier(
                stigma, p.reference_public_stigma, p.social_participation_stigma_modification
            )
            c = connectedness[r, i]
            connectedness[r, i] = c + p.connectedness_rate_per_week * (
                rules.connectedness_set_point(
                    degree[r, i],
                    p.connectedness_half_ties,
                    employed[r, i],
                    housed[r, i],
                    engaged[r, i] if in_group else 0.0,
                    self_stigma[r, i],
                    participation,
                    p.ties_connectedness_weight,
                    p.work_connectedness_weight,
                    p.housing_connectedness_weight,
                    p.group_connectedness_weight,
                    p.connectedness_weight_sum,
                    p.self_stigma_withdrawal,
                )
                - c
            )
            work_history[r, i] |= employed[r, i]  # work makes a work history
        # vectorisable loops over the run's users, one process at a time, in sequence
        decay, sd, keep = (
            p.process_decay_rate_per_week,
            p.process_noise_sd,
            p.consolidation_rate_per_week,
        )
        gain = planes[PL_GAIN, r]
        _move_row(
            process[r, KNOWLEDGE],
            planes[DOSE_KNOWLEDGE, r],
            p.knowledge_learning_rate_per_week,
            decay,
            baseline[r, KNOWLEDGE],
            shift[r, :, DOSE_KNOWLEDGE],
            team_of_agent,
        )
        _gain_row(process[r, KNOWLEDGE], entry[r, KNOWLEDGE], gain)
        _move_row(
            process[r, SELF_EFFICACY],
            gain,
            p.self_efficacy_rate_per_week,
            decay,
            baseline[r, SELF_EFFICACY],
            shift[r, :, PROCESS_TARGET[SELF_EFFICACY]],
            team_of_agent,
        )
        _move_row(
            process[r, TRUST],
            planes[DOSE_TRUST, r],
            p.trust_rate_per_week,
            decay,
            baseline[r, TRUST],
            shift[r, :, DOSE_TRUST],
            team_of_agent,
        )
        _move_noisy_row(
            process[r, HOPE],
            planes[DOSE_HOPE, r],
            p.hope_rate_per_week,
            decay,
            baseline[r, HOPE],
            sd,
            noise[r, :, NOISE_HOPE],
            shift[r, :, DOSE_HOPE],
            team_of_agent,
        )
        _move_row(
            self_stigma[r],
            planes[DOSE_SELF_STIGMA, r],
            p.stigma_reduction_rate_per_week,
            decay,
            self_stigma_baseline[r],
            shift[r, :, DOSE_SELF_STIGMA],
            team_of_agent,
        )
        _move_noisy_row(
            process[r, EMPOWERMENT],
            planes[DOSE_EMPOWERMENT, r],
            p.empowerment_rate_per_week,
            decay,
            baseline[r, EMPOWERMENT],
            sd,
            noise[r, :, NOISE_EMPOWERMENT],
            shift[r, :, DOSE_EMPOWERMENT],
            team_of_agent,
        )
        _move_row(
            process[r, MEANING],
            planes[PL_ROLES, r],
            p.meaning_rate_per_week,
            decay,
            baseline[r, MEANING],
            shift[r, :, PROCESS_TARGET[MEANING]],
            team_of_agent,
        )
        # sustained levels become set-points, which return to the entry level over years
        memory = p.set_point_return_rate_per_week
        # (of the level net of usual care's shift: the team's support is not the person's gain)
        for row in range(N_PROCESSES):
            _consolidate_row(
                baseline[r, row],
                process[r, row],
                entry[r, row],
                keep,
                memory,
                shift[r, :, PROCESS_TARGET[row]],
                team_of_agent,
            )
        _consolidate_row(
            self_stigma_baseline[r],
            self_stigma[r],
            self_stigma_entry[r],
            keep,
            memory,
            shift[r, :, DOSE_SELF_STIGMA],
            team_of_agent,
        )
        points_reference = p.reference_unemployment_rate
        for i in range(n_agents):
            site = site_of_agent[i]
            job_shift[r, i] = rules.job_log_odds_shift(
                100.0 * (unemployment_rate[r, site] - points_reference),
                p.log_job_entry_odds_ratio_per_point,
                p.unemployment_conversion_per_point,
                p.stigma_job_penalty,
                public_stigma[r, site],
                p.reference_public_stigma,
                p.readiness_job_gradient,
                p.reference_work_readiness,
                process[r, SELF_EFFICACY, i],
                motivation[r, i],
                severity[r, i],
                self_stigma[r, i],
                p.self_efficacy_readiness_weight,
                p.motivation_readiness_weight,
                p.symptom_readiness_weight,
                p.self_stigma_readiness_weight,
                p.readiness_weight_sum,
                p.log_work_history_job_multiplier,
                work_history[r, i],
                p.log_ips_job_finding_multiplier,
                planes[PL_IPS, r, i],
            )
            relapse_exponent[r, i] = (
                -p.relapse_knowledge_protection * gain[i]
                - p.trust_relapse_protection * (process[r, TRUST, i] - p.reference_trust)
                + (0.0 if housed[r, i] else p.log_unhoused_relapse_multiplier)
            )
            housing_shift[r, i] = (
                housing_site_shift[r, site] + p.log_housing_first_multiplier * planes[PL_HF, r, i]
            )


@_jit
def _usual_care_shifts(prm, links, usual_care_contact, attitudes):
    """Usual care's shift of each process's relaxation target, per (run, team, process).

    The signed usual-care dose (:func:`sim.core.rules.usual_care_dose`) carried by the
    logic model's working-alliance and increasing-choice links (ODD §7.6).
    """
    n_runs, n_teams = attitudes.shape
    shift = np.zeros((n_runs, n_teams, N_LINK_TARGETS))
    for r in range(n_runs):
        neutral = prm[r].usual_care_neutral_attitudes
        for t in range(n_teams):
            usual = rules.usual_care_dose(usual_care_contact[r, t], attitudes[r, t], neutral)
            for link in range(LINK_SOURCE.shape[0]):
                if LINK_SOURCE[link] == ALLIANCE or LINK_SOURCE[link] == CHOICE:
                    shift[r, t, LINK_TARGET[link]] += LINK_SIGN[link] * links[r, link] * usual
    return shift


@_jit
def _consolidate_row(set_point, level, entry, rate, memory, shift, team_of_agent):
    for i in range(set_point.shape[0]):
        # the level net of the shift usual care realised (clipped at 0 and 1)
        held = rules.usual_care_target(set_point[i], shift[team_of_agent[i]]) - set_point[i]
        own_level = min(max(level[i] - held, 0.0), 1.0)
        set_point[i] = rules.consolidate(set_point[i], own_level, entry[i], rate, memory)


@_jit
def _move_row(x, dose, rate, decay, base, shift, team_of_agent):
    """rules.move over one run's users, toward usual care's target."""
    for i in range(x.shape[0]):
        target = rules.usual_care_target(base[i], shift[team_of_agent[i]])
        x[i] = rules.move(x[i], dose[i], rate, decay, target)


@_jit
def _move_noisy_row(x, dose, rate, decay, base, sd, noise, shift, team_of_agent):
    for i in range(x.shape[0]):
        target = rules.usual_care_target(base[i], shift[team_of_agent[i]])
        x[i] = rules.move_noisy(x[i], dose[i], rate, decay, target, sd, noise[i])


@_jit
def _gain_row(x, base, gain):
    for i in range(x.shape[0]):
        gain[i] = rules.knowledge_gain(x[i], base[i])


@_jit
def outcomes(
    prm,
    durations,
    offer_ptr,
    offer_k,
    enrolled,
    was_enrolled,
    engaged,
    u_engage,
    u_job,
    u_house,
    u_relapse,
    noise,
    job_shift_exp,
    relapse_factor,
    housing_shift_exp,
    process,
    baseline,
    motivation,
    motivation_baseline,
    motivation_entry,
    severity,
    severity_baseline,
    employed,
    ever_employed,
    weeks_employed,
    housed,
    weeks_housed,
    in_relapse,
    relapses,
    in_hospital,
    admissions,
    compulsory_admissions,
    bed_weeks,
    functioning,
    weeks_in,
    completed,
    dropped,
    planes,
):
    """Outcomes and feedback (ODD §7.7-7.11), then dropout and completion (§7.12).

    ``job_shift_exp``, ``relapse_factor`` and ``housing_shift_exp`` are numpy's exp
    of the :func:`processes` exponents.
    """
    n_runs, n_agents = engaged.shape
    for r in range(n_runs):
        p = prm[r]
        for i in range(n_agents):
            relapsing = in_relapse[r, i]
            lose_job_chance = rules.loss_probability(
                p.job_loss_probability_per_week,
                p.ips_job_retention,
                planes[PL_IPS, r, i],
                relapsing,
                p.relapse_loss_multiplier,
                weeks_employed[r, i],
                p.job_tenure_halving_weeks,
            )
            find = rules.odds_to_probability(
                p.odds_job_finding_probability_per_week, job_shift_exp[r, i]
            )
            find = 0.0 if relapsing else find
            was_employed = employed[r, i]
            start = (not was_employed) & (u_job[r, i] < find)
            lose = was_employed & (u_job[r, i] < lose_job_chance)
            now_employed = (was_employed | start) & (not lose)
            employed[r, i] = now_employed
            ever_employed[r, i] |= start
            weeks_employed[r, i] += now_employed

            gain_chance = rules.odds_to_probability(
                p.odds_housing_gain_probability_per_week, housing_shift_exp[r, i]
            )
            lose_home_chance = rules.loss_probability(
                p.housing_loss_probability_per_week,
                p.housing_first_retention,
                planes[PL_HF, r, i],
                relapsing,
                p.relapse_loss_multiplier,
                weeks_housed[r, i],
                p.tenancy_halving_weeks,
            )
            was_housed = housed[r, i]
            gain = (not was_housed) & (u_house[r, i] < gain_chance)
            evict = was_housed & (u_house[r, i] < lose_home_chance)
            now_housed = (was_housed | gain) & (not evict)
            housed[r, i] = now_housed
            weeks_housed[r, i] += now_housed

            hazard = rules.relapse_hazard(
                p.relapse_probability_per_week,
                severity[r, i],
                relapse_factor[r, i],
                p.relapse_severity_offset,
                p.relapse_severity_slope,
            )
            u = u_relapse[r, i]
            onset = (not relapsing) & (u < hazard)
            resolve = relapsing & (u < p.relapse_recovery_probability_per_week)
            # hospital: a stay ends when the relapse resolves or on discharge (the top of
            # the same uniform); an onset may lead to admission (ODD §7.9)
            if in_hospital[r, i] and (resolve or u >= 1.0 - p.discharge_probability_per_week):
                in_hospital[r, i] = False
            if onset:
                admitted = rules.admission(
                    u,
                    hazard,
                    p.admission_probability_per_relapse,
                    p.compulsory_admission_share,
                    planes[PL_PLAN, r, i],
                    p.crisis_plan_compulsory_rr,
                )
                if admitted > 0:
                    in_hospital[r, i] = True
                    admissions[r, i] += 1
                    compulsory_admissions[r, i] += 1 if admitted == 2 else 0
            bed_weeks[r, i] += in_hospital[r, i]

            planes[PL_BOOST, r, i] = p.success_boost * (1.0 if start else 0.0)
            planes[PL_SETBACK, r, i] = p.job_loss_setback * (1.0 if lose else 0.0)
            planes[PL_RELAPSE_HIT, r, i] = p.relapse_setback * (1.0 if onset else 0.0)
            in_relapse[r, i] = (relapsing | onset) & (not resolve)
            relapses[r, i] += onset

            for k in offer_k[offer_ptr[i] : offer_ptr[i + 1]]:
                if not enrolled[r, i, k]:
                    continue
                drop_chance = rules.dropout_chance(
                    p.dropout_probability_per_week,
                    engaged[r, i],
                    weeks_in[r, i, k],
                    p.dropout_halving_weeks,
                )
                if was_enrolled[r, i, k] and u_engage[r, i, k] < drop_chance:
                    enrolled[r, i, k] = False
                    dropped[r, i, k] = True
                    continue
                weeks_in[r, i, k] += 1
                if weeks_in[r, i, k] >= durations[r, k]:
                    enrolled[r, i, k] = False
                    completed[r, i, k] = True
        # vectorisable loops over the run's users: feedback, then the slow variables
        boost, setback = planes[PL_BOOST, r], planes[PL_SETBACK, r]
        hit = planes[PL_RELAPSE_HIT, r]
        hope, efficacy = process[r, HOPE], process[r, SELF_EFFICACY]
        for i in range(n_agents):
            hope[i] = rules.feedback(hope[i], boost[i], hit[i], setback[i])
        for i in range(n_agents):
            efficacy[i] = rules.feedback(efficacy[i], boost[i], hit[i], 0.0)
        m, base_hope = motivation[r], baseline[r, HOPE]
        for i in range(n_agents):
            m[i] = rules.motivation_update(
                m[i],
                boost[i],
                setback[i],
                hit[i],
                motivation_baseline[r, i],
                hope[i] - base_hope[i],
                p.hope_motivation_gain,
                p.motivation_rate_per_week,
                p.process_noise_sd,
                noise[r, i, NOISE_MOTIVATION],
            )
            motivation_baseline[r, i] = rules.consolidate(
                motivation_baseline[r, i],
                m[i],
                motivation_entry[r, i],
                p.consolidation_rate_per_week,
                p.set_point_return_rate_per_week,
            )
        for i in range(n_agents):
            severity[r, i] = rules.severity_update(
                severity[r, i],
                severity_baseline[r, i],
                in_relapse[r, i],
                p.relapse_severity_rise,
                p.severity_rate_per_week,
            )
        for i in range(n_agents):
            f = functioning[r, i]
            functioning[r, i] = f + p.functioning_rate_per_week * (
                rules.functioning_set_point(
                    severity[r, i],
                    housed[r, i],
                    employed[r, i],
                    efficacy[i],
                    p.symptom_functioning_weight,
                    p.housing_functioning_weight,
                    p.employment_functioning_weight,
                    p.self_efficacy_functioning_weight,
                    p.functioning_weight_sum,
                )
                - f
            )

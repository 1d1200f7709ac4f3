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
    MECHANISMS,
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
        (v["self_efficacy_readiness_weight"] + v["motivation_readiness_weight"])
        + v["symptom_readiness_weight"]
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
GROUP_INTERVENTIONS = tuple(
    k for k, name in enumerate(USER_INTERVENTIONS) if intervention(name).group
)
PROFILE = mechanism_profile_matrix()  # (user interventions, mechanisms)
# rows of the processes kernel's scratch planes (N_PLANES, R, N)
PL_INFO, PL_ALLIANCE, PL_ROLE, PL_CHOICE, PL_GAIN, PL_ROLES, PL_SHIFT, PL_IPS = range(8)
PL_BOOST, PL_SETBACK, PL_RELAPSE_HIT = PL_INFO, PL_ALLIANCE, PL_ROLE  # reused by outcomes
N_PLANES = 8


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
    offer_ptr,
    offer_k,
    team_of_agent,
    site_of_agent,
    attitudes,
    fidelity,
    usual_care_contact,
    unemployment_rate,
    public_stigma,
    enrolled,
    engaged,
    process,
    baseline,
    connectedness,
    self_stigma,
    self_stigma_baseline,
    employed,
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
):
    """Mechanism doses (ODD §7.5) and the process sequence (§7.6), then the exponents.

    ``fidelity`` and ``usual_care_contact`` are per team (R, T),
    ``unemployment_rate`` and ``public_stigma`` per site (R, S).
    Writes ``doses`` (R, N, mechanisms) and moves the processes and self-stigma in
    place; leaves in ``job_shift`` and ``relapse_exponent`` the arguments of
    the two ``exp`` calls of the outcome phase, for numpy to evaluate.
    """
    n_runs, n_agents = engaged.shape
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
    for r in range(n_runs):
        p = prm[r]
        for i in range(n_agents):  # scalar: the interventions each user is in
            raw[:] = 0.0
            any_enrolled = False
            for k in offer_k[offer_ptr[i] : offer_ptr[i + 1]]:
                # exact either way: the sums are of multiples of 0.5
                e = 1.0 if enrolled[r, i, k] else 0.0
                any_enrolled |= enrolled[r, i, k]
                for m in range(N_MECHANISMS):
                    raw[m] += e * profile[k, m]
            team = team_of_agent[i]
            fid = fidelity[r, team]
            att = attitudes[r, team]
            usual = rules.usual_care_dose(
                usual_care_contact[r, team], att, p.usual_care_neutral_attitudes
            )
            info = raw[INFORMATION] * fid * engaged[r, i]
            alliance = raw[ALLIANCE] * fid * (p.attitude_dose_offset + att) + usual
            role = (
                raw[ROLE_MODELLING] * fid * engaged[r, i]
                + p.network_role_model_weight * peer_signal[r, i]
            )
            choice = raw[CHOICE] * fid * (p.attitude_dose_offset + att) + usual
            doses[r, i, INFORMATION], doses[r, i, ALLIANCE] = info, alliance
            doses[r, i, ROLE_MODELLING], doses[r, i, CHOICE] = role, choice
            planes[PL_INFO, r, i], planes[PL_ALLIANCE, r, i] = info, alliance
            planes[PL_ROLE, r, i], planes[PL_CHOICE, r, i] = role, choice
            planes[PL_ROLES, r, i] = (1.0 if employed[r, i] else 0.0) + (
                p.participation_meaning_weight * (1.0 if any_enrolled else 0.0)
            )
            planes[PL_SHIFT, r, i] = 100.0 * (
                unemployment_rate[r, site_of_agent[i]] - p.reference_unemployment_rate
            )
            planes[PL_IPS, r, i] = 1.0 if enrolled[r, i, IPS] else 0.0
        # vectorisable loops over the run's users, one process at a time, in sequence
        decay, sd = p.process_decay_rate_per_week, p.process_noise_sd
        gain = planes[PL_GAIN, r]
        _move_row(
            process[r, KNOWLEDGE],
            planes[PL_INFO, r],
            1.0,
            p.knowledge_learning_rate_per_week,
            decay,
            baseline[r, KNOWLEDGE],
        )
        _gain_row(process[r, KNOWLEDGE], baseline[r, KNOWLEDGE], gain)
        _move_row(
            process[r, SELF_EFFICACY],
            gain,
            1.0,
            p.self_efficacy_rate_per_week,
            decay,
            baseline[r, SELF_EFFICACY],
        )
        _move_row(
            process[r, TRUST],
            planes[PL_ALLIANCE, r],
            1.0,
            p.trust_rate_per_week,
            decay,
            baseline[r, TRUST],
        )
        _move_noisy_row(
            process[r, HOPE],
            planes[PL_ROLE, r],
            p.hope_rate_per_week,
            decay,
            baseline[r, HOPE],
            sd,
            noise[r, :, NOISE_HOPE],
        )
        _move_row(
            self_stigma[r],
            planes[PL_ROLE, r],
            -1.0,
            p.stigma_reduction_rate_per_week,
            decay,
            self_stigma_baseline[r],
        )
        _move_noisy_row(
            process[r, EMPOWERMENT],
            planes[PL_CHOICE, r],
            p.empowerment_rate_per_week,
            decay,
            baseline[r, EMPOWERMENT],
            sd,
            noise[r, :, NOISE_EMPOWERMENT],
        )
        _move_row(
            process[r, MEANING],
            planes[PL_ROLES, r],
            1.0,
            p.meaning_rate_per_week,
            decay,
            baseline[r, MEANING],
        )
        for i in range(n_agents):
            job_shift[r, i] = rules.job_log_odds_shift(
                planes[PL_SHIFT, r, i],
                p.log_job_entry_odds_ratio_per_point,
                p.stigma_job_penalty,
                public_stigma[r, site_of_agent[i]],
                p.reference_public_stigma,
                p.readiness_job_gradient,
                p.reference_work_readiness,
                process[r, SELF_EFFICACY, i],
                motivation[r, i],
                severity[r, i],
                p.self_efficacy_readiness_weight,
                p.motivation_readiness_weight,
                p.symptom_readiness_weight,
                p.readiness_weight_sum,
                p.log_work_history_job_multiplier,
                work_history[r, i],
                p.log_ips_job_finding_multiplier,
                planes[PL_IPS, r, i],
            )
        protection = -p.relapse_knowledge_protection
        for i in range(n_agents):
            relapse_exponent[r, i] = protection * gain[i]


@_jit
def _move_row(x, dose, sign, rate, decay, base):
    """rules.move over one run's users; ``sign`` = -1 moves by the negated dose (exact)."""
    for i in range(x.shape[0]):
        x[i] = rules.move(x[i], sign * dose[i], rate, decay, base[i])


@_jit
def _move_noisy_row(x, dose, rate, decay, base, sd, noise):
    for i in range(x.shape[0]):
        x[i] = rules.move_noisy(x[i], dose[i], rate, decay, base[i], sd, noise[i])


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
    site_of_agent,
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
    housing_exp,
    process,
    baseline,
    motivation,
    motivation_baseline,
    severity,
    severity_baseline,
    employed,
    ever_employed,
    weeks_employed,
    housed,
    weeks_housed,
    in_relapse,
    relapses,
    functioning,
    connectedness,
    degree,
    weeks_in,
    completed,
    dropped,
    planes,
):
    """Outcomes and feedback (ODD §7.7-7.11), then dropout and completion (§7.12).

    ``job_shift_exp`` and ``relapse_factor`` are numpy's exp of the
    :func:`processes` exponents; ``housing_exp[h, r, s]`` the exp of the housing
    log-odds shift at site s without (h = 0) and with (h = 1) Housing First.
    """
    n_runs, n_agents = engaged.shape
    for r in range(n_runs):
        p = prm[r]
        for i in range(n_agents):
            relapsing = in_relapse[r, i]
            in_ips = 1.0 if enrolled[r, i, IPS] else 0.0
            lose_job_chance = rules.loss_probability(
                p.job_loss_probability_per_week,
                p.ips_job_retention,
                in_ips,
                relapsing,
                p.relapse_loss_multiplier,
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

            hf = enrolled[r, i, HOUSING_FIRST]
            gain_chance = rules.odds_to_probability(
                p.odds_housing_gain_probability_per_week,
                housing_exp[1 if hf else 0, r, site_of_agent[i]],
            )
            lose_home_chance = rules.loss_probability(
                p.housing_loss_probability_per_week,
                p.housing_first_retention,
                1.0 if hf else 0.0,
                relapsing,
                p.relapse_loss_multiplier,
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
            onset = (not relapsing) & (u_relapse[r, i] < hazard)
            resolve = relapsing & (u_relapse[r, i] < p.relapse_recovery_probability_per_week)

            planes[PL_BOOST, r, i] = p.success_boost * (1.0 if start else 0.0)
            planes[PL_SETBACK, r, i] = p.job_loss_setback * (1.0 if lose else 0.0)
            planes[PL_RELAPSE_HIT, r, i] = p.relapse_setback * (1.0 if onset else 0.0)
            in_relapse[r, i] = (relapsing | onset) & (not resolve)
            relapses[r, i] += onset

            drop_chance = rules.dropout_chance(p.dropout_probability_per_week, engaged[r, i])
            for k in offer_k[offer_ptr[i] : offer_ptr[i + 1]]:
                if not enrolled[r, i, k]:
                    continue
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
        for i in range(n_agents):
            c = connectedness[r, i]
            connectedness[r, i] = c + p.connectedness_rate_per_week * (
                rules.connectedness_set_point(degree[r, i], p.connectedness_half_ties) - c
            )

"""Compiled (numba) kernels of the weekly step: the same arithmetic as the numpy path, fused.

:mod:`sim.core.services`, :mod:`sim.core.dynamics` and :mod:`sim.core.network` state the model
in numpy, one operation over all (runs x users) at a time; they stay the
reference. The kernels here (with uptake and admission in :mod:`sim.core.service_kernels`
and the network week in :mod:`sim.core.network_kernels`) walk the users once per phase and do the same
floating-point operations in the same order, so a run gives *bit-identical*
results on either path (``tests/test_kernels.py`` checks it state by state).
Two things stay in numpy on purpose: every random draw (the streams of
:mod:`sim.core.seeding`), and ``exp``/``log`` (numpy's SIMD versions can differ from
the C library's in the last bit), computed between the phases.

A phase is a plain function of arrays and a record of per-run parameters read
by name (``p = prm[r]``, then ``p.hope_rate_per_week``; :data:`RUN_PARAMETERS`,
built by :func:`run_parameters` from the registry); indices of processes,
mechanisms and interventions are derived from :mod:`sim.core.logic_model` and
:data:`sim.core.state.PROCESS_NAMES` at import (numba reads them as constants).
"""

from __future__ import annotations

try:  # numba is a dependency; without it the numpy path runs (slower, same results)
    import numba
except ImportError:  # pragma: no cover - exercised only where numba has no wheel
    numba = None

import numpy as np

from sim.core.logic_model import MECHANISMS, USER_INTERVENTIONS
from sim.core.parameters import REGISTRY
from sim.core.state import PROCESS_NAMES
from sim.core.world import ENVIRONMENT_KEYS, SERVICE_KEYS

__all__ = ["AVAILABLE", "DERIVED_PARAMETERS", "RUN_PARAMETER_NAMES", "RUN_PARAMETERS",
           "run_parameters"]

AVAILABLE = numba is not None

# Values a rule needs that are functions of registry values, computed once per run in
# numpy (numpy's log can differ from the C library's in the last bit).
DERIVED_PARAMETERS = {
    "log_job_entry_odds_ratio_per_point": lambda v: np.log(v["job_entry_odds_ratio_per_point"]),
    "log_work_history_job_multiplier": lambda v: np.log(v["work_history_job_multiplier"]),
    "log_ips_job_finding_multiplier": lambda v: np.log(v["ips_job_finding_multiplier"]),
    "odds_job_finding_probability_per_week": lambda v: (
        v["job_finding_probability_per_week"] / (1.0 - v["job_finding_probability_per_week"])),
    "odds_housing_gain_probability_per_week": lambda v: (
        v["housing_gain_probability_per_week"]
        / (1.0 - v["housing_gain_probability_per_week"])),
    # community ties re-form at the rate they lapse, so the mean degree stays near
    # initial_ties_mean outside groups
    "community_tie_probability_per_week": lambda v: (
        v["tie_decay_probability_per_week"] * v["initial_ties_mean"] / 2),
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
# rows of the processes kernel's scratch planes (N_PLANES, R, N)
PL_INFO, PL_ALLIANCE, PL_ROLE, PL_CHOICE, PL_GAIN, PL_ROLES, PL_SHIFT, PL_IPS = range(8)
PL_BOOST, PL_SETBACK, PL_RELAPSE_HIT = PL_INFO, PL_ALLIANCE, PL_ROLE  # reused by outcomes
N_PLANES = 8


def _jit(function):
    if numba is None:  # pragma: no cover
        return function
    return numba.njit(cache=True, nogil=True, error_model="numpy")(function)


@_jit
def _clip01(x):
    return min(max(x, 0.0), 1.0)


@_jit
def _move(p, dose, rate, decay, base):
    up = max(dose, 0.0) * (1.0 - p) - max(-dose, 0.0) * p
    return _clip01(p + rate * up - decay * (p - base))


@_jit
def _loss_probability(base, protection, protected, in_relapse, relapse_multiplier):
    factor = (1.0 - protection * protected) * (relapse_multiplier if in_relapse else 1.0)
    return min(base * factor, 1.0)


@_jit
def _neighbour_share_advanced(advanced, run, a, b, degree, count, out):
    """Share of each user's ties in an advanced stage, minus 0.5 (0 without ties).

    ``advanced`` is 0/1 in bytes and the tallies are int32 (``count``), so the
    arrays read and written at random partners' indices are small enough to stay
    in cache; the shares are exact counts over the degree, as on the numpy path.
    """
    n_agents = advanced.shape[1]
    count[:] = 0
    for e in range(run.shape[0]):
        r = run[e]
        count[r, a[e]] += advanced[r, b[e]]
        count[r, b[e]] += advanced[r, a[e]]
    for r in range(out.shape[0]):
        for i in range(n_agents):
            d = degree[r, i]
            out[r, i] = count[r, i] / max(d, 1) - 0.5 if d > 0 else 0.0


@_jit
def processes(prm, profile, offer_ptr, offer_k, team_of_agent, site_of_agent, attitudes,
              fidelity, usual_care_contact, unemployment_rate, public_stigma, enrolled, engaged,
              process, baseline,
              connectedness, self_stigma, self_stigma_baseline, employed, motivation, severity,
              work_history, noise, run, a, b, degree, advanced, advanced_count, peer_signal,
              planes, doses,
              job_shift, relapse_exponent):
    """Mechanism doses and the process sequence (dynamics.py), then the exponents.

    ``fidelity`` and ``usual_care_contact`` are per team (R, T),
    ``unemployment_rate`` and ``public_stigma`` per site (R, S).
    Writes ``doses`` (R, N, 4) and moves the processes and self-stigma in
    place; leaves in ``job_shift`` and ``relapse_exponent`` the arguments of
    the two ``exp`` calls of the outcome phase, for numpy to evaluate.
    """
    n_runs, n_agents = engaged.shape
    for r in range(n_runs):
        for i in range(n_agents):
            qpr = 12.0 * (connectedness[r, i] + process[r, HOPE, i] + (1.0 - self_stigma[r, i])
                          + process[r, MEANING, i] + process[r, EMPOWERMENT, i])
            advanced[r, i] = 1 if min(int(qpr * (5.0 / 60.0)), 4) >= 3 else 0
    _neighbour_share_advanced(advanced, run, a, b, degree, advanced_count, peer_signal)
    raw = np.empty(N_MECHANISMS)
    for r in range(n_runs):
        pv = prm[r]
        for i in range(n_agents):  # scalar: the interventions each user is in
            raw[:] = 0.0
            any_enrolled = False
            for k in offer_k[offer_ptr[i]:offer_ptr[i + 1]]:
                # exact either way: the sums are of multiples of 0.5
                e = 1.0 if enrolled[r, i, k] else 0.0
                any_enrolled |= enrolled[r, i, k]
                for m in range(N_MECHANISMS):
                    raw[m] += e * profile[k, m]
            team, site = team_of_agent[i], site_of_agent[i]
            fid = fidelity[r, team]
            att = attitudes[r, team]
            usual = usual_care_contact[r, team] * (2.0 * att - 1.0)
            info = raw[INFORMATION] * fid * engaged[r, i]
            alliance = raw[ALLIANCE] * fid * (0.5 + att) + usual
            role = (raw[ROLE_MODELLING] * fid * engaged[r, i]
                    + pv.network_role_model_weight * peer_signal[r, i])
            choice = raw[CHOICE] * fid * (0.5 + att) + usual
            doses[r, i, INFORMATION], doses[r, i, ALLIANCE] = info, alliance
            doses[r, i, ROLE_MODELLING], doses[r, i, CHOICE] = role, choice
            planes[PL_INFO, r, i], planes[PL_ALLIANCE, r, i] = info, alliance
            planes[PL_ROLE, r, i], planes[PL_CHOICE, r, i] = role, choice
            planes[PL_ROLES, r, i] = (1.0 if employed[r, i] else 0.0) + pv.participation_meaning_weight * (
                1.0 if any_enrolled else 0.0)
            points = 100.0 * (unemployment_rate[r, site] - pv.reference_unemployment_rate)
            planes[PL_SHIFT, r, i] = (-pv.log_job_entry_odds_ratio_per_point * points
                                      - pv.stigma_job_penalty * (public_stigma[r, site] - 0.5))
            planes[PL_IPS, r, i] = 1.0 if enrolled[r, i, IPS] else 0.0
        # vectorisable loops over the run's users, one process at a time, in sequence
        decay, sd = pv.process_decay_rate_per_week, pv.process_noise_sd
        gain = planes[PL_GAIN, r]
        _move_row(process[r, KNOWLEDGE], planes[PL_INFO, r], 1.0, pv.knowledge_learning_rate_per_week, decay,
                  baseline[r, KNOWLEDGE])
        _gain_row(process[r, KNOWLEDGE], baseline[r, KNOWLEDGE], gain)
        _move_row(process[r, SELF_EFFICACY], gain, 1.0, pv.self_efficacy_rate_per_week, decay,
                  baseline[r, SELF_EFFICACY])
        _move_row(process[r, TRUST], planes[PL_ALLIANCE, r], 1.0, pv.trust_rate_per_week, decay,
                  baseline[r, TRUST])
        _move_noisy_row(process[r, HOPE], planes[PL_ROLE, r], pv.hope_rate_per_week, decay,
                        baseline[r, HOPE], sd, noise[r, :, 0])
        _move_row(self_stigma[r], planes[PL_ROLE, r], -1.0, pv.stigma_reduction_rate_per_week, decay,
                  self_stigma_baseline[r])
        _move_noisy_row(process[r, EMPOWERMENT], planes[PL_CHOICE, r], pv.empowerment_rate_per_week, decay,
                        baseline[r, EMPOWERMENT], sd, noise[r, :, 1])
        _move_row(process[r, MEANING], planes[PL_ROLES, r], 1.0, pv.meaning_rate_per_week, decay,
                  baseline[r, MEANING])
        _shift_row(planes[PL_SHIFT, r], process[r, SELF_EFFICACY], motivation[r], severity[r],
                   work_history[r], planes[PL_IPS, r], pv.readiness_job_gradient, pv.log_work_history_job_multiplier,
                   pv.log_ips_job_finding_multiplier, job_shift[r])
        protection = -pv.relapse_knowledge_protection
        for i in range(n_agents):
            relapse_exponent[r, i] = protection * gain[i]


@_jit
def _move_row(p, dose, sign, rate, decay, base):
    """_move over one run's users; ``sign`` = -1 moves by the negated dose (exact)."""
    for i in range(p.shape[0]):
        p[i] = _move(p[i], sign * dose[i], rate, decay, base[i])


@_jit
def _move_noisy_row(p, dose, rate, decay, base, sd, noise):
    for i in range(p.shape[0]):
        p[i] = _clip01(_move(p[i], dose[i], rate, decay, base[i]) + sd * noise[i])


@_jit
def _gain_row(p, base, gain):
    for i in range(p.shape[0]):
        gain[i] = max(p[i] - base[i], 0.0)


@_jit
def _shift_row(partial, efficacy, motivation, severity, work_history, in_ips, gradient,
               log_work_history, log_ips, out):
    for i in range(out.shape[0]):
        readiness = (efficacy[i] + motivation[i] + 1.0 - severity[i]) / 3.0
        out[i] = (partial[i] + gradient * (readiness - 0.5)
                  + log_work_history * (1.0 if work_history[i] else 0.0) + log_ips * in_ips[i])


@_jit
def _odds_to_probability(base_odds, exp_shift):
    odds = base_odds * exp_shift
    return odds / (1.0 + odds)


@_jit
def outcomes(prm, durations, offer_ptr, offer_k, site_of_agent, enrolled, was_enrolled, engaged,
             u_engage, u_job, u_house,
             u_relapse, noise, job_shift_exp, relapse_factor, housing_exp, process, baseline,
             motivation, motivation_baseline, severity, severity_baseline, employed,
             ever_employed, weeks_employed, housed, weeks_housed, in_relapse, relapses,
             functioning, connectedness, degree, weeks_in, completed, dropped, planes):
    """Outcomes, feedback, then dropout and completion.

    Employment, housing, relapse, feedback, severity, functioning and
    connectedness (dynamics.apply_outcomes), then services.disengage_and_complete.

    ``job_shift_exp`` and ``relapse_factor`` are numpy's exp of the phase-2
    exponents; ``housing_exp[h, r, s]`` the exp of the housing log-odds shift
    at site s without (h = 0) and with (h = 1) Housing First.
    """
    n_runs, n_agents = engaged.shape
    for r in range(n_runs):
        pv = prm[r]
        for i in range(n_agents):
            relapsing = in_relapse[r, i]
            in_ips = 1.0 if enrolled[r, i, IPS] else 0.0
            lose_job_chance = _loss_probability(pv.job_loss_probability_per_week, pv.ips_job_retention, in_ips,
                                                relapsing, pv.relapse_loss_multiplier)
            find = _odds_to_probability(pv.odds_job_finding_probability_per_week, job_shift_exp[r, i])
            find = 0.0 if relapsing else find
            was_employed = employed[r, i]
            start = (not was_employed) & (u_job[r, i] < find)
            lose = was_employed & (u_job[r, i] < lose_job_chance)
            now_employed = (was_employed | start) & (not lose)
            employed[r, i] = now_employed
            ever_employed[r, i] |= start
            weeks_employed[r, i] += now_employed

            hf = enrolled[r, i, HOUSING_FIRST]
            gain_chance = _odds_to_probability(pv.odds_housing_gain_probability_per_week,
                                               housing_exp[1 if hf else 0, r,
                                                           site_of_agent[i]])
            lose_home_chance = _loss_probability(pv.housing_loss_probability_per_week, pv.housing_first_retention,
                                                 1.0 if hf else 0.0, relapsing,
                                                 pv.relapse_loss_multiplier)
            was_housed = housed[r, i]
            gain = (not was_housed) & (u_house[r, i] < gain_chance)
            evict = was_housed & (u_house[r, i] < lose_home_chance)
            now_housed = (was_housed | gain) & (not evict)
            housed[r, i] = now_housed
            weeks_housed[r, i] += now_housed

            hazard = pv.relapse_probability_per_week * (0.5 + severity[r, i]) * relapse_factor[r, i]
            onset = (not relapsing) & (u_relapse[r, i] < hazard)
            resolve = relapsing & (u_relapse[r, i] < pv.relapse_recovery_probability_per_week)

            planes[PL_BOOST, r, i] = pv.success_boost * (1.0 if start else 0.0)
            planes[PL_SETBACK, r, i] = pv.job_loss_setback * (1.0 if lose else 0.0)
            planes[PL_RELAPSE_HIT, r, i] = pv.relapse_setback * (1.0 if onset else 0.0)
            in_relapse[r, i] = (relapsing | onset) & (not resolve)
            relapses[r, i] += onset

            drop_chance = pv.dropout_probability_per_week * (1.0 - engaged[r, i])
            for k in offer_k[offer_ptr[i]:offer_ptr[i + 1]]:
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
        _feedback_row(process[r, HOPE], boost, hit, setback, True)
        _feedback_row(process[r, SELF_EFFICACY], boost, hit, setback, False)
        _motivation_row(motivation[r], boost, setback, hit, motivation_baseline[r],
                        process[r, HOPE], baseline[r, HOPE], pv.hope_motivation_gain, pv.motivation_rate_per_week,
                        pv.process_noise_sd, noise[r, :, 2])
        _severity_row(severity[r], severity_baseline[r], in_relapse[r], pv.relapse_severity_rise,
                      pv.severity_rate_per_week)
        _functioning_row(functioning[r], severity[r], housed[r], employed[r],
                         process[r, SELF_EFFICACY], pv.functioning_rate_per_week)
        _connectedness_row(connectedness[r], degree[r], pv.connectedness_rate_per_week, pv.connectedness_half_ties)


@_jit
def _feedback_row(p, boost, hit, setback, with_setback):
    """Job start lifts a process toward 1; relapse onset (and job loss) cut it back."""
    for i in range(p.shape[0]):
        x = p[i] + boost[i] * (1.0 - p[i])
        p[i] = x * (1.0 - hit[i]) * (1.0 - (setback[i] if with_setback else 0.0))


@_jit
def _motivation_row(m, boost, setback, hit, base, hope, base_hope, hope_gain, rate, sd, noise):
    for i in range(m.shape[0]):
        x = m[i] + boost[i] * (1.0 - m[i])
        x = x * (1.0 - setback[i]) * (1.0 - hit[i])
        set_point = base[i] + hope_gain * (hope[i] - base_hope[i])
        x = x + (rate * (set_point - x) + sd * noise[i])
        m[i] = _clip01(x)


@_jit
def _severity_row(severity, base, in_relapse, rise, rate):
    for i in range(severity.shape[0]):
        target = base[i] + rise * (1.0 if in_relapse[i] else 0.0)
        severity[i] = _clip01(severity[i] + rate * (target - severity[i]))


@_jit
def _functioning_row(functioning, severity, housed, employed, efficacy, rate):
    for i in range(functioning.shape[0]):
        set_point = 0.25 * ((1.0 - severity[i]) + (1.0 if housed[i] else 0.0)
                            + (1.0 if employed[i] else 0.0) + efficacy[i])
        functioning[i] = functioning[i] + rate * (set_point - functioning[i])


@_jit
def _connectedness_row(connectedness, degree, rate, half):
    for i in range(connectedness.shape[0]):
        d = float(degree[i])
        connectedness[i] = connectedness[i] + rate * (d / (d + half) - connectedness[i])

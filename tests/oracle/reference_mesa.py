"""Reference implementation of the model written the idiomatic Mesa way (a test oracle).

The same rules as the core (``sim/core/rules.py`` driven by ``sim/core/kernels.py`` and
its siblings, initialised by ``sim/core/state.py`` and ``sim/core/network.py``; equations
in docs/ODD.md) written agent by agent in plain Python: :class:`ServiceUser` and
:class:`Team` are ``mesa.Agent`` objects with per-agent attributes, the weekly
step applies the schedule to one agent at a time with the ``math`` module, ties
are per-agent sets, and a ``mesa.DataCollector`` records the outcomes. It is
two things at once: the "idiomatic Mesa" baseline of ``benchmarks/bench_core.py``
and an independent oracle for ``tests/test_reference_oracle.py``.

It shares only *data* with the core: the parameter registry
(:func:`sim.core.parameters.validate`, including the reference points, weights and
factor loadings that were once literals of the rules), the world description
(:mod:`sim.core.world`), the mechanism profiles (:mod:`sim.core.logic_model`) and the
fixed properties of the QPR and stage scales (:mod:`sim.core.scales`). Every rule is
re-coded here.
It does **not** reproduce the core's random streams (it draws scalars when a
decision needs them, from its own named generators), so trajectories agree in
distribution only. Two deliberate differences of form, both equal in law:
uptake and dropout use separate uniforms (the core shares one, but no user takes
both decisions in one week), and each tie lapses on its own uniform (the core's
frac(u_a + u_b) rule gives each tie the same marginal chance).

Model v2 (issue 16; the plain-language statement of the changes is
/work/tools/v2_rules.md) is stated here from that text: doses scaled by their
moderators (fidelity, attitudes, public stigma), process doses through the logic
model's link weights (``<mechanism>_to_<process>_weight``, read by name),
connectedness from ties, work, home and group engagement at the start of the
week, set-points that consolidate toward sustained levels and return to the
entry draws, tenure and fidelity-weighted IPS and Housing First, relapse
protection by trust and housing, hospital use from the week's relapse uniform
(u / hazard at an onset), tenure-weighted dropout, and the family item of social
inclusion (a fourth entry uniform). Where the statement leaves open which
week's value a rule reads, the oracle reads the core's (both stated in the
methods): the relapse hazard's housing term is the start-of-week status, and
connectedness withdraws by the self-stigma before this week's move.

The weekly schedule (docs/ODD.md §3) is kept synchronous where the core is:
stages for role modelling are read from a snapshot taken before the users move,
admission is done by the teams before any dose, and the network changes only
after every user has moved, so the order of ``shuffle_do`` cannot matter.

The module is one file (about 700 lines, above the house ~400) on purpose: an
oracle reads best top to bottom, side by side with docs/ODD.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import mesa
import numpy as np

from sim.core.logic_model import MECHANISMS, USER_INTERVENTIONS, intervention
from sim.core.parameters import validate
from sim.core.scales import LAST_STAGE, QPR_PER_PROCESS, STAGES_PER_POINT
from sim.core.seeding import STREAMS, stream_key
from sim.core.world import ENVIRONMENT_KEYS, SERVICE_KEYS, World, make_world

__all__ = ["OUTCOME_REPORTERS", "ReferenceModel", "ServiceUser", "Team"]

K = len(USER_INTERVENTIONS)
PROFILES = tuple(intervention(name).profile for name in USER_INTERVENTIONS)
GROUPS = tuple(k for k, name in enumerate(USER_INTERVENTIONS) if intervention(name).group)
IPS = USER_INTERVENTIONS.index("supported_employment")
HOUSING_FIRST = USER_INTERVENTIONS.index("supported_housing")
CRISIS_PLANNING = USER_INTERVENTIONS.index("shared_decision_making")  # makes a crisis plan
DAYS_PER_WEEK = 7
PROCESS_NAMES = ("knowledge", "self_efficacy", "trust", "hope", "empowerment", "meaning")
TRAIT_MEDIANS = (
    "motivation_median",
    "symptom_severity_median",
    "self_stigma_median",
    *(f"{name}_baseline_median" for name in PROCESS_NAMES),
)
# each trait's loading on the shared recovery factor z9 (ODD §5), in TRAIT_MEDIANS order
TRAIT_LOADINGS = (
    "motivation_factor_loading",
    "symptom_severity_factor_loading",
    "self_stigma_factor_loading",
    *(f"{name}_factor_loading" for name in PROCESS_NAMES),
)
READINESS_WEIGHTS = (
    "self_efficacy_readiness_weight",
    "motivation_readiness_weight",
    "symptom_readiness_weight",
    "self_stigma_readiness_weight",
)
FUNCTIONING_WEIGHTS = (
    "symptom_functioning_weight",
    "housing_functioning_weight",
    "employment_functioning_weight",
    "self_efficacy_functioning_weight",
)
CONNECTEDNESS_WEIGHTS = (
    "ties_connectedness_weight",
    "work_connectedness_weight",
    "housing_connectedness_weight",
    "group_connectedness_weight",
)
REFERENCE_KEY = stream_key("reference_mesa")  # keeps our streams apart from the core's


def expit(x: float) -> float:
    """Logistic function."""
    return 1.0 / (1.0 + math.exp(-x))


def logit(p: float) -> float:
    """Log-odds of a probability."""
    return math.log(p / (1.0 - p))


def clip01(x: float) -> float:
    """Bound ``x`` to [0, 1]."""
    return 0.0 if x < 0.0 else (1.0 if x > 1.0 else x)


def move(p: float, dose: float, rate: float, decay: float, base: float) -> float:
    """A process moved by a signed dose and relaxed to its baseline (ODD §7.6)."""
    gap = dose * (1.0 - p) if dose > 0.0 else dose * p
    return clip01(p + rate * gap - decay * (p - base))


def shifted_probability(p: float, log_odds_shift: float) -> float:
    """``p`` with its odds multiplied by exp(``log_odds_shift``)."""
    odds = p / (1.0 - p) * math.exp(log_odds_shift)
    return odds / (1.0 + odds)


def _mean_of(attribute: str):
    def report(model: ReferenceModel) -> float:
        return float(model.users.agg(attribute, np.mean))

    return report


def _uptake(model: ReferenceModel) -> float:
    offered = started = 0
    for user in model.users:
        for k in range(K):
            if user.offered[k]:
                offered += 1
                started += user.enrolled[k] or user.completed[k] or user.dropped[k]
    return started / offered if offered else 0.0


def _bed_days(model: ReferenceModel) -> float:
    return DAYS_PER_WEEK * float(model.users.agg("bed_weeks", np.mean))


# DataCollector model reporters, named as in sim.core.metrics.METRICS so the two compare directly
OUTCOME_REPORTERS = {
    **{
        name: _mean_of(name)
        for name in (
            "employed",
            "ever_employed",
            "housed",
            "functioning",
            "personal_recovery",
            "hope",
            "empowerment",
            "meaning",
            "self_stigma",
            "connectedness",
            "knowledge",
            "self_efficacy",
            "trust",
            "motivation",
            "in_relapse",
            "in_intervention",
            "early_stage",
        )
    },
    "ties": _mean_of("degree"),
    "uptake": _uptake,
    "social_inclusion": _mean_of("social_inclusion"),
    "in_hospital": _mean_of("in_hospital"),
    "admissions": _mean_of("admissions"),
    "compulsory_admissions": _mean_of("compulsory_admissions"),
    "bed_days": _bed_days,
}


class Team(mesa.Agent):
    """A community mental-health team: attitudes, staff training and places.

    Args:
        model: The owning model.
        index: The team's index in ``world.teams``.
    """

    def __init__(self, model: ReferenceModel, index: int) -> None:
        super().__init__(model)
        spec, p = model.world.teams[index], model.p
        self.index, self.site = index, spec.site
        value = {key: getattr(spec, key) for key in SERVICE_KEYS}
        value = {key: p[key] if v is None else float(v) for key, v in value.items()}
        self.attitudes_baseline = self.attitudes = value["professional_attitudes"]
        self.fidelity = value["fidelity"]
        self.usual_care_contact = value["usual_care_contact"]
        self.participation = value["staff_training_participation"]
        self.trained = spec.staff_training
        self.capacity = [int(spec.capacity.get(name, -1)) for name in USER_INTERVENTIONS]
        self.members: list[ServiceUser] = []
        self.groups: dict[int, list[ServiceUser]] = {}

    def step(self) -> None:
        """Staff training: attitudes climb a linear ramp toward 1 (ODD §7.1)."""
        if not self.trained:
            return
        p = self.model.p
        progress = min(1.0, self.model.week / p["staff_training_weeks"])
        rise = p["staff_training_attitude_gain"] * self.participation * progress
        self.attitudes = self.attitudes_baseline + rise * (1.0 - self.attitudes_baseline)

    def admit(self) -> None:
        """Fill open places from each waiting list, first come first served (ODD §7.4)."""
        for k in range(K):
            queue = [user for user in self.members if user.waiting[k]]
            if not queue:
                continue
            if self.capacity[k] >= 0:
                occupied = sum(user.enrolled[k] for user in self.members)
                queue.sort(key=lambda user, k=k: (user.wait_since[k], user.priority))
                queue = queue[: max(self.capacity[k] - occupied, 0)]
            for user in queue:
                user.enrolled[k], user.waiting[k], user.weeks_in[k] = True, False, 0

    def gather_groups(self) -> None:
        """This week's members of each group intervention (after dropout and completion)."""
        self.groups = {k: [u for u in self.members if u.enrolled[k]] for k in GROUPS}


class ServiceUser(mesa.Agent):
    """A service user whose ``step`` applies one week of the schedule to itself.

    Args:
        model: The owning model.
        team: The user's team.
        offered: Whether the user is offered each user intervention.
    """

    def __init__(self, model: ReferenceModel, team: Team, offered: list[bool]) -> None:
        super().__init__(model)
        self.team, self.offered = team, offered
        self.site = model.sites[team.site]
        team.members.append(self)
        self.ties: set[int] = set()  # unique_ids of the users this one is tied to
        self._draw_entry_state(model.p, model.rng_for["population"])
        self.priority = float(model.rng_for["admission"].random())
        for name in ("enrolled", "waiting", "completed", "dropped"):
            setattr(self, name, [False] * K)
        self.wait_since, self.weeks_in = [0] * K, [0] * K
        self.in_relapse, self.relapses = False, 0
        self.in_hospital, self.admissions, self.compulsory_admissions = False, 0, 0
        self.bed_weeks = 0
        self.weeks_employed = self.weeks_housed = 0
        self.doses = [0.0] * 4
        self.engagement, self.advanced, self.knowledge_gain = 0.0, False, 0.0
        self.housed_at_start = self.housed
        self.was_enrolled = [False] * K

    def _draw_entry_state(self, p: Mapping[str, float], rng: np.random.Generator) -> None:
        """Logit-normal traits with one shared recovery factor (ODD §5 steps 1-8)."""
        z = [float(x) for x in rng.standard_normal(10)]
        u = [float(x) for x in rng.random(4)]  # work_history, employed, housed, family
        rho = p["trait_correlation"]
        for j, name in enumerate(TRAIT_LOADINGS):  # l z9 sqrt(rho) + sqrt(1 - l^2 rho) z_j
            loading = p[name]
            z[j] = loading * math.sqrt(rho) * z[9] + math.sqrt(1.0 - loading * loading * rho) * z[j]
        x = [
            expit(logit(p[m]) + p["trait_spread_logit"] * z[j]) for j, m in enumerate(TRAIT_MEDIANS)
        ]
        self.motivation = self.motivation_baseline = self.motivation_entry = x[0]
        self.severity = self.severity_baseline = x[1]
        stigma = clip01(
            x[2]
            + p["stigma_internalisation"]
            * (self.site["public_stigma"] - p["reference_public_stigma"])
        )
        self.self_stigma = self.self_stigma_baseline = self.self_stigma_entry = stigma
        # set-points ("baseline", consolidating, §7.6) and the fixed entry levels
        self.baseline = dict(zip(PROCESS_NAMES, x[3:], strict=True))
        self.entry = dict(self.baseline)
        for name, value in self.baseline.items():
            setattr(self, name, value)
        self.employed = self.ever_employed = bool(u[1] < p["baseline_employment_share"])
        self.work_history = bool(u[0] < p["work_history_share"]) or self.employed
        self.housed = bool(u[2] < p["baseline_housed_share"])
        self.family = bool(u[3] < p["family_contact_share"])

    # ---- derived quantities ------------------------------------------------------------
    @property
    def personal_recovery(self) -> float:
        """QPR-scale score: 12 x (connectedness + hope + identity + meaning + empowerment)."""
        chime = self.connectedness + self.hope + (1.0 - self.self_stigma) + self.meaning
        return QPR_PER_PROCESS * (chime + self.empowerment)

    @property
    def stage(self) -> int:
        """Andresen stage 0-4 from equal 12-point QPR bands."""
        return min(int(self.personal_recovery * STAGES_PER_POINT), LAST_STAGE)

    @property
    def early_stage(self) -> bool:
        """In moratorium or awareness."""
        return self.stage <= 1

    @property
    def degree(self) -> int:
        """Number of ties."""
        return len(self.ties)

    @property
    def in_intervention(self) -> bool:
        """Whether enrolled in at least one intervention."""
        return any(self.enrolled)

    def functioning_target(self) -> float:
        """Weighted mean of low symptoms, housing, work and self-efficacy (ODD §7.11)."""
        weights = [self.model.p[name] for name in FUNCTIONING_WEIGHTS]
        domains = (1.0 - self.severity, self.housed, self.employed, self.self_efficacy)
        return sum(w * x for w, x in zip(weights, domains, strict=True)) / sum(weights)

    @property
    def social_inclusion(self) -> int:
        """Objective social inclusion 0-6 (SIX): 2 work + 2 home + 1 family + 1 a friend."""
        return 2 * self.employed + 2 * self.housed + self.family + (len(self.ties) > 0)

    def stigma_strength(self, modification: str) -> float:
        """How strongly a stigma-moderated process works at this site (effect modification)."""
        p = self.model.p
        gap = self.site["public_stigma"] - p["reference_public_stigma"]
        return max(0.0, 1.0 - p[modification] * gap)

    def connectedness_target(self, in_group: float = 0.0) -> float:
        """Belonging from ties, work, home and groups, less self-stigma's withdrawal (§7.11)."""
        p = self.model.p
        w_ties, w_work, w_housing, w_group = (p[name] for name in CONNECTEDNESS_WEIGHTS)
        degree = len(self.ties)
        participation = self.stigma_strength("social_participation_stigma_modification")
        social = w_ties * degree / (degree + p["connectedness_half_ties"]) + participation * (
            w_work * self.employed + w_housing * self.housed + w_group * in_group
        )
        withdrawal = 1.0 - p["self_stigma_withdrawal"] * self.self_stigma
        return clip01(social / (w_ties + w_work + w_housing + w_group) * withdrawal)

    # ---- schedule phases -----------------------------------------------------------------
    def seek_services(self) -> None:
        """Engagement (ODD §7.2) and uptake of offered places onto waiting lists (§7.3)."""
        p, rng = self.model.p, self.model.rng_for["engagement"]
        weight = p["trust_engagement_weight"]
        self.engagement = self.motivation * (1.0 - weight + weight * self.trust)
        self.was_enrolled = list(self.enrolled)
        chance = p["uptake_probability_per_week"] * self.engagement
        for k in range(K):
            busy = self.enrolled[k] or self.waiting[k] or self.completed[k] or self.dropped[k]
            if self.offered[k] and not busy and rng.random() < chance:
                self.waiting[k], self.wait_since[k] = True, self.model.week

    def note_stage(self) -> None:
        """Snapshot whether this user models recovery, before anyone moves this week."""
        self.advanced = self.stage >= self.model.p["advanced_stage"]

    def step(self) -> None:
        """One week for this user: belonging, doses, processes, outcomes, feedback, dropout."""
        self.housed_at_start = self.housed
        self._belong()
        self._receive_doses()
        self._update_processes()
        self._consolidate_processes()
        start, lose = self._work()
        self._housing()
        onset, resolve = self._relapse_decision()
        self._feedback(start, lose, onset)
        self._settle(onset, resolve)
        self._disengage_and_complete()

    def _belong(self) -> None:
        """Connectedness moves toward its set-point from last week's work and home, this
        week's group engagement and the current ties (§7.11); work makes a work history."""
        in_group = self.engagement if any(self.enrolled[k] for k in GROUPS) else 0.0
        target = self.connectedness_target(in_group)
        self.connectedness += self.model.p["connectedness_rate_per_week"] * (
            target - self.connectedness
        )
        self.work_history = self.work_history or self.employed

    def _fidelity_if(self, k: int) -> float:
        return self.team.fidelity if self.enrolled[k] else 0.0

    def _receive_doses(self) -> None:
        """Four mechanism doses, each scaled by its moderators (ODD §7.5)."""
        p, team = self.model.p, self.team
        raw = [0.0] * 4
        for k in range(K):
            if self.enrolled[k]:
                raw = [r + w for r, w in zip(raw, PROFILES[k], strict=True)]
        raw = [r * p[f"{m}_profile_scale"] for r, m in zip(raw, MECHANISMS, strict=True)]
        fid = team.fidelity
        peer = 0.0
        if self.ties:
            users = self.model.user_by_id
            share = sum(users[j].advanced for j in self.ties) / len(self.ties)
            peer = share - p["peer_signal_neutral_share"]
        attitude = p["attitude_dose_offset"] + team.attitudes
        role_strength = self.stigma_strength("role_modelling_stigma_modification")
        self.doses = [
            raw[0] * fid * self.engagement,
            raw[1] * fid * attitude,
            role_strength
            * (raw[2] * fid * self.engagement + p["network_role_model_weight"] * peer),
            raw[3] * fid * attitude,
        ]

    def _usual_care_shift(self) -> dict[str, float]:
        """Usual care's signed shift of the level each process relaxes to (§7.6)."""
        p, team = self.model.p, self.team
        usual = team.usual_care_contact * (
            2.0 * team.attitudes - 2.0 * p["usual_care_neutral_attitudes"]
        )
        shift = dict.fromkeys((*PROCESS_NAMES, "self_stigma"), 0.0)
        shift["trust"] = p["working_alliance_to_trust_weight"] * usual
        shift["hope"] = p["working_alliance_to_hope_weight"] * usual
        shift["empowerment"] = (
            p["increasing_choice_to_empowerment_weight"] * usual
            + p["working_alliance_to_empowerment_weight"] * usual
        )
        return shift

    def _update_processes(self) -> None:
        """Knowledge -> self-efficacy; trust; hope; self-stigma; empowerment; meaning (§7.6).

        Each process receives the weighted mechanism doses of the logic model's links
        (weights ``<mechanism>_to_<process>_weight``) and relaxes to its set-point.
        """
        p, decay = self.model.p, self.model.p["process_decay_rate_per_week"]
        shift = self._usual_care_shift()
        b = {name: clip01(self.baseline[name] + shift[name]) for name in PROCESS_NAMES}
        info, alliance, role, choice = self.doses
        noise = self.model.rng_for["noise"]
        sd = p["process_noise_sd"]
        knowledge_dose = p["information_and_skills_to_knowledge_weight"] * info
        trust_dose = p["working_alliance_to_trust_weight"] * alliance
        hope_dose = (
            p["role_modelling_to_hope_weight"] * role
            + p["working_alliance_to_hope_weight"] * alliance
        )
        stigma_dose = -p["role_modelling_to_self_stigma_weight"] * role
        empowerment_dose = (
            p["increasing_choice_to_empowerment_weight"] * choice
            + p["role_modelling_to_empowerment_weight"] * role
            + p["working_alliance_to_empowerment_weight"] * alliance
        )
        self.knowledge = move(
            self.knowledge,
            knowledge_dose,
            p["knowledge_learning_rate_per_week"],
            decay,
            b["knowledge"],
        )
        # the gain is over the entry level (fixed), not the moving set-point
        self.knowledge_gain = max(self.knowledge - self.entry["knowledge"], 0.0)
        self.self_efficacy = move(
            self.self_efficacy,
            self.knowledge_gain,
            p["self_efficacy_rate_per_week"],
            decay,
            b["self_efficacy"],
        )
        self.trust = move(self.trust, trust_dose, p["trust_rate_per_week"], decay, b["trust"])
        hope = move(self.hope, hope_dose, p["hope_rate_per_week"], decay, b["hope"])
        self.hope = clip01(hope + sd * noise.standard_normal())
        self.self_stigma = move(
            self.self_stigma,
            stigma_dose,
            p["stigma_reduction_rate_per_week"],
            decay,
            clip01(self.self_stigma_baseline + shift["self_stigma"]),
        )
        empowerment = move(
            self.empowerment,
            empowerment_dose,
            p["empowerment_rate_per_week"],
            decay,
            b["empowerment"],
        )
        self.empowerment = clip01(empowerment + sd * noise.standard_normal())
        roles = self.employed + p["participation_meaning_weight"] * any(self.enrolled)
        self.meaning = move(self.meaning, roles, p["meaning_rate_per_week"], decay, b["meaning"])

    def _consolidated(self, set_point: float, level: float, entry: float) -> float:
        """A set-point drawn toward the sustained level and, slowly, back to entry (§7.6)."""
        p = self.model.p
        return (
            set_point
            + p["consolidation_rate_per_week"] * (level - set_point)
            + p["set_point_return_rate_per_week"] * (entry - set_point)
        )

    def _consolidate_processes(self) -> None:
        """Every process's set-point and self-stigma's, after this week's moves."""
        shift = self._usual_care_shift()  # the team's support is not the person's own gain
        for name in PROCESS_NAMES:
            b = self.baseline[name]
            held = clip01(b + shift[name]) - b
            self.baseline[name] = self._consolidated(
                b, clip01(getattr(self, name) - held), self.entry[name]
            )
        b = self.self_stigma_baseline
        held = clip01(b + shift["self_stigma"]) - b
        self.self_stigma_baseline = self._consolidated(
            b, clip01(self.self_stigma - held), self.self_stigma_entry
        )

    def _job_finding_probability(self) -> float:
        """Weekly chance of starting a job (ODD §7.7); zero during relapse."""
        if self.in_relapse:
            return 0.0
        p, site = self.model.p, self.site
        weights = [p[name] for name in READINESS_WEIGHTS]
        parts = (
            self.self_efficacy,
            self.motivation,
            1.0 - self.severity,
            1.0 - self.self_stigma,
        )
        readiness = sum(w * x for w, x in zip(weights, parts, strict=True)) / sum(weights)
        points = 100.0 * (site["unemployment_rate"] - p["reference_unemployment_rate"])
        conversion = math.exp(-p["unemployment_conversion_per_point"] * points)
        shift = (
            -math.log(p["job_entry_odds_ratio_per_point"]) * points
            - p["stigma_job_penalty"] * (site["public_stigma"] - p["reference_public_stigma"])
            + conversion
            * (
                p["readiness_job_gradient"] * (readiness - p["reference_work_readiness"])
                + math.log(p["ips_job_finding_multiplier"]) * self._fidelity_if(IPS)
            )
            + math.log(p["work_history_job_multiplier"]) * self.work_history
        )
        return shifted_probability(p["job_finding_probability_per_week"], shift)

    def _loss_probability(
        self, base: str, protection: str, protected: float, kept: int, halving: str
    ) -> float:
        """Loss of a job or home: protected by fidelity-weighted support and by tenure."""
        p = self.model.p
        relapse = p["relapse_loss_multiplier"] if self.in_relapse else 1.0
        chance = p[base] * (1.0 - p[protection] * protected) * relapse / (1.0 + kept / p[halving])
        return min(1.0, chance)

    def _work(self) -> tuple[bool, bool]:
        """Job start or job loss from one uniform (ODD §7.7)."""
        u = self.model.rng_for["employment"].random()
        start = lose = False
        if self.employed:
            lose = u < self._loss_probability(
                "job_loss_probability_per_week",
                "ips_job_retention",
                self._fidelity_if(IPS),
                self.weeks_employed,
                "job_tenure_halving_weeks",
            )
        else:
            start = u < self._job_finding_probability()
        self.employed = (self.employed or start) and not lose
        self.ever_employed = self.ever_employed or start
        self.weeks_employed += self.employed
        return start, lose

    def _housing(self) -> None:
        """Housing gain or loss from one uniform (ODD §7.8)."""
        p, hf = self.model.p, self._fidelity_if(HOUSING_FIRST)
        u = self.model.rng_for["housing"].random()
        if self.housed:
            self.housed = not u < self._loss_probability(
                "housing_loss_probability_per_week",
                "housing_first_retention",
                hf,
                self.weeks_housed,
                "tenancy_halving_weeks",
            )
        else:
            availability = self.site["housing_availability"] / p["reference_housing_availability"]
            shift = (
                p["housing_availability_elasticity"] * math.log(availability)
                + math.log(p["housing_first_multiplier"]) * hf
            )
            self.housed = u < shifted_probability(p["housing_gain_probability_per_week"], shift)
        self.weeks_housed += self.housed

    def _relapse_decision(self) -> tuple[bool, bool]:
        """Relapse onset or resolution, and hospital use, from one uniform (ODD §7.9)."""
        p = self.model.p
        u = self.model.rng_for["relapse"].random()
        onset = resolve = False
        if self.in_relapse:
            resolve = u < p["relapse_recovery_probability_per_week"]
            hazard = 1.0
        else:
            severity_factor = 1.0 + p["relapse_severity_slope"] * (
                self.severity - p["relapse_reference_severity"]
            )
            protection = math.exp(
                -p["relapse_knowledge_protection"] * self.knowledge_gain
                - p["trust_relapse_protection"] * (self.trust - p["reference_trust"])
                # homelessness at the start of the week (before this week's housing change)
                + math.log(p["unhoused_relapse_multiplier"]) * (not self.housed_at_start)
            )
            hazard = p["relapse_probability_per_week"] * severity_factor * protection
            onset = u < hazard
        if self.in_hospital and (resolve or u >= 1.0 - p["discharge_probability_per_week"]):
            self.in_hospital = False
        if onset:
            v = u / hazard  # uniform on [0, 1) given the onset
            has_plan = self.enrolled[CRISIS_PLANNING] or self.completed[CRISIS_PLANNING]
            plan = self.team.fidelity if has_plan else 0.0
            compulsory = p["compulsory_admission_share"] * (
                1.0 - (1.0 - p["crisis_plan_compulsory_rr"]) * plan
            )
            admit = p["admission_probability_per_relapse"]
            if v < admit:
                self.in_hospital = True
                self.admissions += 1
                self.compulsory_admissions += v < admit * compulsory
        self.bed_weeks += self.in_hospital
        return onset, resolve

    def _feedback(self, start: bool, lose: bool, onset: bool) -> None:
        """Success, job loss and relapse on hope, self-efficacy and motivation (§7.10);
        then motivation's set-point consolidates."""
        p = self.model.p
        boost = p["success_boost"] * start
        setback = p["job_loss_setback"] * lose
        relapse = p["relapse_setback"] * onset
        self.hope = (self.hope + boost * (1.0 - self.hope)) * (1.0 - relapse) * (1.0 - setback)
        self.self_efficacy = (self.self_efficacy + boost * (1.0 - self.self_efficacy)) * (
            1.0 - relapse
        )
        m = (self.motivation + boost * (1.0 - self.motivation)) * (1.0 - setback) * (1.0 - relapse)
        set_point = self.motivation_baseline + p["hope_motivation_gain"] * (
            self.hope - self.baseline["hope"]
        )
        m += p["motivation_rate_per_week"] * (set_point - m)
        m += p["process_noise_sd"] * self.model.rng_for["noise"].standard_normal()
        self.motivation = clip01(m)
        self.motivation_baseline = self._consolidated(
            self.motivation_baseline, self.motivation, self.motivation_entry
        )

    def _settle(self, onset: bool, resolve: bool) -> None:
        """Relapse status, then severity and functioning (§7.9, §7.11)."""
        p = self.model.p
        self.in_relapse = (self.in_relapse or onset) and not resolve
        self.relapses += onset
        target = self.severity_baseline + p["relapse_severity_rise"] * self.in_relapse
        self.severity = clip01(
            self.severity + p["severity_rate_per_week"] * (target - self.severity)
        )
        self.functioning += p["functioning_rate_per_week"] * (
            self.functioning_target() - self.functioning
        )

    def _disengage_and_complete(self) -> None:
        """Dropout of earlier participants, mostly early, then completion (§7.12)."""
        p, rng = self.model.p, self.model.rng_for["engagement"]
        for k in range(K):
            if not self.enrolled[k]:
                continue
            chance = (
                p["dropout_probability_per_week"]
                * (1.0 - self.engagement)
                / (1.0 + self.weeks_in[k] / p["dropout_halving_weeks"])
            )
            if self.was_enrolled[k] and rng.random() < chance:
                self.enrolled[k], self.dropped[k] = False, True
                continue
            self.weeks_in[k] += 1
            if self.weeks_in[k] >= self.model.durations[k]:
                self.enrolled[k], self.completed[k] = False, True

    # ---- network ---------------------------------------------------------------------------
    def tie_to(self, other: ServiceUser) -> None:
        """Add an undirected tie (self-ties are ignored; sets drop duplicates)."""
        if other is not self:
            self.ties.add(other.unique_id)
            other.ties.add(self.unique_id)

    def _tie_within(self, group: list[ServiceUser], probability: float) -> None:
        """With ``probability``, tie to a co-member drawn uniformly from ``group``."""
        rng = self.model.rng_for["network"]
        if len(group) < 2 or rng.random() >= probability:
            return
        partner = group[int(rng.integers(len(group) - 1))]
        self.tie_to(group[-1] if partner is self else partner)  # uniform over the others

    def make_ties(self) -> None:
        """Ties in this week's group interventions, then in the community (ODD §7.13)."""
        p = self.model.p
        for k in GROUPS:
            if self.enrolled[k]:
                self._tie_within(self.team.groups[k], p["tie_formation_probability_per_week"])
        community = p["tie_decay_probability_per_week"] * p["initial_ties_mean"] / 2.0
        self._tie_within(self.model.site_members[self.team.site], community)

    def let_ties_lapse(self) -> None:
        """Each tie this user owns (to a higher id) lapses with the weekly decay chance."""
        rng, users = self.model.rng_for["network"], self.model.user_by_id
        probability = self.model.p["tie_decay_probability_per_week"]
        for other in sorted(j for j in self.ties if j > self.unique_id):
            if rng.random() < probability:
                self.ties.discard(other)
                users[other].ties.discard(self.unique_id)


class ReferenceModel(mesa.Model):
    """The model as plain Mesa: per-agent state, per-agent steps, a DataCollector.

    Args:
        world: Sites, teams and offers (default: ``make_world(n_agents)``).
        n_agents: Number of users when no world is given.
        params: Registry overrides (validated by :func:`sim.core.parameters.validate`).
        seed: The one seed; named generators and Mesa's shuffling derive from it.
    """

    def __init__(
        self,
        world: World | None = None,
        *,
        n_agents: int = 100,
        params: Mapping[str, float] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        self.world = world if world is not None else make_world(n_agents)
        self.p = validate(params or {})
        self.week = 0
        self.rng_for = {
            name: np.random.default_rng(
                np.random.SeedSequence(seed, spawn_key=(REFERENCE_KEY, stream_key(name)))
            )
            for name in STREAMS
        }
        self.sites = [
            {
                key: self.p[key] if getattr(s, key) is None else float(getattr(s, key))
                for key in ENVIRONMENT_KEYS
            }
            for s in self.world.sites
        ]
        self.durations = [self.p[f"{name}_weeks"] for name in USER_INTERVENTIONS]
        self.teams = [Team(self, t) for t in range(len(self.world.teams))]
        for i, team_index in enumerate(self.world.team_of_agent):
            ServiceUser(self, self.teams[int(team_index)], self.world.offered[i].tolist())
        self.users = self.agents_by_type[ServiceUser]
        self.user_by_id = {user.unique_id: user for user in self.users}
        self.site_members = [
            [u for u in self.users if u.team.site == s] for s in range(len(self.sites))
        ]
        self._initial_network()
        for user in self.users:
            user.connectedness = user.connectedness_target()
            user.functioning = user.functioning_target()
        self.datacollector = mesa.DataCollector(model_reporters=OUTCOME_REPORTERS)
        self.datacollector.collect(self)

    def _initial_network(self) -> None:
        """Each user proposes min(Poisson(mean / 2), cap) ties within its site (ODD §5)."""
        rng, cap = self.rng_for["population"], int(self.p["initial_ties_cap"])
        for user in self.users:
            site = self.site_members[user.team.site]
            stubs = min(int(rng.poisson(self.p["initial_ties_mean"] / 2.0)), cap)
            for _ in range(stubs):
                user.tie_to(site[int(rng.integers(len(site)))])

    def step(self) -> None:
        """One week, in the order of docs/ODD.md §3."""
        teams = self.agents_by_type[Team]
        teams.do("step")  # staff training
        self.users.shuffle_do("seek_services")  # engagement and uptake
        teams.do("admit")
        self.users.do("note_stage")  # stages at the start of the week, for role modelling
        self.users.shuffle_do("step")  # doses ... dropout and completion
        teams.do("gather_groups")
        self.users.shuffle_do("make_ties")
        self.users.shuffle_do("let_ties_lapse")
        self.week += 1
        self.datacollector.collect(self)

    def run(self, weeks: int) -> dict[str, float]:
        """Run ``weeks`` weeks and return the outcomes at the horizon."""
        for _ in range(weeks):
            self.step()
        return self.outcomes()

    def outcomes(self) -> dict[str, float]:
        """The last collected value of every reporter."""
        frame = self.datacollector.get_model_vars_dataframe()
        return {name: float(frame[name].iloc[-1]) for name in OUTCOME_REPORTERS}

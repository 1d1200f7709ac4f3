"""The logic model of Winsper et al. (2020) as data.

Winsper C, Crawford-Docherty A, Weich S, Fenton S-J, Singh SP. How do
recovery-oriented interventions contribute to personal mental health recovery?
A systematic review and logic model. Clin Psychol Rev 2020;76:101815.
doi:10.1016/j.cpr.2020.101815

Interventions act through four mechanisms; mechanisms drive a sequence of
processes; processes lead to functional, existential and social outcomes;
moderators at three levels change how well the mechanisms work. Everything the
dynamics need about this structure (the order of interventions and mechanisms,
each typology's mechanism profile) is read from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ADDITIONS",
    "ALTERNATIVE_LINKS",
    "INTERVENTIONS",
    "MECHANISMS",
    "MECHANISM_LINKS",
    "MODERATIONS",
    "MODERATORS",
    "OUTCOMES",
    "PROCESSES",
    "PROCESS_LINKS",
    "STAGES",
    "USER_INTERVENTIONS",
    "Intervention",
    "Link",
    "describe",
    "mechanism_profile_matrix",
]

MECHANISMS: tuple[str, ...] = (
    "information_and_skills",
    "working_alliance",
    "role_modelling",
    "increasing_choice",
)


@dataclass(frozen=True)
class Intervention:
    """One intervention typology of the review.

    Attributes:
        name: Identifier used in scenarios and parameters.
        label: Human-readable name with examples.
        profile: Weight (0-1) on each of :data:`MECHANISMS`, in that order.
        group: Whether it is delivered in groups (ties form among participants).
        acts_on: "user" for interventions received by service users, "team" for
            staff training, which changes teams' professional attitudes.
        why: One-line justification of the profile.
    """

    name: str
    label: str
    profile: tuple[float, float, float, float]
    group: bool
    acts_on: str
    why: str


# Profiles are the project's reconstruction, from the review's abstract and the
# primary studies of each typology (not coded from the review's full narrative
# synthesis): 1 = a main mechanism of the typology, 0.5 = a secondary one, 0 = not
# described (assumption: the review names the mechanisms but gives no numeric weights).
INTERVENTIONS: tuple[Intervention, ...] = (
    Intervention(
        "peer_support",
        "Peer support (peer workers, mutual-help groups)",
        (0.5, 0.5, 1.0, 0.5),
        group=True,
        acts_on="user",
        why="peers model recovery by lived experience; shared experience builds alliance",
    ),
    Intervention(
        "self_management",
        "Illness self-management and psychoeducation (IMR, WRAP)",
        (1.0, 0.5, 0.5, 0.5),
        group=True,
        acts_on="user",
        why="teaches knowledge and coping skills; WRAP is peer-led (role modelling)",
    ),
    Intervention(
        "recovery_education",
        "Recovery education (recovery colleges)",
        (1.0, 0.0, 1.0, 1.0),
        group=True,
        acts_on="user",
        why="co-produced courses: skills, peer trainers as models, students choose courses",
    ),
    Intervention(
        "supported_employment",
        "Supported employment (Individual Placement and Support)",
        (0.5, 1.0, 0.0, 1.0),
        group=False,
        acts_on="user",
        why="employment specialist alliance; job search follows the person's preferences",
    ),
    Intervention(
        "supported_housing",
        "Supported housing (Housing First)",
        (0.0, 1.0, 0.0, 1.0),
        group=False,
        acts_on="user",
        why="consumer choice of housing and an unconditional support relationship",
    ),
    Intervention(
        "shared_decision_making",
        "Shared decision-making and crisis / advance planning",
        (0.5, 1.0, 0.0, 1.0),
        group=False,
        acts_on="user",
        why="information on options and a collaborative decision increase choice",
    ),
    Intervention(
        "case_management",
        "Recovery-oriented case management (strengths model)",
        (0.5, 1.0, 0.0, 0.5),
        group=False,
        acts_on="user",
        why="a strengths-based working relationship; goals set by the person",
    ),
    Intervention(
        "staff_training",
        "Staff training in recovery-oriented practice (REFOCUS)",
        (0.0, 0.0, 0.0, 0.0),
        group=False,
        acts_on="team",
        why="acts on teams' professional attitudes, which moderate alliance and choice",
    ),
)

USER_INTERVENTIONS: tuple[str, ...] = tuple(i.name for i in INTERVENTIONS if i.acts_on == "user")

PROCESSES: dict[str, str] = {
    "knowledge": "knowledge and skills (information -> knowledge)",
    "self_efficacy": "self-efficacy (knowledge -> confidence to act)",
    "trust": "trust / working alliance (alliance -> trust -> engagement)",
    "hope": "hope (role modelling -> hope)",
    "self_stigma": "self-stigma (role modelling -> less self-stigma)",
    "empowerment": "empowerment: sense of choice and agency (choice -> empowerment)",
    "meaning": "meaning and purpose from valued roles",
}

OUTCOMES: dict[str, tuple[str, ...]] = {
    "functional": ("employed", "housed", "functioning"),
    "existential": ("personal_recovery", "hope", "empowerment"),
    "social": ("social_inclusion", "connectedness", "ties"),
}


@dataclass(frozen=True)
class Link:
    """One declared arrow of the logic model.

    Attributes:
        source: A mechanism, process or outcome name.
        target: The process or outcome it moves.
        sign: +1 raises the target, -1 lowers it.
        why: One-line justification.
        provenance: "review" (named in Winsper et al. 2020's abstract), "primary:
            <citation>" (a primary study), or "assumption: <reason>" (the project's).
    """

    source: str
    target: str
    sign: int
    why: str
    provenance: str


# Mechanism -> process: the rules move each process by the sum over mechanisms of
# (link weight x mechanism dose x sign); each weight is the registry parameter
# ``<mechanism>_to_<process>_weight`` (sim.core.kernels.link_weights).
MECHANISM_LINKS: tuple[Link, ...] = (
    Link(
        "information_and_skills",
        "knowledge",
        +1,
        "information and skills training raises knowledge and coping skills",
        "review",
    ),
    Link(
        "working_alliance",
        "trust",
        +1,
        "a working alliance builds trust in services and workers",
        "review",
    ),
    Link(
        "working_alliance",
        "hope",
        +1,
        "a worker who believes in the person's recovery instils hope",
        "assumption: the review lists hope among the processes; the alliance -> hope "
        "arrow is ours (hope-inspiring relationships, Leamy et al. 2011)",
    ),
    Link(
        "role_modelling",
        "hope",
        +1,
        "seeing others recover makes recovery seem possible",
        "review",
    ),
    Link(
        "role_modelling",
        "self_stigma",
        -1,
        "peers who recovered counter internalised stereotypes",
        "review",
    ),
    Link(
        "increasing_choice",
        "empowerment",
        +1,
        "choice over care and goals gives a sense of agency",
        "review",
    ),
)

# Alternative wirings: mechanism -> process arrows the literature leaves open. They are
# read by the processes driver like MECHANISM_LINKS, with registry weights that are 0 in
# the shipped wiring (outputs unchanged) and may be raised in a sensitivity analysis
# to ask how much an effect depends on how the logic model is wired.
ALTERNATIVE_LINKS: tuple[Link, ...] = (
    Link(
        "role_modelling",
        "empowerment",
        +1,
        "peers who have recovered model agency and speaking up for oneself",
        "alternative: peer support raises empowerment (Lloyd-Evans et al. 2014, SMD 0.25) "
        "while the review attributes empowerment to increasing choice; whether peers act "
        "through role modelling or through choice is not settled",
    ),
    Link(
        "working_alliance",
        "empowerment",
        +1,
        "a collaborative relationship shares power with the person",
        "alternative: shared decision-making raises empowerment (Stovell et al. 2016) and "
        "works through the alliance and choice together; the review names choice alone",
    ),
)

# Process (or outcome) -> process or outcome: stated in the rules (sim.core.rules),
# declared here so that tests/test_mechanism_reach.py can check the realised effects.
PROCESS_LINKS: tuple[Link, ...] = (
    Link("knowledge", "self_efficacy", +1, "new skills raise confidence to act", "review"),
    Link(
        "knowledge",
        "relapse",
        -1,
        "self-management skills lower relapse",
        "primary: Cook et al. 2012, Schizophr Bull 38:881-91 (WRAP)",
    ),
    Link(
        "trust",
        "engagement",
        +1,
        "trust keeps people engaged (fewer dropouts, larger doses)",
        "review",
    ),
    Link(
        "trust",
        "relapse",
        -1,
        "a good alliance goes with adherence and fewer crises",
        "assumption: alliance-adherence association in primary studies; no pooled figure",
    ),
    Link("hope", "motivation", +1, "hope feeds motivation", "review"),
    Link(
        "self_efficacy",
        "employed",
        +1,
        "confidence raises work readiness",
        "assumption: readiness components from the IPS literature",
    ),
    Link("motivation", "employed", +1, "motivation raises work readiness", "assumption"),
    Link(
        "self_stigma",
        "employed",
        -1,
        "the 'why try' effect: self-stigma lowers job seeking",
        "primary: Corrigan et al. 2009, World Psychiatry 8:75-81",
    ),
    Link("employed", "meaning", +1, "work is a valued role", "review"),
    Link("employed", "hope", +1, "a job start is a success that lifts hope", "assumption"),
    Link(
        "employed",
        "connectedness",
        +1,
        "work is social participation",
        "assumption: after the SIX index (Priebe et al. 2008)",
    ),
    Link(
        "housed",
        "connectedness",
        +1,
        "a home of one's own is a base for community life",
        "assumption: after the SIX index (Priebe et al. 2008)",
    ),
    Link(
        "housed",
        "relapse",
        -1,
        "homelessness raises the risk of crises",
        "assumption: no pooled figure used",
    ),
    Link(
        "self_stigma",
        "connectedness",
        -1,
        "self-stigma withdraws people from others",
        "primary: Corrigan et al. 2009, World Psychiatry 8:75-81",
    ),
    Link("ties", "connectedness", +1, "ties to others are felt as belonging", "review"),
    Link(
        "relapse",
        "hope",
        -1,
        "a relapse is a setback for hope and confidence",
        "assumption",
    ),
    Link("relapse", "self_efficacy", -1, "a relapse dents confidence", "assumption"),
    Link("relapse", "motivation", -1, "a relapse dents motivation", "assumption"),
    Link("relapse", "employed", -1, "crises cost jobs", "assumption"),
    Link("relapse", "housed", -1, "crises cost tenancies", "assumption"),
    Link(
        "relapse",
        "hospital",
        +1,
        "some relapses are treated in hospital, voluntarily or compulsorily",
        "assumption; crisis plans lower compulsion (Stovell et al. 2016)",
    ),
    Link("relapse", "functioning", -1, "symptoms rise during a relapse", "assumption"),
    Link("employed", "self_efficacy", +1, "a job start is a success", "assumption"),
    Link("employed", "motivation", +1, "a job start lifts motivation", "assumption"),
    Link("hope", "employed", +1, "hope feeds motivation and so work readiness", "assumption"),
    Link(
        "personal_recovery",
        "role_modelling",
        +1,
        "users further on in recovery model it for their ties (the peer signal)",
        "assumption: an addition (see ADDITIONS)",
    ),
    Link(
        "connectedness",
        "personal_recovery",
        +1,
        "CHIME: connectedness",
        "primary: Leamy et al. 2011",
    ),
    Link("hope", "personal_recovery", +1, "CHIME: hope", "primary: Leamy et al. 2011"),
    Link(
        "self_stigma",
        "personal_recovery",
        -1,
        "CHIME: identity (1 - self-stigma)",
        "primary: Leamy et al. 2011",
    ),
    Link("meaning", "personal_recovery", +1, "CHIME: meaning", "primary: Leamy et al. 2011"),
    Link(
        "empowerment",
        "personal_recovery",
        +1,
        "CHIME: empowerment",
        "primary: Leamy et al. 2011",
    ),
    Link(
        "employed",
        "social_inclusion",
        +1,
        "SIX item: employment",
        "primary: Priebe et al. 2008, Acta Psychiatr Scand 118:57-63",
    ),
    Link(
        "housed",
        "social_inclusion",
        +1,
        "SIX item: living situation",
        "primary: Priebe et al. 2008",
    ),
    Link("ties", "social_inclusion", +1, "SIX item: friendship", "primary: Priebe et al. 2008"),
    Link(
        "housed",
        "functioning",
        +1,
        "functioning set-point: housing",
        "assumption",
    ),
    Link("employed", "functioning", +1, "functioning set-point: work", "assumption"),
    Link(
        "self_efficacy",
        "functioning",
        +1,
        "functioning set-point: self-efficacy",
        "assumption",
    ),
)

# Moderator -> the mechanism (or conversion) whose strength it scales: effect
# modification, the review's "especially when delivered within pro-recovery and
# non-stigmatising contexts". Each with the registry parameter that sets its strength.
MODERATIONS: tuple[tuple[str, str, str], ...] = (
    ("motivation", "information_and_skills", "engagement: motivation x trust"),
    ("motivation", "role_modelling", "engagement: motivation x trust"),
    ("professional_attitudes", "working_alliance", "attitude_dose_slope"),
    ("professional_attitudes", "increasing_choice", "attitude_dose_slope"),
    ("public_stigma", "role_modelling", "role_modelling_stigma_modification"),
    ("public_stigma", "social_participation", "social_participation_stigma_modification"),
    ("public_stigma", "job_finding", "stigma_job_penalty (a level effect on the odds)"),
    ("unemployment_rate", "job_finding", "unemployment_conversion_per_point"),
    ("fidelity", "every intervention", "doses, IPS and Housing First x fidelity"),
)

# What the model adds beyond the logic model, each with its reason (docs/ODD.md §8).
ADDITIONS: dict[str, str] = {
    "usual_care_dose": "usual care shifts the level trust, hope and empowerment relax to, by "
    "a weak alliance and choice dose whose sign follows team attitudes (custodial teams "
    "lower them): a level effect of the service context, so that context matters without "
    "any intervention; set-points consolidate the level net of it",
    "participation_meaning": "taking part in an intervention is a valued role that adds to "
    "meaning (participation_meaning_weight), smaller than work",
    "peer_signal": "ties in an advanced stage model recovery (positive), ties in early stages "
    "the opposite (negative), relative to peer_signal_neutral_share",
    "stigma_internalisation": "public stigma pulls entry self-stigma toward it "
    "(Corrigan's progressive model of self-stigma): a level effect",
    "consolidation": "set-points of processes and motivation move slowly toward sustained "
    "levels, so gains outlast an episode and setbacks erode them",
    "tenure": "accumulated work and tenancy lower the chance of losing a job or a home; "
    "work makes a work history",
    "feedback": "job starts lift hope and self-efficacy; relapse and job loss cut them",
}

MODERATORS: dict[str, tuple[str, ...]] = {
    "user": ("motivation", "symptom_severity", "self_stigma", "work_history"),
    "service": ("professional_attitudes", "fidelity", "capacity", "staff_training"),
    "environment": ("unemployment_rate", "public_stigma", "housing_availability"),
}

# Andresen, Oades & Caputi (2003) stages, mapped onto equal bands of the
# personal-recovery score (0-60; assumption: no published mapping exists).
STAGES: tuple[str, ...] = ("moratorium", "awareness", "preparation", "rebuilding", "growth")


def intervention(name: str) -> Intervention:
    """Return the intervention typology called ``name``."""
    for item in INTERVENTIONS:
        if item.name == name:
            return item
    valid = ", ".join(i.name for i in INTERVENTIONS)
    raise KeyError(f"unknown intervention {name!r}; valid: {valid}")


def mechanism_profile_matrix() -> np.ndarray:
    """Matrix (user interventions x mechanisms) of mechanism weights."""
    return np.array([intervention(n).profile for n in USER_INTERVENTIONS], dtype=np.float64)


def describe() -> str:
    """A plain-text rendering of the logic model, for printing."""
    lines = ["Recovery Pathways logic model (after Winsper et al. 2020)", ""]
    lines.append("Interventions -> mechanism profile (" + ", ".join(MECHANISMS) + ")")
    for item in INTERVENTIONS:
        profile = " ".join(f"{w:.1f}" for w in item.profile)
        target = "teams" if item.acts_on == "team" else ("group" if item.group else "individual")
        lines.append(f"  {item.name:<24} [{profile}]  ({target}) {item.why}")
    lines += ["", "Mechanisms -> processes"]
    lines += [f"  {name:<14} {text}" for name, text in PROCESSES.items()]
    lines += ["", "Outcomes by domain"]
    lines += [f"  {domain:<12} {', '.join(items)}" for domain, items in OUTCOMES.items()]
    lines += ["", "Moderators by level"]
    lines += [f"  {level:<12} {', '.join(items)}" for level, items in MODERATORS.items()]
    lines += ["", "Recovery stages (Andresen et al. 2003): " + " -> ".join(STAGES)]
    return "\n".join(lines)

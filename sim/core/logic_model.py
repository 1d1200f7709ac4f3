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
    "INTERVENTIONS",
    "MECHANISMS",
    "MODERATORS",
    "OUTCOMES",
    "PROCESSES",
    "STAGES",
    "USER_INTERVENTIONS",
    "Intervention",
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


# Profiles are coded by us from the review's narrative synthesis: 1 = a main
# mechanism of the typology, 0.5 = a secondary one, 0 = not described
# (assumption: the review reports which mechanisms each typology engages but no
# numeric weights).
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
    "social": ("connectedness", "ties"),
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

"""Fixed properties of the published scales the model reports on (not parameters).

These numbers belong to the instruments and frameworks, not to the model's
assumptions, so they are named constants here rather than registry parameters
(every tunable number is in :mod:`sim.core.registry_data`).

- **QPR-15**, the 15-item Questionnaire about the Process of Recovery (Neil et al.
  2009, Behav Cogn Psychother 37:145-55; 15-item one-factor version: Law, Neil, Dunn &
  Morrison 2014, Schizophr Res 156:184-9; independent evaluation: Williams et al.
  2015, Br J Psychiatry 207:551-5). Each item is rated 0-4, so a total lies in 0-60.
- **CHIME**, the five processes of personal recovery (Leamy et al. 2011, Br J
  Psychiatry 199:445-52): connectedness, hope, identity, meaning, empowerment. The
  model scores each 0-1 and spreads the QPR range over them in equal parts, so one
  process is worth ``QPR_MAX / CHIME_PROCESSES`` = 12 points.
- **Recovery stages** (Andresen, Oades & Caputi 2003, Aust N Z J Psychiatry
  37:586-94): moratorium, awareness, preparation, rebuilding, growth
  (:data:`sim.core.logic_model.STAGES`). The model maps them onto equal bands of the
  QPR range (assumption: no published mapping exists), 12 points each.

The derived constants are written so that the code that uses them keeps today's
floating-point operations: ``QPR_PER_PROCESS * (chime sum)`` (12.0, as
``QPR_MAX / 5.0``) and ``qpr * STAGES_PER_POINT`` (the double nearest 5/60, as
``5.0 / 60.0``), with the stage index capped at :data:`LAST_STAGE`.
"""

from __future__ import annotations

__all__ = [
    "CHIME_PROCESSES",
    "LAST_STAGE",
    "N_STAGES",
    "QPR_ITEMS",
    "QPR_ITEM_MAX",
    "QPR_MAX",
    "QPR_PER_PROCESS",
    "STAGES_PER_POINT",
]

QPR_ITEMS = 15  # items of the QPR-15
QPR_ITEM_MAX = 4  # each item is rated 0 (disagree strongly) to 4 (agree strongly)
QPR_MAX = float(QPR_ITEMS * QPR_ITEM_MAX)  # 60.0: top of the QPR-15 total
CHIME_PROCESSES = 5  # connectedness, hope, identity, meaning, empowerment
QPR_PER_PROCESS = QPR_MAX / CHIME_PROCESSES  # 12.0 points per CHIME process (exact)
N_STAGES = 5  # Andresen stages: moratorium, awareness, preparation, rebuilding, growth
LAST_STAGE = N_STAGES - 1  # 4: growth, the cap of the stage index
STAGES_PER_POINT = N_STAGES / QPR_MAX  # 5 / 60: stage bands per QPR point (12 points a band)

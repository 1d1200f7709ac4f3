"""False alarms and power of the reduced oracle comparison, over fresh seed sets.

The default test selection runs the reduced comparison of
``tests/test_reference_oracle.py`` on one fixed seed set. This script re-runs it on
``--sets`` other seed sets (core and reference seeds both new) and counts, per
reference:

* ``correct`` -- the reference as it is: every rejection is a false alarm (the
  family-wise rate is designed to be ``REDUCED_FAMILY_ALPHA`` = 0.1%);
* ``<parameter> x 2`` -- the reference with that one rate doubled: every rejection
  is a detection. ``welch`` counts rejections by the Bonferroni-corrected Welch
  tests alone, ``any`` also those by the effect-size tolerance.

Each set costs 16 reference runs per reference (about 0.8 s each in v2) and one core
batch. Usage, from the repository root::

    python tests/oracle/power.py --sets 5
    python tests/oracle/power.py --sets 10 --rates hope_rate_per_week
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import test_reference_oracle as oracle

RATES = (
    "hope_rate_per_week",
    "job_finding_probability_per_week",
    "housing_gain_probability_per_week",
    "knowledge_learning_rate_per_week",
    "trust_rate_per_week",
    "empowerment_rate_per_week",
    "meaning_rate_per_week",
    "stigma_reduction_rate_per_week",
    "uptake_probability_per_week",
    "tie_formation_probability_per_week",
    "process_decay_rate_per_week",
    "self_efficacy_rate_per_week",
    "job_loss_probability_per_week",
    "dropout_probability_per_week",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=5, help="seed sets per reference")
    parser.add_argument("--first", type=int, default=1, help="index of the first seed set")
    parser.add_argument("--rates", nargs="*", default=RATES, help="parameters to double")
    parser.add_argument("--no-correct", action="store_true", help="skip the correct reference")
    args = parser.parse_args(argv)
    alpha = oracle.REDUCED_FAMILY_ALPHA / oracle._n_reduced_tests()
    labels = ([] if args.no_correct else ["correct"]) + [f"{r} x 2" for r in args.rates]
    counts = {label: {"welch": 0, "any": 0, "worst": []} for label in labels}
    start = time.perf_counter()
    for k in range(args.first, args.first + args.sets):
        core_seed = oracle.REDUCED_CORE_SEED + 1000 * k
        reference_seed = oracle.REDUCED_REFERENCE_SEED + 10_000 * k
        core = None
        for label in labels:
            change = None if label == "correct" else oracle.doubled(label.removesuffix(" x 2"))
            rows, core = oracle.reduced_comparison(
                change, core_seed=core_seed, reference_seed=reference_seed, core=core
            )
            worst = min(rows, key=lambda r: r["p"])
            c = counts[label]
            c["welch"] += any(r["p"] < alpha for r in rows)
            c["any"] += not all(r["ok"] for r in rows)
            family_p = min(1.0, worst["p"] * oracle._n_reduced_tests())  # Bonferroni-adjusted
            c["worst"].append(
                f"{worst['statistic']}/{worst['outcome']} t={worst['t']:+.1f} p_fam={family_p:.1e}"
            )
        print(f"seed set {k} done ({time.perf_counter() - start:.0f} s)", flush=True)
    print(
        f"\nreduced comparison: {oracle.REDUCED_REFERENCE} reference vs {oracle.REDUCED_CORE} "
        f"core runs, {oracle._n_reduced_tests()} tests, per-test alpha {alpha:.2e}"
    )
    print(
        f"{'reference':44} {'welch':>7} {'any':>7}  "
        "most extreme statistic per set (p_fam: its p x the number of tests)"
    )
    for label, c in counts.items():
        print(
            f"{label:44} {c['welch']:>3}/{args.sets:<3} {c['any']:>3}/{args.sets:<3}  "
            + "; ".join(c["worst"])
        )


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Regenerate everything shipped that depends on the registry defaults, after a fit.
#
#   recovery-sim calibrate calibration/fit.toml --force --workers 2 --out calibration/fit_report
#   bash calibration/regenerate.sh [DATE]
#
# In order: the fitted parameters' defaults become the posterior's weighted medians
# (calibration/set_defaults.py; DATE goes into their source, default today UTC), then
# docs/PARAMETERS.md, the saved baseline (on purpose: the defaults changed), the
# external validation report, the moderators figure, the shipped sensitivity results
# and the scenario discoveries read from them, and the policy brief. About 20 minutes on
# 2 cores (sa_sobol_leaders alone takes 8.5). The lesson numbers in
# docs/LESSONS.md (checked by tests/test_app_browser.py) are re-measured by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
python calibration/set_defaults.py "$@"
python -m sim.faces.reports.docs_gen
python -m sim.faces.reports.formats_gen
python tests/baseline/generate.py
recovery-sim validate-evidence --out calibration/validation_report --force
out=$(mktemp -d)
recovery-sim moderators --out "$out/moderators"
cp "$out/moderators/moderators.png" docs/figures/moderators.png
rm -rf "$out"
sensitivity() {  # experiment file stem, results folder name
  recovery-sim sensitivity "experiments/$1.toml" --workers 2 --out "experiments/results/$2" --force
}
sensitivity sa_sobol_levers sa_levers
sensitivity sa_sobol_by_level sa_by_level
sensitivity sa_morris_screening sa_morris
sensitivity sa_policy_effects sa_policy_effects
sensitivity sa_screening_all sa_screening_all
sensitivity sa_sobol_leaders sa_sobol_leaders
recovery-sim discover experiments/results/sa_policy_effects --outcome employed_effect_w78 \
  --threshold 0.05 --out experiments/results/discover_employment_effect --force
recovery-sim discover experiments/results/sa_screening_all --outcome nmb_20000_effect_w104 \
  --threshold 0 --threshold-density 0.5 --out experiments/results/discover_positive_nmb --force
python -m sim.faces.reports.policy_brief

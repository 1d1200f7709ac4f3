"""The tutorial notebooks in notebooks/ run from top to bottom without an error.

Each notebook is executed with nbclient in a temporary working folder (so nothing is
written into the repository), then a cell is appended that prints the notebook's
``summary`` dict as JSON, and a few of its numbers are checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

# jupyter_client / nbclient warn about their own deprecations and platform paths; those
# are not this project's warnings
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning:zmq.*"),
]


def execute(name: str, tmp_path: Path) -> dict:
    """Run ``notebooks/<name>`` in ``tmp_path`` and return its ``summary`` dict."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell("import json\nprint(json.dumps(summary, default=str))")
    )
    client = nbclient.NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on the first cell that fails
    text = "".join(
        out.get("text", "") for out in nb.cells[-1].outputs if out.output_type == "stream"
    )
    return json.loads(text)


@pytest.mark.parametrize("name", ["policy_comparison.ipynb", "sensitivity_in_plain_words.ipynb"])
def test_notebook_is_committed_clean(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: clear the outputs before committing"
            assert cell.execution_count is None


def test_policy_comparison_runs(tmp_path):
    summary = execute("policy_comparison.ipynb", tmp_path)
    assert list(tmp_path.iterdir()) == []  # the notebook writes no files
    assert summary["incremental_cost"] > 0  # IPS places cost money
    assert summary["incremental_cost_with_posterior"] > 0
    assert summary["employed_difference"] > 0  # and put more people in work
    assert summary["person_weeks_employed_per_100"] > 0
    assert summary["nmb_20000"] == pytest.approx(
        20_000 * summary["incremental_qalys"] - summary["incremental_cost"]
    )


def test_sensitivity_in_plain_words_runs(tmp_path):
    summary = execute("sensitivity_in_plain_words.ipynb", tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert set(summary) == {
        "employed_w104",
        "personal_recovery_w104",
        "early_stage_w104",
        "connectedness_w104",
        "social_inclusion_w104",
    }
    # read from the committed experiments/results/sa_levers/, not rerun
    assert summary["employed_w104"]["top_lever"] == "unemployment_rate"
    for numbers in summary.values():
        assert 0 < numbers["top_total_order"] <= 1.2
        assert 0 <= numbers["noise_share_run"] < 1

"""docs/PARAMETERS.md must be exactly what the registry generates."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.core.parameters import LEVELS, REGISTRY
from sim.faces.reports.docs_gen import main, parameters_markdown, write_parameters_markdown

DOC = Path(__file__).resolve().parent.parent / "docs" / "PARAMETERS.md"
REGENERATE = "regenerate it with `python -m sim.faces.reports.docs_gen` and commit the result"


def test_parameters_doc_matches_registry():
    if not DOC.exists():
        pytest.fail(f"{DOC} is missing; {REGENERATE}")
    if DOC.read_text(encoding="utf-8") != parameters_markdown():
        pytest.fail(f"{DOC} is out of date with the parameter registry; {REGENERATE}")


def test_markdown_lists_every_parameter_once_with_counts():
    text = parameters_markdown()
    for name in REGISTRY:
        assert text.count(f"| `{name}` |") == 1, name
    kinds = [p.source_kind for p in REGISTRY.values()]
    assert f"Parameters: **{len(REGISTRY)}**" in text
    assert f"Read from a publication: **{kinds.count('published')}**" in text
    assert f"**{kinds.count('calibrated')}**" in text
    assert f'(source starts with "assumption"): **{kinds.count("assumption")}**' in text
    for level in LEVELS:
        assert f"## {level.capitalize()} level" in text
    assert "python -m sim.faces.reports.docs_gen" in text.splitlines()[2]


def test_table_rows_have_seven_cells():
    rows = [line for line in parameters_markdown().splitlines() if line.startswith("| `")]
    assert len(rows) == len(REGISTRY)
    for row in rows:
        cells = row.replace("\\|", "").strip("|").split("|")
        assert len(cells) == 7, row


def test_write_is_atomic_and_complete(tmp_path):
    target = tmp_path / "PARAMETERS.md"
    target.write_text("stale", encoding="utf-8")
    assert write_parameters_markdown(target) == target
    assert target.read_text(encoding="utf-8") == parameters_markdown()
    assert [p.name for p in tmp_path.iterdir()] == ["PARAMETERS.md"]


def test_main_writes_to_a_given_path_and_reports_bad_folders(tmp_path, capsys):
    assert main([str(tmp_path / "P.md")]) == 0
    assert (tmp_path / "P.md").read_text(encoding="utf-8") == parameters_markdown()
    assert main([str(tmp_path / "missing" / "P.md")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot write")

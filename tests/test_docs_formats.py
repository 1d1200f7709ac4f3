"""docs/formats/*.md must be exactly what the file schemas generate, and every key described."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from sim.core.errors import UserError
from sim.core.parameters import REGISTRY
from sim.faces.reports.formats_gen import KINDS, format_pages, main, schema_models

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "formats"
REGENERATE = "regenerate with `python -m sim.faces.reports.formats_gen` and commit the result"


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return format_pages()


def test_every_page_matches_the_schemas(pages):
    stale = []
    for name, text in pages.items():
        path = DOCS / name
        if not path.exists():
            stale.append(f"{path.relative_to(ROOT)} is missing")
        elif path.read_text(encoding="utf-8") != text:
            stale.append(f"{path.relative_to(ROOT)} is out of date with its schema")
    if stale:
        pytest.fail(f"{'; '.join(stale)}; {REGENERATE}")


def test_no_page_without_a_kind(pages):
    committed = {p.name for p in DOCS.glob("*.md")}
    assert committed == set(pages), f"pages not generated: {committed - set(pages)}"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_schema_field_has_a_description(kind):
    models = schema_models(kind.model) + (schema_models(kind.context) if kind.context else [])
    missing = [
        f"{model.__module__}.{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert not missing, f"add Field(description=...) to: {', '.join(missing)}"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_key_is_on_its_page(kind, pages):
    text = pages[f"{kind.name}.md"]
    keys = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| `")]
    for model in schema_models(kind.model):
        for name, field in model.model_fields.items():
            if name not in REGISTRY:
                key = re.escape(field.alias or name)
                found = [k for k in keys if re.search(rf"[`.\[]{key}[`.\]]", k)]
                assert found, f"{model.__name__}.{name} has no row on {kind.name}.md"
    assert "## Complete example" in text and "```toml" in text


def test_a_stale_example_fails_the_generation(tmp_path):
    for kind in KINDS:
        (tmp_path / kind.example).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / kind.example, tmp_path / kind.example)
    scenario = tmp_path / "scenarios" / "baseline.toml"
    scenario.write_text(
        scenario.read_text(encoding="utf-8") + "\nhorizon_week = 52\n", encoding="utf-8"
    )
    with pytest.raises(UserError, match="horizon_week"):
        format_pages(tmp_path)


def test_main_writes_every_page_to_a_given_folder(tmp_path, capsys, pages):
    assert main([str(tmp_path / "formats")]) == 0
    for name, text in pages.items():
        assert (tmp_path / "formats" / name).read_text(encoding="utf-8") == text
    assert main(["--check"]) == 2
    assert "usage" in capsys.readouterr().err

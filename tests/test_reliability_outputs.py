"""Output safety: no command may lose a user's data (issue 15, "Data loss found").

Every case tries one way a command used to delete, overwrite or escape with
the user's files and asserts: exit code 2, exactly one ``error:`` line on
stderr naming the file or key, no traceback, nothing partial left behind and
-- the point -- every file that existed before byte-identical afterwards (the
whole folder tree is hashed before and after). A few positive controls check
that ``--force`` still replaces the tool's own output of the same kind.

Commands run in-process through click's CliRunner (cheap); only the FIFO and
concurrency cases use a real subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from sim.faces.cli.main import main
from sim.files.outputs import check_output_name, output_lock

# `recovery-sim trial` draws with boxplot(vert=...), deprecated in Matplotlib 3.11 (not
# this file's subject: output safety)
pytestmark = pytest.mark.filterwarnings("ignore:vert. bool was deprecated")
ROOT = Path(__file__).resolve().parent.parent
RUN = ("--weeks", "2", "--replicates", "1", "--set", "population.size=20")
SCENARIO = 'name = "tiny"\nhorizon_weeks = 2\nreplicates = 1\n[population]\nsize = 20\n'
EXPERIMENT = """name = "tiny-sweep"
scenario = "scenario.toml"
replicates = 1
weeks = 2
[design]
method = "latin"
points = 2
[parameters.unemployment_rate]
[outputs]
metrics = ["employed"]
weeks = [2]
"""
TRIAL = """name = "tiny-trial"
intervention = "supported_employment"
n_per_arm = 4
follow_up_weeks = 2
replicates = 1
[[metrics]]
name = "worked"
kind = "share"
outcome = "ever_employed"
"""
FIT = """name = "{name}"
seed = 1
population_size = 5
generations = 1
database = "{database}"
posterior = "{posterior}"
targets_file = "{root}/calibration/targets.toml"
predictive_draws = 10
{free}
[[targets]]
trial = "trial.toml"
metric = "worked_ips"
"""
FREE = "[free.ips_job_finding_multiplier]"


# ------------------------------------------------------------------------------ helpers


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (hidden ones too, links not followed): what it is."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            mode = path.lstat().st_mode
            key = str(path.relative_to(root))
            if stat.S_ISLNK(mode):
                found[key] = f"link:{os.readlink(path)}"
            elif stat.S_ISREG(mode):
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[key] = "dir" if stat.S_ISDIR(mode) else oct(stat.S_IFMT(mode))
    return found


def cli(*args: str | Path):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stderr


def assert_refused(code: int, stderr: str, *fragments: str) -> None:
    """Exit 2, exactly one ``error:`` line (naming the fragments), no traceback."""
    assert code == 2, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


def refused_and_untouched(tmp_path: Path, args, *fragments: str) -> None:
    """Run ``args``; it must be refused and leave the whole tree exactly as it was."""
    before = snapshot(tmp_path)
    assert_refused(*cli(*args), *fragments)
    assert snapshot(tmp_path) == before  # pre-existing files identical, nothing new


def user_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("my notes, not recovery-sim's\n", encoding="utf-8")
    (path / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    """One genuine output of each kind, made once; tests copy them."""
    import shutil

    base = tmp_path_factory.mktemp("outputs")
    (base / "scenario.toml").write_text(SCENARIO, encoding="utf-8")
    (base / "exp.toml").write_text(EXPERIMENT, encoding="utf-8")
    (base / "trial.toml").write_text(TRIAL, encoding="utf-8")
    made = {"run": base / "run", "sweep": base / "sweep", "trial": base / "trial"}
    assert cli("run", *RUN, "--out", made["run"])[0] == 0
    assert cli("sweep", base / "exp.toml", "--out", made["sweep"])[0] == 0
    assert cli("trial", base / "trial.toml", "--out", made["trial"])[0] == 0

    def copy(kind: str, to: Path) -> Path:
        shutil.copytree(made[kind], to)
        return to

    return copy  # type: ignore[return-value]


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch) -> Path:
    """A fresh working folder (the cwd) with a scenario, an experiment and a trial."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenario.toml").write_text(SCENARIO, encoding="utf-8")
    (tmp_path / "exp.toml").write_text(EXPERIMENT, encoding="utf-8")
    (tmp_path / "trial.toml").write_text(TRIAL, encoding="utf-8")
    user_folder(tmp_path / "out" / "mine")  # the user's own folder under out/
    return tmp_path


# ------------------------------------------------------- names escaping out/ (load time)

BAD_NAMES = [
    "",
    ".",
    "..",
    "/tmp/abs/path",
    "../x",
    "a/b",
    "a\\b",
    ".hidden",
    "x" * 101,
    "name with space",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_scenario_name_cannot_name_or_escape_the_output_root(inputs, name):
    path = inputs / "named.toml"
    path.write_text(f"name = {json.dumps(name)}\n", encoding="utf-8")
    refused_and_untouched(inputs, ("run", path, *RUN), "named.toml", "name", "allowed")


def test_set_name_on_the_embedded_baseline_is_checked_too(inputs):
    refused_and_untouched(inputs, ("run", *RUN, "--set", "name=."), "name = '.'")


@pytest.mark.parametrize("name", ["../x", "/tmp/abs", ""])
def test_experiment_name_cannot_escape_the_output_root(inputs, name):
    path = inputs / "exp.toml"
    path.write_text(EXPERIMENT.replace('"tiny-sweep"', json.dumps(name)), encoding="utf-8")
    refused_and_untouched(inputs, ("sweep", path), "exp.toml", "name")


def test_trial_name_cannot_escape_the_output_root(inputs):
    path = inputs / "trial.toml"
    path.write_text(TRIAL.replace('"tiny-trial"', '"../../x"'), encoding="utf-8")
    refused_and_untouched(inputs, ("trial", path), "trial.toml", "name")


def test_output_names_allowed_and_refused():
    for good in ("baseline", "ips-scale-up", "a.b_c-1", "9"):
        assert check_output_name(good) == good
    for bad in BAD_NAMES:
        with pytest.raises(ValueError, match="allowed"):
            check_output_name(bad)


# ------------------------------------------- run / compare / trial over existing folders


@pytest.mark.parametrize("force", [(), ("--force",)], ids=["plain", "force"])
def test_run_refuses_a_users_folder(inputs, force):
    refused_and_untouched(
        inputs,
        ("run", *RUN, "--out", inputs / "out" / "mine", *force),
        "out/mine",
        "not an output of recovery-sim",
    )


def test_run_refuses_the_folder_holding_its_input_scenario(inputs):
    folder = user_folder(inputs / "project")
    (folder / "scenario.toml").write_text(SCENARIO, encoding="utf-8")
    refused_and_untouched(
        inputs,
        ("run", folder / "scenario.toml", *RUN, "--out", folder, "--force"),
        "holds the input file",
        "scenario.toml",
    )


def test_run_refuses_the_input_folder_even_if_it_looks_like_a_run(inputs, outputs):
    folder = outputs("run", inputs / "old")
    _posterior(folder / "series.parquet")  # a posterior, named like a run's own file
    refused_and_untouched(
        inputs,
        ("run", *RUN, "--posterior", folder / "series.parquet", "--out", folder, "--force"),
        "holds the input file",
    )


def test_run_needs_force_to_replace_its_own_output(inputs, outputs):
    folder = outputs("run", inputs / "old")
    refused_and_untouched(inputs, ("run", *RUN, "--out", folder), "already holds", "--force")


def test_run_force_never_replaces_own_output_with_the_users_files_in_it(inputs, outputs):
    folder = outputs("run", inputs / "old")
    (folder / "notes.txt").write_text("written by hand\n", encoding="utf-8")
    refused_and_untouched(
        inputs, ("run", *RUN, "--out", folder, "--force"), "did not write", "notes.txt"
    )


def test_run_force_never_replaces_another_kind_of_output(inputs, outputs):
    folder = outputs("trial", inputs / "old")
    refused_and_untouched(
        inputs, ("run", *RUN, "--out", folder, "--force"), "trial output, not a run output"
    )


def test_run_force_replaces_its_own_output(inputs, outputs):
    folder = outputs("run", inputs / "old")
    before = json.loads((folder / "manifest.json").read_text())["created"]
    code, stderr = cli("run", *RUN, "--seed", "9", "--out", folder, "--force")
    assert code == 0, stderr
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "run" and manifest["seeds"][0]["seed"] == 9, before
    assert sorted(p.name for p in inputs.iterdir()) == [
        "exp.toml",
        "old",
        "out",
        "scenario.toml",
        "trial.toml",
    ]


def test_compare_refuses_a_users_folder_and_a_run_output(inputs, outputs):
    two = inputs / "two.toml"
    two.write_text(SCENARIO.replace('"tiny"', '"tiny2"'), encoding="utf-8")
    args = ("compare", inputs / "scenario.toml", two, *RUN, "--force", "--out")
    refused_and_untouched(inputs, (*args, inputs / "out" / "mine"), "not an output")
    refused_and_untouched(
        inputs, (*args, outputs("run", inputs / "old")), "run output, not a compare output"
    )


@pytest.mark.parametrize("force", [(), ("--force",)], ids=["plain", "force"])
def test_trial_refuses_a_users_folder(inputs, force):
    refused_and_untouched(
        inputs,
        ("trial", inputs / "trial.toml", "--out", inputs / "out" / "mine", *force),
        "not an output",
    )


def test_trial_refuses_the_folder_holding_the_trial_file(inputs):
    refused_and_untouched(
        inputs,
        ("trial", inputs / "trial.toml", "--out", inputs, "--force"),
        "holds the input file",
        "trial.toml",
    )


# ----------------------------------------------------------------------------- sweep


def test_sweep_force_refuses_a_run_output_with_notes(inputs, outputs):
    folder = outputs("run", inputs / "old")
    (folder / "notes.txt").write_text("written by hand\n", encoding="utf-8")
    refused_and_untouched(
        inputs,
        ("sweep", inputs / "exp.toml", "--out", folder, "--force"),
        "run output, not a sweep output",
    )


def test_sweep_force_refuses_a_users_folder_with_a_manifest(inputs):
    folder = user_folder(inputs / "project")
    (folder / "manifest.json").write_text('{"mine": true}\n', encoding="utf-8")
    refused_and_untouched(
        inputs,
        ("sweep", inputs / "exp.toml", "--out", folder, "--force"),
        "not an output of recovery-sim",
    )


def test_sweep_force_refuses_its_own_sweep_with_the_users_files(inputs, outputs):
    folder = outputs("sweep", inputs / "old")
    (folder / "chunks" / "keep.txt").write_text("mine\n", encoding="utf-8")
    refused_and_untouched(
        inputs, ("sweep", inputs / "exp.toml", "--out", folder, "--force"), "chunks/keep.txt"
    )


def test_sweep_force_replaces_its_own_sweep(inputs, outputs):
    folder = outputs("sweep", inputs / "old")
    code, stderr = cli("sweep", inputs / "exp.toml", "--out", folder, "--force")
    assert code == 0, stderr
    assert json.loads((folder / "manifest.json").read_text())["status"] == "complete"
    assert not [p for p in inputs.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------ --out that is not a folder


def _special(kind: str, tmp_path: Path) -> Path:
    user = user_folder(tmp_path / "target")
    path = tmp_path / "dest"
    if kind == "symlink":
        path.symlink_to(user, target_is_directory=True)
    elif kind == "file":
        path.write_text("the user's file\n", encoding="utf-8")
    elif kind == "device":
        return Path(os.devnull)
    return path


@pytest.mark.parametrize("command", ["run", "trial", "sweep"])
@pytest.mark.parametrize("kind", ["symlink", "file", "device"])
def test_out_that_is_not_a_folder_is_refused(inputs, command, kind):
    path = _special(kind, inputs)
    first = {"run": (*RUN,), "trial": (inputs / "trial.toml",), "sweep": (inputs / "exp.toml",)}[
        command
    ]
    what = {"symlink": "symbolic link", "file": "a file", "device": "a device"}[kind]
    refused_and_untouched(inputs, (command, *first, "--out", path, "--force"), str(path), what)


def run_module(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_out_that_is_a_fifo_is_refused_without_hanging(inputs):
    fifo = inputs / "pipe"
    os.mkfifo(fifo)
    before = snapshot(inputs)
    done = run_module("run", *RUN, "--out", fifo, "--force", cwd=inputs)
    assert_refused(done.returncode, done.stderr, "pipe", "FIFO")
    assert snapshot(inputs) == before


# ----------------------------------------------------------------------- concurrency


def test_a_locked_destination_is_refused(inputs):
    out = inputs / "busy"
    with output_lock(out):  # another writer holds it (flock: even in this process)
        for args in (
            ("run", *RUN),
            ("trial", inputs / "trial.toml"),
            ("sweep", inputs / "exp.toml"),
        ):
            refused_and_untouched(
                inputs, (*args, "--out", out), "busy", "another recovery-sim process"
            )
        before = snapshot(inputs)
    assert snapshot(inputs) == {k: v for k, v in before.items() if k != ".busy.lock"}


def test_two_concurrent_runs_to_one_folder_cannot_both_succeed(inputs):
    out = inputs / "shared"
    argv = [sys.executable, "-m", "sim", "run", *RUN, "--seed", "{seed}", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [a.format(seed=s) for a in argv],
            cwd=inputs,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in (1, 2)
    ]
    results = [(p.wait(timeout=120), p.communicate()[1]) for p in processes]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(stderr for code, stderr in results if code == 2)
    assert_refused(2, loser, "shared")
    winner = 1 + [code for code, _ in results].index(0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seeds"][0]["seed"] == winner  # the survivor is the one that succeeded
    assert sorted(p.name for p in inputs.iterdir()) == [
        "exp.toml",
        "out",
        "scenario.toml",
        "shared",
        "trial.toml",
    ]


# ---------------------------------------------------------------------------- calibrate


def _fit(
    folder: Path, *, name="tiny", database="runs/fit.db", posterior="posterior.parquet", free=FREE
) -> Path:
    eqolise = (ROOT / "experiments/trials/eqolise.toml").read_text()
    (folder / "trial.toml").write_text(eqolise.replace("n_per_arm = 156", "n_per_arm = 10"))
    path = folder / "fit.toml"
    path.write_text(
        FIT.format(name=name, database=database, posterior=posterior, root=ROOT, free=free),
        encoding="utf-8",
    )
    return path


def _abc_database(path: Path, generations: int) -> Path:
    """A database with pyABC's tables holding ``generations`` finished generations."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE abc_smc (id INTEGER PRIMARY KEY)")
        connection.execute("CREATE TABLE populations (id INTEGER PRIMARY KEY, t INTEGER)")
        connection.executemany(
            "INSERT INTO populations (t) VALUES (?)", [(t,) for t in range(-1, generations)]
        )
    connection.close()
    return path


def _posterior(path: Path) -> Path:
    pd.DataFrame({"ips_job_finding_multiplier": [2.0, 3.0], "weight": [0.5, 0.5]}).to_parquet(
        path, index=False
    )
    return path


@pytest.mark.parametrize(
    "database",
    [
        "trial.toml",
        "fit.toml",
        "../outside.db",
        "/tmp/x.db",
        "runs/../../x.db",
        "runs/fit.sqlite",
        ".db",
    ],
)
def test_calibrate_database_key_may_only_name_a_db_file_in_the_fit_folder(inputs, database):
    path = _fit(inputs, database=database)
    refused_and_untouched(inputs, ("calibrate", path), "fit.toml", "database", ".db")


@pytest.mark.parametrize("posterior", ["trial.toml", "../p.parquet", "/tmp/p.parquet", "p.csv"])
def test_calibrate_posterior_key_may_only_name_a_parquet_file_in_the_fit_folder(inputs, posterior):
    path = _fit(inputs, posterior=posterior)
    refused_and_untouched(inputs, ("calibrate", path), "fit.toml", "posterior", ".parquet")


def test_calibrate_refuses_a_database_that_is_not_its_own(inputs):
    with sqlite3.connect(inputs / "users.db") as connection:
        connection.execute("CREATE TABLE contacts (name TEXT)")
        connection.execute("INSERT INTO contacts VALUES ('Ada')")
    connection.close()
    (inputs / "notes.db").write_text("not a database\n", encoding="utf-8")
    for name in ("users.db", "notes.db"):
        path = _fit(inputs, database=name)
        refused_and_untouched(
            inputs, ("calibrate", path), "database", name, "not a calibration database"
        )


def test_calibrate_refuses_a_posterior_that_is_not_its_own(inputs):
    pd.DataFrame({"x": [1.0]}).to_parquet(inputs / "table.parquet")
    (inputs / "fake.parquet").write_text("text\n", encoding="utf-8")
    for name in ("table.parquet", "fake.parquet"):
        path = _fit(inputs, posterior=name)
        refused_and_untouched(inputs, ("calibrate", path), "posterior", name, "not a posterior")


def test_calibrate_refuses_an_empty_free_table_before_writing(inputs):
    _posterior(inputs / "posterior.parquet")  # an earlier fit's result
    _abc_database(inputs / "runs" / "fit.db", 0)
    path = _fit(inputs, free="[free]")
    refused_and_untouched(inputs, ("calibrate", path), "fit.toml", "free")
    refused_and_untouched(inputs, ("calibrate", path, "--force"), "fit.toml", "free")


def test_calibrate_name_cannot_escape_the_output_root(inputs):
    path = _fit(inputs, name="../../x")
    refused_and_untouched(inputs, ("calibrate", path), "fit.toml", "name")


def test_calibrate_rerun_keeps_stored_generations(inputs):
    _abc_database(inputs / "runs" / "fit.db", 2)
    _posterior(inputs / "posterior.parquet")
    path = _fit(inputs)
    refused_and_untouched(
        inputs, ("calibrate", path), "fit.db", "2 finished generation", "--resume", "--force"
    )


def test_two_fits_cannot_write_one_database_at_once(inputs):
    path = _fit(inputs)
    (inputs / "runs").mkdir()
    with output_lock(inputs / "runs" / "fit.db"):  # another fit is running
        refused_and_untouched(
            inputs, ("calibrate", path), "fit.toml", "database", "another recovery-sim process"
        )


def test_calibrate_refuses_a_users_report_folder_before_fitting(inputs):
    path = _fit(inputs)
    refused_and_untouched(
        inputs,
        ("calibrate", path, "--out", inputs / "out" / "mine", "--force"),
        "out/mine",
        "not an output",
    )
    refused_and_untouched(
        inputs, ("calibrate", path, "--out", inputs, "--force"), "holds the input file"
    )


# ------------------------------------------------------------------------- help text


@pytest.mark.parametrize(
    "command", ["run", "compare", "trial", "sweep", "sensitivity", "calibrate"]
)
def test_force_is_documented_as_replacing_only_own_output(command):
    result = CliRunner().invoke(main, [command, "--help"], terminal_width=200)
    text = " ".join(result.output.split())
    assert "replaces only this tool's own output of the same kind" in text


# ------------------------------------------------- calibrate: an unwritable database path


@pytest.mark.parametrize("database", ["runs/fit.db", "runs/deeper/fit.db"])
def test_calibrate_database_whose_folder_is_a_file_is_refused(inputs, database):
    (inputs / "runs").write_text("a file where the database's folder should be\n")
    path = _fit(inputs, database=database)
    refused_and_untouched(inputs, ("calibrate", path), "fit.toml", "database", "runs/")
    refused_and_untouched(inputs, ("calibrate", path, "--force"), "fit.toml", "database")


@pytest.mark.parametrize("version", [None, "2"], ids=["old-format", "wrong-schema"])
def test_calibrate_database_sqlite_cannot_use_is_one_error_line(inputs, version):
    # pyABC's table names but an old format (pyABC's version check fails) or not its
    # schema (SQLite, through SQLAlchemy, fails on a missing column)
    database = _abc_database(inputs / "runs" / "fit.db", 2)
    if version is not None:
        with sqlite3.connect(database) as connection:
            connection.execute("CREATE TABLE version (version_num VARCHAR(32) PRIMARY KEY)")
            connection.execute("INSERT INTO version VALUES (?)", (version,))
        connection.close()
    path = _fit(inputs)
    refused_and_untouched(
        inputs,
        ("calibrate", path, "--resume"),
        "fit.toml",
        "database = 'runs/fit.db'",
        "cannot resume from",
        "format version is 0" if version is None else "it lacks",
    )


@pytest.mark.parametrize("what", ["folder", "file"])
def test_calibrate_database_in_a_read_only_place_is_refused(inputs, what):
    runs = inputs / "runs"
    runs.mkdir()
    if what == "file":
        _abc_database(runs / "fit.db", 0)
        (runs / "fit.db").chmod(0o444)
    else:
        runs.chmod(0o555)
    try:
        if os.access(runs if what == "folder" else runs / "fit.db", os.W_OK):
            pytest.skip("running as root (or with CAP_DAC_OVERRIDE): permissions do not block")
        path = _fit(inputs)
        args = ("calibrate", path, "--force")
        refused_and_untouched(inputs, args, "fit.toml", "database", "permission denied")
    finally:
        runs.chmod(0o755)


def test_calibrate_sqlite_refusing_to_write_mid_fit_is_one_error_line(inputs, monkeypatch):
    # What SQLite says for a read-only database file or folder (as root permissions do
    # not block, so the failure is injected where pyABC writes a generation).
    pyabc = pytest.importorskip("pyabc")
    from sqlalchemy.exc import OperationalError

    def refuse(self, *args, **kwargs):
        raise OperationalError(
            "INSERT", {}, sqlite3.OperationalError("attempt to write a readonly database")
        )

    monkeypatch.setattr(pyabc.ABCSMC, "run", refuse)
    path = _fit(inputs)
    refused_and_untouched(
        inputs, ("calibrate", path), "fit.toml", "database = 'runs/fit.db'", "readonly database"
    )  # the database (and runs/) that this fit created are gone again

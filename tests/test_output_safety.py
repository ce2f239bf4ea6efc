"""Output folders never replace the user's files (issue 14): the overwrite policy, the up-front
check, permissions, stale temporary folders, the lock and ``export``'s target folder.

Tests about paths only replace :func:`apopsim.runner.run_scenario` with a stub, so nothing is
simulated.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from pathlib import Path

import pytest

from apopsim._io import (
    MARKER,
    OutputError,
    atomic_output_dir,
    atomic_write_text,
    check_output_dir,
)
from apopsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "scenarios" / "apg2575_hht.yaml"


def _scenario(folder: Path) -> Path:
    """A copy of the flagship scenario in ``folder`` (never simulated here)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sc.yaml"
    path.write_text(FLAGSHIP.read_text())
    return path


class _FakeResult:
    """Stands in for a ScenarioResult: writes one table through the real atomic writer."""

    wall_time_s = 0.01
    failures: list = []

    def write(self, outdir, *, plots: bool = True, progress: bool | None = None) -> Path:
        with atomic_output_dir(outdir) as tmp:
            (tmp / "summary.csv").write_text("new\n")
        return Path(outdir)


@pytest.fixture
def calls(monkeypatch) -> list:
    """Replace run_scenario by a stub; the list records each call."""
    import apopsim.runner

    made: list = []

    def fake(*args, **kwargs):
        made.append(args)
        return _FakeResult()

    monkeypatch.setattr(apopsim.runner, "run_scenario", fake)
    return made


@pytest.fixture
def no_run(monkeypatch) -> None:
    """Fail the test if anything is simulated."""
    import apopsim.runner

    def fail(*args, **kwargs):
        raise AssertionError("the simulation started although the output was refused")

    monkeypatch.setattr(apopsim.runner, "run_scenario", fail)


def test_dot_in_a_folder_with_user_files_is_refused(tmp_path, monkeypatch, no_run, capsys):
    monkeypatch.chdir(tmp_path)
    sc = _scenario(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    for extra in ([], ["--overwrite"]):
        assert main(["run", str(sc), "-o", ".", "-q", *extra]) == 2
        err = capsys.readouterr().err
        assert "current working directory" in err and str(tmp_path.resolve()) in err
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "sc.yaml"]


def test_folder_of_the_scenario_or_an_ancestor_is_refused(tmp_path, no_run, capsys):
    sc = _scenario(tmp_path / "project" / "inputs")
    for target in (sc.parent, sc.parent.parent, tmp_path):
        assert main(["run", str(sc), "-o", str(target), "-q", "--overwrite"]) == 2
        assert "holds the input" in capsys.readouterr().err
    assert sc.read_text() == FLAGSHIP.read_text()


def test_home_and_root_are_refused():
    for target in (Path.home(), Path("/")):
        with pytest.raises(OutputError):
            check_output_dir(target, overwrite=True)


def test_foreign_folder_needs_overwrite(tmp_path, calls, capsys):
    sc = _scenario(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.docx").write_text("years of work")
    assert main(["run", str(sc), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "not written by apopsim" in err and "thesis.docx" in err and "--overwrite" in err
    assert (out / "thesis.docx").exists() and not calls
    assert main(["run", str(sc), "-o", str(out), "-q", "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "summary.csv"]
    assert json.loads((out / MARKER).read_text()) == {"apopsim_output": 1,
                                                       "files": ["summary.csv"]}


def test_earlier_apopsim_output_is_replaced_without_flag(tmp_path, calls):
    sc = _scenario(tmp_path / "in")
    out = tmp_path / "out"
    assert main(["run", str(sc), "-o", str(out), "-q"]) == 0
    (out / "summary.csv").write_text("old\n")
    assert main(["run", str(sc), "-o", str(out), "-q"]) == 0
    assert (out / "summary.csv").read_text() == "new\n"
    # ... but not once the user has added a file of their own
    (out / "my_notes.txt").write_text("keep")
    assert main(["run", str(sc), "-o", str(out), "-q"]) == 2
    assert (out / "my_notes.txt").read_text() == "keep"
    # an output of an apopsim version without the marker is recognised by its run.json
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "run.json").write_text(json.dumps({"apopsim_version": "0.0.1"}))
    (legacy / "summary.csv").write_text("old\n")
    assert main(["run", str(sc), "-o", str(legacy), "-q"]) == 0
    assert (legacy / "summary.csv").read_text() == "new\n"
    assert len(calls) == 3


def test_library_writer_is_protected_too(tmp_path, monkeypatch):
    foreign = tmp_path / "f"
    foreign.mkdir()
    (foreign / "data.csv").write_text("x")
    with pytest.raises(OutputError, match="not written by apopsim"), atomic_output_dir(foreign):
        pass
    monkeypatch.chdir(foreign)
    refused = pytest.raises(OutputError, match="current working directory")
    with refused, atomic_output_dir(foreign, overwrite=True):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    assert (foreign / "data.csv").read_text() == "x"


def test_synergy_output_in_the_plate_folder_is_refused(tmp_path, capsys):
    plate = tmp_path / "plate.csv"
    plate.write_text("block_id,drug1,drug2,conc1,conc2,response,conc_unit\n")
    for extra in ([], ["--overwrite"]):
        assert main(["synergy", str(plate), "-o", str(tmp_path), "--data-type", "viability",
                     "--scale", "percent", *extra]) == 2
        assert "holds the input" in capsys.readouterr().err
    assert plate.is_file()


def test_unwritable_output_fails_before_simulating(tmp_path, no_run, capsys):
    sc = _scenario(tmp_path / "in")
    blocker = tmp_path / "afile"
    blocker.write_text("")
    for target in (blocker / "x", Path("/proc/forbidden/x")):
        assert main(["run", str(sc), "-o", str(target), "-q"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "cannot write output" in err
    assert not Path("/proc/forbidden").exists()


def test_output_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_output_dir(tmp_path / "res") as tmp:
            (tmp / "sub").mkdir()
        atomic_write_text(tmp_path / "model.xml", "<sbml/>")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "res").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "res" / "sub").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "model.xml").stat().st_mode) == 0o644


def test_stale_temporary_folders_are_cleaned(tmp_path):
    for name in (".res.tmp-123", ".res.old-abc_1", ".other.tmp-1", ".res.tmp-1.tmp-2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "partial.csv").write_text("x")
    with atomic_output_dir(tmp_path / "res") as tmp:
        (tmp / "a.csv").write_text("a")
    # only the leftovers of target "res" go; ".res.tmp-1.tmp-2" belongs to target "res.tmp-1"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-1", ".res.tmp-1.tmp-2",
                                                          "res"]


def test_second_writer_of_the_same_output_is_refused(tmp_path, no_run, capsys):
    sc = _scenario(tmp_path / "in")
    out = tmp_path / "res"
    fd = os.open(tmp_path / ".res.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another "process" writes res
        assert main(["run", str(sc), "-o", str(out), "-q"]) == 2
        assert "another apopsim process" in capsys.readouterr().err
    finally:
        os.close(fd)
    assert not out.exists()


def test_lock_is_released_and_removed(tmp_path):
    with atomic_output_dir(tmp_path / "res") as tmp:
        assert (tmp_path / ".res.lock").exists()
        (tmp / "a.csv").write_text("a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]
    with atomic_output_dir(tmp_path / "res"):  # free again
        pass


def test_export_into_a_missing_folder_is_refused(tmp_path, capsys):
    target = tmp_path / "nonexistent_dir" / "x.xml"
    assert main(["export", "bcl2_core", "--sbml", str(target)]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and str(tmp_path / "nonexistent_dir") in err
    assert not (tmp_path / "nonexistent_dir").exists()


def test_default_output_is_results_slash_name(tmp_path, monkeypatch, calls):
    monkeypatch.chdir(tmp_path)
    sc = _scenario(tmp_path / "in")
    assert main(["run", str(sc), "-q"]) == 0
    assert (tmp_path / "results" / "apg2575_hht" / "summary.csv").is_file()


def test_run_prints_total_time(tmp_path, monkeypatch, calls, capsys):
    import apopsim.cli

    monkeypatch.setattr(apopsim.cli, "_summary_table", lambda result: "table")
    sc = _scenario(tmp_path / "in")
    assert main(["run", str(sc), "-o", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    assert "simulation 0.01 s, total " in out


def test_fake_result_matches_the_interface():
    """The stub above uses only what the CLI uses of a ScenarioResult."""
    from dataclasses import fields

    from apopsim.runner import ScenarioResult

    assert callable(ScenarioResult.write) and isinstance(ScenarioResult.failures, property)
    assert "wall_time_s" in {f.name for f in fields(ScenarioResult)}

"""The command never shows a traceback, reports warnings in one line, and starts fast
(issue 14). Start-up speed is asserted structurally (what gets imported), not by timing."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from apopsim.cli import build_parser, main

HEAVY = ("sympy", "numba", "scipy", "scipy.stats", "pandas", "matplotlib")


def _modules_after(code: str) -> set[str]:
    """Heavy modules loaded by ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_building_the_parser_imports_nothing_heavy():
    loaded = _modules_after("import apopsim, apopsim.cli\napopsim.cli.build_parser()\n"
                            "apopsim.__version__; dir(apopsim)")
    assert loaded == set()


def test_models_listing_needs_no_sympy():
    loaded = _modules_after("from apopsim.library import model_summary\n"
                            "s = model_summary('bcl2_core')\n"
                            "assert len(s.species) > 5 and 'lisaftoclax' in s.drug_inputs")
    assert not loaded & {"sympy", "numba", "pandas", "matplotlib"}


def test_model_summary_matches_the_model():
    import apopsim
    from apopsim.library import model_summary

    for name in ("bcl2_core",):
        model, summary = apopsim.load_model(name), model_summary(name)
        assert summary.species == model.species
        assert summary.n_reactions == len(model.reactions)
        assert summary.drug_inputs == model.drug_inputs


def test_lazy_package_exposes_the_same_names():
    import apopsim
    import apopsim.synergy

    for pkg in (apopsim, apopsim.synergy):
        for name in pkg.__all__:
            assert getattr(pkg, name) is not None
            assert name in dir(pkg)
        with pytest.raises(AttributeError):
            pkg.no_such_name  # noqa: B018


def test_synergy_flags_are_light_and_match_the_registry():
    """The CLI's synergy flags come from one light module (no numpy) that names the built-in
    metrics in registry order."""
    import subprocess
    import sys

    from apopsim.synergy import analysis, flags

    assert analysis.METHODS[: len(flags.BUILTIN_METHODS)] == flags.BUILTIN_METHODS
    code = ("import sys, argparse; from apopsim.synergy import cli; "
            "cli.configure_parser(argparse.ArgumentParser()); "
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("argv", [["schema"], ["show", "bcl2_core"]])
def test_closed_pipe_is_quiet(argv):
    proc = subprocess.Popen([sys.executable, "-m", "apopsim.cli", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is written (like `| head`)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) in (0, 141), err
    assert "Traceback" not in err and "Error" not in err


def test_unexpected_exception_is_one_line(monkeypatch, capsys):
    import apopsim.scenario

    def boom():
        raise ValueError("something\nbroke")

    monkeypatch.setattr(apopsim.scenario, "scenario_json_schema", boom)
    monkeypatch.delenv("APOPSIM_DEBUG", raising=False)
    assert main(["schema"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "apopsim: internal error: ValueError: something broke"
    assert "APOPSIM_DEBUG=1" in err[1] and len(err) == 2
    monkeypatch.setenv("APOPSIM_DEBUG", "1")
    assert main(["schema"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_warnings_are_one_line(monkeypatch, capsys):
    import apopsim.scenario

    def warn():
        warnings.warn("dose above\n the tested range", UserWarning, stacklevel=1)
        return {}

    monkeypatch.setattr(apopsim.scenario, "scenario_json_schema", warn)
    assert main(["schema"]) == 0
    assert capsys.readouterr().err == "apopsim: warning: dose above the tested range\n"
    assert warnings.showwarning.__module__ == "warnings"  # restored after main()


def test_exit_codes_and_overwrite_are_documented():
    import apopsim.cli

    text = build_parser().format_help()
    assert "exit status" in text and "130" in text and "--overwrite" in text
    assert "130" in apopsim.cli.__doc__
    sub = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    assert "--overwrite" in sub["run"].format_help()
    assert "--overwrite" in sub["synergy"].format_help()

"""The bad-input campaign: every case of campaign_cases.CASES, across the four tools.

Each tool runs all its cases in one process (campaign_driver.py), started once per session;
one test per case then checks its result: a clean one-line `Error:` (or absl's flag error) and
a non-zero exit for bad input, a correct result for legitimate input, never a traceback, and
inputs byte-identical afterwards. Cases that need a trained run share conftest's `trained_run`.
"""

import json
import os
import subprocess
import sys

import campaign_cases
import campaign_driver
import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
_PARAMS = [
    pytest.param(tool, case, id=f"{tool}-{case.name}")
    for tool in campaign_cases.TOOLS
    for case in campaign_cases.CASES[tool]
]


@pytest.fixture(scope="session")
def campaign(trained_run, tmp_path_factory):
    """{tool: {case name: result}}: the drivers of the four tools, run in turn."""
    root = tmp_path_factory.mktemp("campaign")
    inputs = str(root / "inputs")
    campaign_cases.build_inputs(inputs, trained_run)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([_ROOT, os.environ.get("PYTHONPATH", "")]))
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    results, logs = {}, {}
    for tool in campaign_cases.TOOLS:
        cases = campaign_cases.expand(
            tool, campaign_cases.CASES[tool], inputs, trained_run, str(root / "scratch")
        )
        cases_path, results_path = root / f"{tool}_cases.json", root / f"{tool}_results.json"
        cases_path.write_text(json.dumps(cases))
        process = subprocess.run(
            [
                sys.executable,
                os.path.join(_HERE, "campaign_driver.py"),
                tool,
                str(cases_path),
                str(results_path),
            ],
            capture_output=True,
            text=True,
            cwd=str(root),
            env=env,
            timeout=900,
        )
        logs[tool] = process.stderr[-3000:]
        results[tool] = json.loads(results_path.read_text()) if results_path.exists() else {}
    return results, logs


def _error_lines(result):
    lines = (result["stdout"] + result["stderr"]).splitlines()
    return [line for line in lines if line.startswith("Error:")], [
        line for line in lines if line.startswith("FATAL Flags parsing error")
    ]


@pytest.mark.parametrize("tool,case", _PARAMS)
def test_campaign_case(campaign, tool, case):
    results, logs = campaign
    assert case.name in results[tool], f"no result (driver died?): {logs[tool]}"
    result = results[tool][case.name]
    output = f"stdout:\n{result['stdout'][-1500:]}\nstderr:\n{result['stderr'][-1500:]}"
    assert result["traceback"] is None, result["traceback"]
    assert "Traceback (most recent call last)" not in result["stderr"], output
    assert result["changed_inputs"] == [], f"inputs changed: {result['changed_inputs']}"
    errors, flag_errors = _error_lines(result)
    if case.expect == "error":
        assert result["rc"] != 0, output
        assert len(errors) + len(flag_errors) == 1, output
        if case.match:
            import re

            assert re.search(case.match, (errors + flag_errors)[0]), output
    else:
        assert result["rc"] == 0 and not errors and not flag_errors, output
        assert result["check_error"] is None, f"{result['check_error']}\n{output}"
        if case.match:
            import re

            assert re.search(case.match, result["stdout"]), output


def test_campaign_has_at_least_120_cases():
    assert len(_PARAMS) >= 120
    names = [param.id for param in _PARAMS]
    assert len(names) == len(set(names))


# === The harness itself can fail ===


def test_driver_reports_tracebacks_exit_codes_and_changed_inputs(tmp_path):
    from absl import flags

    victim = tmp_path / "input.txt"
    victim.write_text("original")

    def crashing_main(argv):
        raise OSError("boom")

    def overwriting_main(argv):
        victim.write_text("changed")

    def erroring_main(argv):
        raise SystemExit("Error: bad input.")

    own_flags = flags.FlagValues()  # Leaves the process-wide absl flags alone.
    flags.DEFINE_integer("size", 1, "A flag.", flag_values=own_flags)

    def run(main, argv, **kwargs):
        return campaign_driver.run_case(main, argv, flag_values=own_flags, **kwargs)

    crashed = run(crashing_main, ["tool.py"])
    assert crashed["traceback"] and "OSError: boom" in crashed["traceback"]
    changed = run(overwriting_main, ["tool.py"], hash_roots=[str(tmp_path)])
    assert changed["rc"] == 0 and changed["changed_inputs"] == [str(victim)]
    errored = run(erroring_main, ["tool.py", "--size=3"])
    assert errored["rc"] == 1 and errored["stderr"] == "Error: bad input.\n"
    for argv in (["tool.py", "--no_such_flag_xyz=1"], ["tool.py", "--size=big"]):
        flag_error = run(erroring_main, argv)
        assert flag_error["rc"] == 1 and flag_error["traceback"] is None
        assert flag_error["stderr"].startswith("FATAL Flags parsing error")

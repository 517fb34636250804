"""Runs many bad-input cases of one tool in one process (the campaign of test_campaign.py).

    python tests/campaign_driver.py TOOL CASES_JSON RESULTS_JSON

TOOL is a module name in tools/ (train, inpaint, evaluate, export). CASES_JSON holds a list of
cases already expanded by `campaign_cases.expand` ({"name", "argv", "out", "hash_roots",
"check", "check_args"}). Each case runs the tool the way `app.run` does from a shell: the flags
are reset (`FLAGS.unparse_flags()`) and parsed from the case's argv, the tool's required flags
are enforced, `main` runs, and `SystemExit` gives the exit status (a string code is printed to
stderr, as the interpreter does). Any other exception is a traceback. stdout and stderr are
captured per case, and the files under `hash_roots` (the inputs) are hashed before and after.
One process per tool: tools define flags of the same names, and importing TensorFlow once
instead of once per case is what makes a campaign of 100+ cases affordable.
"""

import contextlib
import hashlib
import io
import json
import os
import re
import stat
import sys
import time
import traceback

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tree_hashes(roots):
    """{path: sha256} of every file under `roots` (files or folders; links not followed;
    FIFOs, sockets and devices recorded by their type, never opened)."""
    hashes = {}
    for root in roots:
        if os.path.isfile(root):
            candidates = [root]
        else:
            candidates = []
            for folder, dirs, files in os.walk(root):
                dirs.sort()
                candidates.extend(os.path.join(folder, name) for name in sorted(files))
        for path in candidates:
            if os.path.islink(path):
                hashes[path] = "link:" + os.readlink(path)
                continue
            mode = os.lstat(path).st_mode
            if not stat.S_ISREG(mode):  # A FIFO input would block open() forever.
                hashes[path] = f"special:{stat.S_IFMT(mode):o}"
                continue
            with open(path, "rb") as f:
                hashes[path] = hashlib.sha256(f.read()).hexdigest()
    return hashes


def changed_files(before, after):
    return sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))


def run_case(main, argv, required_flags=(), hash_roots=(), flag_values=None):
    """Runs `main` like `absl.app.run(main)` with `argv`; returns a result dict.

    Keys: `rc` (exit status), `stdout`, `stderr`, `traceback` (None, or the text of an
    exception other than SystemExit), `changed_inputs` (files under `hash_roots` whose bytes
    changed, appeared or vanished), `seconds`.
    """
    from absl import app, flags

    flags_obj = flags.FLAGS if flag_values is None else flag_values
    before = tree_hashes(hash_roots)
    stdout, stderr = io.StringIO(), io.StringIO()
    result = {"rc": 0, "traceback": None}
    start = time.perf_counter()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            flags_obj.unparse_flags()
            try:
                remaining = flags_obj(argv)
                missing = [name for name in required_flags if flags_obj[name].value is None]
                if missing:
                    raise flags.IllegalFlagValueError(
                        f"flag --{missing[0]}=None: Flag --{missing[0]} must have a value other "
                        "than None."
                    )
            except flags.Error as error:  # What app.run prints for a flag error.
                sys.stderr.write(f"FATAL Flags parsing error: {error}\n")
                sys.stderr.write("Pass --helpshort or --helpfull to see help on flags.\n")
                raise SystemExit(1) from None
            try:
                raise SystemExit(main(remaining))
            except app.UsageError as error:
                sys.stderr.write(f"FATAL {error}\n")
                raise SystemExit(error.exitcode) from None
        except SystemExit as exit_:
            code = exit_.code
            if code is None:
                result["rc"] = 0
            elif isinstance(code, int):
                result["rc"] = code
            else:
                sys.stderr.write(f"{code}\n")
                result["rc"] = 1
        except BaseException:  # noqa: BLE001 (a traceback is what the campaign looks for)
            result["rc"] = 1
            result["traceback"] = traceback.format_exc()
    result["seconds"] = round(time.perf_counter() - start, 3)
    result["stdout"] = stdout.getvalue()
    result["stderr"] = stderr.getvalue()
    result["changed_inputs"] = changed_files(before, tree_hashes(hash_roots))
    return result


def _required_flags(tool_path):
    """The flags the tool marks as required in its `__main__` block."""
    with open(tool_path, encoding="utf-8") as f:
        source = f.read()
    names = []
    for group in re.findall(r"mark_flags_as_required\(\[([^\]]*)\]\)", source):
        names += re.findall(r"[\"'](\w+)[\"']", group)
    return names


def _reset_process_state():
    """Global state a case may leave behind (a mixed-precision policy) is put back."""
    if "keras" in sys.modules:
        import keras

        keras.mixed_precision.set_global_policy("float32")


def main():
    tool, cases_path, results_path = sys.argv[1:4]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import campaign_cases

    tool_path = os.path.join(_ROOT, "tools", f"{tool}.py")
    sys.argv = [tool_path]
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"campaign_tool_{tool}", tool_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    required = _required_flags(tool_path)
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    results = {}
    for case in cases:
        os.makedirs(case["out"], exist_ok=True)
        _reset_process_state()
        result = run_case(module.main, case["argv"], required, case["hash_roots"])
        result["check_error"] = None
        if case["check"] and result["rc"] == 0 and result["traceback"] is None:
            try:
                campaign_cases.CHECKS[case["check"]](result, **case["check_args"])
            except Exception as error:  # noqa: BLE001 (reported as the case's failure)
                result["check_error"] = f"{type(error).__name__}: {error}"
        results[case["name"]] = result
        with open(results_path, "w", encoding="utf-8") as f:  # Partial results survive a kill.
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()

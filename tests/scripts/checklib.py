"""What the scripts in tests/scripts share: each collects labelled results
(label -> a JSON value: what happened, not a bare True) and ends with
report(results); the test compares them label by label
(ScriptRunner.run_checks in tests/conftest.py).  Runs on both runtimes.
"""
import json


def outcome(fn, *args):
    """"ok", or the name of the exception fn(*args) raised."""
    try:
        fn(*args)
    except Exception as e:
        return type(e).__name__
    return "ok"


def errno_outcome(fn, *args):
    """outcome(), naming an OSError by its errno ("EINVAL", ...)."""
    from ovl import compat
    try:
        fn(*args)
    except OSError as e:
        return compat.errno_name(compat.error_code(e))
    except Exception as e:
        return type(e).__name__
    return "ok"


def report(results):
    """The last line of the output: the results as one JSON object."""
    print(json.dumps(results))

"""ovl.compat.call_released, the one import-call-release helper (the
store's moments, the reader's open, the overlay's mount: docs/STORE.md,
"Code layout"), under the real micropython and CPython: it imports the
module for the call and, on MicroPython only, drops it from sys.modules
and from its package after the call, also when the call raises; a module
loaded before the call (by a caller, or by an outer call of the same
module) stays; CPython keeps every module (a module imported again is
compiled again where bytecode is not cached)."""

ONCE = '''\
import sys


def add(a, b, scale=1):
    return (a + b) * scale


def fail(why):
    raise ValueError(why)


def nested():
    from ovl.compat import call_released
    inner = call_released(__name__, "add", (3, 4))
    return [inner, __name__ in sys.modules]


def big():
    # code enough that its release shows in the heap
    total = 0
    for i in range(3):
        total += i * 2 + 1
        total -= i
        total ^= i << 3
        total |= i >> 1
        total += len(str(i)) + len(repr(i))
        total += [i, i + 1, i + 2][i % 3]
        total += {"a": i, "b": i + 1}["a"]
    return total
'''


def package(tmp_path):
    pkg = tmp_path / "moments"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "once.py").write_text(ONCE)
    return str(tmp_path)


def test_call_released_imports_calls_and_releases(runtime, tmp_path):
    kept = runtime.name == "cpython"
    got = runtime.run_checks("compat_call_released.py", {
        "before a call": [False, False],
        # the call's result, then where the module is after it
        "a call": [3, [kept, kept]],
        "with keyword arguments": [9, [kept, kept]],
        # released after an exception too (the exception passes through)
        "after an exception": ["refused", [kept, kept]],
        # the inner call found the module loaded: it stays for the outer
        "an outer call holds it": [[7, True], [kept, kept]],
        "held by a caller": [4, [True, True]],
    }, args=[package(tmp_path)])
    if not kept:
        released, held = got["heap kept: released, held"]
        # (the module's code and functions, compiled from source here:
        # about 700 B held; a few interned names stay either way)
        assert released <= 128 and held > released + 500, (released, held)

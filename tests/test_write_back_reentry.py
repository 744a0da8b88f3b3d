"""The write-back transaction of a file is not committed by a lookup that
happens inside its own first change (issue found by the boot tests: with
the overlay mounted at /, MicroPython's `import hashlib` inside the digest
of a copied-up file's base did a lookup, and the rewritten file read back
empty)."""

import os

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts",
                      "lookup_during_first_change.py")


def test_lookup_inside_a_first_change_loses_nothing(runtime, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "other").write_bytes(b"line one\nline two\n")
    with open(SCRIPT) as f:
        out = runtime(f.read(), args=[str(tmp_path)]).splitlines()
    assert out[0] == "read b'new content\\n' b'made\\n'", out
    assert out[1] == "remounted b'new content\\n' b'made\\n'", out
    assert out[2] == "fsck []", out

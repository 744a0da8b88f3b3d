"""docs/FORMAT.md's byte examples are the bytes the store writes: each
`<!-- example: NAME -->` block there must equal section NAME of what
tests/scripts/format_examples.py prints, under both runtimes."""
import os
import re

from conftest import ROOT

FORMAT_MD = os.path.join(ROOT, "docs", "FORMAT.md")
EXAMPLE = re.compile(r"<!-- example: ([a-z]+) -->\n```text\n(.*?)\n```",
                     re.S)


def documented():
    with open(FORMAT_MD) as f:
        return dict(EXAMPLE.findall(f.read()))


def generated(out):
    sections = {}
    for part in out.split("== ")[1:]:
        name, _, body = part.partition("\n")
        sections[name] = body.rstrip("\n")
    return sections


def test_format_md_shows_the_bytes_the_store_writes(runtime):
    made = generated(runtime.run_file("format_examples.py"))
    doc = documented()
    assert sorted(doc) == sorted(made), \
        "FORMAT.md's example blocks %s, the script's sections %s" \
        % (sorted(doc), sorted(made))
    stale = [name for name in made if doc[name] != made[name]]
    assert not stale, (
        "FORMAT.md's examples %s differ from the store's bytes: rerun "
        "`PYTHONPATH=firmware python3 tests/scripts/format_examples.py`, "
        "paste each section into its block and check the prose around it.\n%s"
        % (stale, "\n".join("== %s\n%s" % (n, made[n]) for n in stale)))

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


def create_file(store, name, data):
    """A regular file `name` in a LogStore's root holding data, in one
    transaction; returns its inode number."""
    from ovl.store import ROOT_INO
    t = store.begin()
    ino = t.new_ino()
    t.put_inode(ino, mode=0o100644)
    t.link(ROOT_INO, name, ino)
    t.write(ino, 0, data)
    t.commit()
    return ino


def file_content(store, ino):
    """All of a LogStore file's bytes."""
    return b"".join(p[2] for p in store.read(ino, 0, 1 << 20))


def read_text(fs, path):
    """All of the file at path of fs (an Overlay or its VFS), decoded."""
    with fs.open(path, "rb") as f:
        return f.read().decode()


def write_file(fs, path, data, mode="wb"):
    """data written to the file at path of fs, opened with mode."""
    with fs.open(path, mode) as f:
        f.write(data)


def overlay_and_agent(lower_dir):
    """A fresh 256 KiB store mounted over the directory lower_dir, and an
    agent serving it (its requests are JSON bytes, as the link sends):
    (fs, agent, remount), remount() mounting the flash afresh."""
    import io
    from ovl.agent import Agent
    from ovl.board import Board
    from ovl.dirlower import DirLower
    from ovl.overlay import mount
    from ovl.store import LogStore
    from ovl_sim.simflash import SimFlash
    flash = SimFlash(1 << 18, 4096, 256)
    LogStore.format(flash)
    fs = mount(DirLower(lower_dir), flash)
    board = Board.from_dict({"name": "t", "flash": {
        "size": 1 << 18, "erase_size": 4096, "page_size": 256}})
    return fs, Agent(io.BytesIO(), board, flash, fs=fs), \
        lambda: mount(DirLower(lower_dir), flash)


def report(results):
    """The last line of the output: the results as one JSON object."""
    print(json.dumps(results))

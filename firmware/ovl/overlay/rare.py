"""Where the Overlay's rare operations live: what a board's boot, mount
and file IO never call.

The host's operations (stat with its fields named, lstat, listdir,
links and the link index, symlinks and following them, device nodes,
modes, owners, times and statvfs), truncation, the firmware verbs and
the operations that take a name away (with the lower entry a name
hides) live in ovl.overlay.hostops,
.truncate, .verbs and .unlink, imported at first use; each function there
takes the Overlay first and documents the operation.  Overlay.__getattr__
imports this module at the first name the class lacks, so the lists of
names below are not on the heap of a board that never asks for one.
"""


def method(ovl, name):
    """Overlay.__getattr__: the rare operation name of ovl, as a method
    (AttributeError if there is no such operation)."""
    if name in "stat lstat listdir exists rdev readlink symlink mknod " \
            "link chmod chown lchown utime read_bytes write_bytes " \
            "statvfs _excl_target write_target stored_bytes".split():
        from ovl.overlay import hostops as where
    elif name in "truncate truncate_open".split():
        from ovl.overlay import truncate as where
    elif name in "layer_of diff revert fsck reset request_reset " \
            "reset_requested linked_inodes".split():
        from ovl.overlay import verbs as where
    elif name in "remove unlink rmdir rename _lower_entry".split():
        from ovl.overlay import unlink as where
    else:
        raise AttributeError(name)
    # Each function found is set on the class, a method from then on
    # (no closure made per call, none kept on an instance).
    setattr(type(ovl), name, getattr(where, name))
    return getattr(ovl, name)

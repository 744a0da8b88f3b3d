"""A store's state is set up by ovl.store.mount's init (LogStore.__init__
calls it), so that code leaves the heap with the mount module
(docs/STORE.md, "Code layout"): a mount or format loads the module once
and constructs the store with it held; a store constructed directly
(LogStore(flash): tests, tools, a checkpoint restored into a fresh
store) loads it for the call and releases it, on MicroPython, even when
the set-up refuses the flash.  Run on both runtimes (CPython keeps the
module: ovl.compat.call_released)."""


def test_store_state_set_up_by_the_released_mount_module(runtime):
    runtime.run_checks("store_mount_release.py", {
        "format: one load, released": [1, False],
        "mount: one load (init ran with it held), released": [True, False],
        "the mounted store reads its file": [True, True],
        "constructed directly: its state set up, the module released": [
            True, False, 4096, 16, 16, 32, 4088, 0, 2, 0, True, None, False],
        "a flash too small: refused, the module released": [
            "log store needs at least 5 erase blocks, flash has 4", False],
        "a store keeps the same with the module released or held": True,
    })

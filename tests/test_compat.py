"""ovl.compat's errno numbers are Linux's, and errno_name names them back,
on both runtimes (the host's errno module is the reference: the tests run
on Linux)."""
import errno

import pytest

from ovl import compat


def test_errno_numbers_match_linux(runtime):
    names = sorted(n for n in vars(compat) if n[0] == "E" and
                   type(getattr(compat, n)) is int)
    assert len(names) >= 28 and "ENOENT" in names and "ESTALE" in names
    if errno.ENOTEMPTY != 39:
        pytest.skip("the host is not Linux: no reference for the numbers")
    expected = {n: [getattr(errno, n), n] for n in names}
    expected["unknown"] = ["E1000", "E3", "AttributeError"]
    expected["an oserror"] = [errno.ENOTEMPTY, "ENOTEMPTY: /d"]
    runtime.run_checks("compat_errno.py", expected, args=names)


def test_injected_agent_modules_answer_their_names(mpy):
    """The agent's bootstrap (host_tools/serial/link.py) installs ovl.compat
    and ovl.flash as plain objects holding their globals, where a module
    __getattr__ answers nothing: what the agent names must be globals."""
    from host_tools.serial.link import bootstrap_script
    names = ("EINVAL", "ESTALE", "ENOSYS", "ENOMEM", "EIO", "EACCES", "EBUSY",
             "E2BIG", "ENODEV", "ENOENT", "EFBIG")
    check = ("import ovl.compat as c, ovl.flash as f\n"
             "print([getattr(c, n) for n in %r], c.errno_name(c.EBUSY),"
             " c.hexdigest(c.sha256(b'abc'))[:8], c.crc32(b'abc'),"
             " callable(f.write_blocks), type(sys.modules['ovl.compat'])"
             ".__name__)" % (names,))
    out = mpy(bootstrap_script(start=check)).strip().splitlines()[-1]
    assert out == "%r EBUSY ba7816bf 891568578 True _OvlMod" % (
        [getattr(errno, n) for n in names],)

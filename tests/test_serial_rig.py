"""`ovl rig`: power cuts at random instants on the simulated board (its
process killed, then booted again from its flash file), the oracle, and
the report."""

import json
import os
import subprocess
import time

import pytest

from host_tools.serial import link as serial_link
from host_tools.cli import main as cli_main
from host_tools.commands.serial import flash_image
from host_tools.crash.rig import (Rig, RigError, SimPower, parse_power,
                            parse_workload, report_text)
from host_tools.serial.sim import PtyBoard
from ovl import agent

from conftest import ROOT, find_micropython

SIM = os.path.join(ROOT, "boards", "sim.json")

WORKLOAD = """\
# a directory that comes and goes, files replaced, renamed and removed
mkdir /data
put @6000 /data/a
put @300 /etc/motd
mv /data/a /data/b
put @9000 /data/a
rm /data/b
rm /data/a
rmdir /data
"""


@pytest.fixture
def flashed(tmp_path):
    """(flash file, board) of a sim board running a SquashFS firmware."""
    if not find_micropython():
        pytest.fail("micropython executable missing: run `make test`")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "motd").write_bytes(b"hello from the lower\n")
    img = tmp_path / "fw.sqfs"
    subprocess.run(["mksquashfs", str(root), str(img), "-noappend",
                    "-all-root", "-comp", "gzip", "-quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    flash = str(tmp_path / "flash.bin")
    b = PtyBoard(SIM, flash).start()
    ser = serial_link.open_port(b.port, 921600)
    link = serial_link.connect(ser, bootstrap=False, timeout=1.0,
                               boot_wait=15)
    flash_image(link, img.read_bytes())
    link.call(agent.REBOOT)
    ser.close()
    yield flash, b
    b.close()


def rig(board, workload=WORKLOAD, power=None, cls=Rig, **kw):
    opts = dict(cycles=6, seed=7, min_delay=0.05, max_delay=0.6,
                timeout=1.0, boot_timeout=20.0)
    opts.update(kw)
    return cls(board.port, power or SimPower(board), parse_workload(workload),
               **opts)


class CutAfterAnAck(Rig):
    """Cuts `delay` after the cycle's first acknowledged step rather than
    after its start, so a board that a busy host stalls for the whole
    delay still has an acknowledged write to lose."""

    def wait_to_cut(self, delay, acked_before):
        deadline = time.monotonic() + 20
        while self.acked == acked_before and time.monotonic() < deadline:
            time.sleep(0.005)
        Rig.wait_to_cut(self, delay, acked_before)


@pytest.mark.slow
def test_sim_rig_passes_and_cuts_land_during_writes(flashed):
    flash, b = flashed
    r = rig(b).run()
    assert r["failures"] == [], report_text(r)
    assert r["ok"] and r["cycles_done"] == 6
    assert r["steps_acknowledged"] > 6
    assert r["cuts_with_step_in_flight"] >= 5
    assert r["cuts_during_flash_write"] > 0
    assert r["in_flight_landed_after"] + r["in_flight_landed_before"] == \
        r["cuts_with_step_in_flight"]


class RollBack(SimPower):
    """A board that loses acknowledged writes: every cut puts back the
    flash file as it was before the rig started."""

    def __init__(self, board):
        SimPower.__init__(self, board)
        with open(board.flash_path, "rb") as f:
            self.saved = f.read()

    def off(self):
        SimPower.off(self)
        with open(self.board.flash_path, "wb") as f:
            f.write(self.saved)


@pytest.mark.slow
def test_lost_acknowledged_write_is_a_failure_with_replay_data(flashed):
    flash, b = flashed
    r = rig(b, "put @2000 /etc/motd\n", power=RollBack(b), cycles=2,
            min_delay=0.4, max_delay=0.5, cls=CutAfterAnAck).run()
    assert not r["ok"]
    assert len(r["failures"]) == 2
    f = r["failures"][0]
    assert f["seed"] == 7 and f["cycle"] == 1 and 0.4 <= f["delay"] <= 0.5
    assert f["in_flight"]["step"] == "put @2000 /etc/motd"
    assert f["steps_acknowledged_this_cycle"] > 0
    (m,) = f["mismatches"]
    assert m["path"] == "/etc/motd" and m["found"] != m["acknowledged"]
    text = report_text(r)
    assert "FAIL cycle 1 (seed 7, delay " in text
    assert "in flight: line 1 `put @2000 /etc/motd`" in text
    assert text.endswith("rig: 2 failure(s)")


def test_a_line_that_cannot_be_driven_is_refused(tmp_path):
    # A pty has no modem lines: a "cut" there would cut nothing.
    main, slave = os.openpty()
    try:
        with pytest.raises(RigError, match="cannot drive DTR"):
            parse_power("dtr:" + os.ttyname(slave))
    finally:
        os.close(main)
        os.close(slave)


@pytest.mark.slow
def test_cli_rig_json_and_exit_status(flashed, tmp_path, capsys):
    flash, b = flashed
    b.kill()            # the CLI boots its own board on the flash file
    work = tmp_path / "w.txt"
    work.write_text("put @3000 /etc/motd\nrm /etc/motd\n")
    status = cli_main(["rig", "--port", "sim", "--power",
                       "sim:%s:%s" % (SIM, flash), "--workload", str(work),
                       "--cycles", "2", "--max-delay", "0.4", "--json"])
    out = capsys.readouterr().out
    r = json.loads(out)
    assert status == 0 and r["ok"] and r["cycles_done"] == 2


@pytest.mark.parametrize("spec", ["relay:/dev/ttyUSB1", "dtr:", "cmd:/dev/x:ON",
                                  "sim:nope", "sim:sim:/no/such/flash"])
def test_bad_power_spec_is_one_line(spec, tmp_path, capsys):
    work = tmp_path / "w.txt"
    work.write_text("mkdir /x\n")
    status = cli_main(["rig", "--port", "/dev/null", "--power", spec,
                       "--workload", str(work), "--cycles", "1"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("ovl: error: ") and err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("text, why", [
    ("write /a 0644 0 x\n", "not a verb the agent serves"),
    ("put @99999999 /a\n", "outside"),
    ("mv /a\n", "takes 2 arguments"),
    ("mkdir relative\n", "not an absolute path"),
    ("# nothing\n", "no steps"),
])
def test_bad_workload(text, why):
    with pytest.raises(RigError, match=why):
        parse_workload(text)


def test_power_spec_forms():
    opened = []

    class Port:
        def __init__(self, name):
            self.name, self.dtr, self.written = name, None, b""
            opened.append(self)

        def write(self, data):
            self.written += data

        def flush(self):
            pass

        def close(self):
            pass

    p = parse_power("!dtr:/dev/ttyUSB1", opener=Port)
    assert opened[-1].name == "/dev/ttyUSB1" and opened[-1].dtr is True
    p.off()
    assert opened[-1].dtr is False
    p.on()
    assert opened[-1].dtr is True
    p = parse_power("cmd:socket://relay:4000:A0:A1", opener=Port)
    p.off()
    p.on()
    assert opened[-1].name == "socket://relay:4000"
    assert opened[-1].written == b"A0\r\nA1\r\n"

"""The slot states the agent's HELLO reports agree with what boot found:
run by tests/test_serial_flash.py with an A/B board's JSON as argv[1];
slot B (generation 2) is damaged after its record was written.  The last
line is the labelled results."""
import io
import json
import sys

from checklib import report
from ovl import boot, compat, fwslot
from ovl.agent import Agent
from ovl.board import Board
from ovl.flash import write_blocks
from ovl_sim.simflash import SimFlash

with open(sys.argv[1]) as f:
    board = Board.from_dict(json.load(f))
flash = SimFlash(board.size, board.erase_size, board.page_size)
found = fwslot.scan(board, flash)
for slot, fill in zip(found, (b"A", b"B")):
    # the image's second half erased: room to damage it by programming
    image = fill * 8192 + b"\xff" * 8192
    write_blocks(flash, slot.offset, image)
    fwslot.commit(flash, slot, len(image), compat.sha256(image).digest(),
                  found)
flash.program(found[1].offset + 8192, b"\x00" * 16)


def hello_slots(agent):
    return [[s["name"], s["state"], s["generation"]]
            for s in agent.info()["slots"]]


r = {}
booted = boot.bring_up(board, flash)
agent = Agent(io.BytesIO(), board, flash, fs=booted.fs, notes=booted.notes,
              running=booted.running, slots=booted.slots)
r["after a boot [name, state, generation]"] = hello_slots(agent)
r["boot note"] = [n for n in booted.notes if "does not verify" in n] != []
r["agent started without a boot"] = hello_slots(
    Agent(io.BytesIO(), board, flash))
agent.fw_status(b'{"verify": false}')
r["after FW_STATUS without verify"] = hello_slots(agent)
agent.fw_status(b'{"verify": true}')
r["after FW_STATUS with verify"] = hello_slots(agent)
agent.fw_begin(b'{"slot": "firmware_b"}')
r["states after FW_BEGIN of firmware_b"] = [
    s["state"] for s in agent.info()["slots"]]
report(r)

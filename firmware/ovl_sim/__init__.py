"""ovl_sim: the simulated board, host side only.

The simulated flash chip (simflash: NOR/NAND rules, counters, power cuts,
seeded faults) and the simulated board's main program (board_runner).
Tests, benchmarks, crash campaigns and `ovl sim` use them; they run under
CPython and MicroPython like the device package, but are never sent to a
board (the agent bootstrap and `make mpy` / `make romfs` take firmware/ovl
only).
"""

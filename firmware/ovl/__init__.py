"""ovl: a writable overlay for flash devices.

A read-only SquashFS firmware image shows through; every change lands in a
log-structured flash store on top.  This package runs unchanged on CPython
(>= 3.11) and MicroPython (>= 1.22).
"""

VERSION = "0.1.0"

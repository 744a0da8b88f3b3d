"""Framing: round trips, and recovery from every kind of bad input.

Each script runs under CPython and the real micropython: the agent and
the host share this code.
"""

COMMON = """
from ovl import frames
from ovl.frames import FrameReader, Interrupted, encode
class Stream:
    def __init__(self, data):
        self.data = data
    def read(self, n):
        out = self.data[:n]
        self.data = self.data[n:]
        return out
def frames_of(wire, max_payload=4096):
    r = FrameReader(Stream(wire).read, max_payload)
    out = []
    while True:
        f = r.read_frame()
        if f is None:
            return out, r
        out.append(f)
SPECIAL = bytes([0xc0, 0xdb, 0x03, 0xdc, 0xdd, 0xde, 0x00, 0xff]) * 9
"""


def run(runtime, body):
    return runtime(COMMON + body).split()


def test_round_trip_with_every_special_byte(runtime):
    out = run(runtime, """
payload = SPECIAL + bytes(range(256))
wire = encode(0x40, 65535, payload) + encode(0x81, 0, b"")
got, r = frames_of(wire)
print(got == [(0x40, 65535, payload), (0x81, 0, b"")], r.bad, r.noise)
print(b"\\x03" in wire, wire.count(b"\\xc0"))
print(frames.seq_diff(1, 65535), frames.seq_diff(65535, 1), frames.seq_next(65535))
""")
    assert out == ["True", "0", "0", "False", "4", "2", "-2", "0"]


def test_garbage_truncation_crc_and_length_faults_resync(runtime):
    out = run(runtime, """
good = [encode(1, i, bytes([i]) * (40 + i)) for i in range(6)]
bad_crc = bytearray(good[1]); bad_crc[-3] ^= 0x01        # flips a body byte
truncated = good[2][:25]                                  # cut mid-frame
dropped = good[3][:10] + good[3][11:]                     # one byte lost
oversized = b"\\xc0" + frames.encode_header(200000) + b"x" * 50 + b"\\xc0"
bad_header = b"\\xc0\\x7f\\x7f\\x7f\\x7f" + b"junk\\xc0"
wire = (b"noise\\x00\\xff" + good[0] + bytes(bad_crc) + truncated +
        dropped + oversized + bad_header + good[4] + good[4] + good[5])
got, r = frames_of(wire, max_payload=1024)
print([f[1] for f in got])
print(got[0] == (1, 0, bytes([0]) * 40))
print(r.bad >= 4, r.noise > 0)
""")
    # Frames 0, 4 (also replayed: the reader passes it on, sequencing is
    # the agent's job) and 5 survive; the damaged ones are dropped.
    assert out == ["[0,", "4,", "4,", "5]", "True", "True", "True"]


def test_three_ctrl_c_between_frames_interrupt_only_when_asked(runtime):
    out = run(runtime, """
wire = encode(1, 7, b"\\x03\\x03\\x03\\x03") + b"\\x03\\x03\\x03" + encode(1, 8)
r = FrameReader(Stream(wire).read, 64, stop_on_ctrl_c=True)
print(r.read_frame()[1])
try:
    r.read_frame()
    print("no-interrupt")
except Interrupted:
    print("interrupted")
print(r.read_frame()[1])
got, _ = frames_of(wire)
print(len(got))
""")
    assert out == ["7", "interrupted", "8", "2"]


def test_partial_frames_wait_for_the_rest(runtime):
    out = run(runtime, """
wire = encode(2, 9, b"x" * 300)
src = Stream(b"")
r = FrameReader(src.read, 1024)
got = []
for i in range(0, len(wire), 7):
    src.data += wire[i:i + 7]
    f = r.read_frame()
    if f:
        got.append(f)
print(len(got), got[0][1], got[0][2] == b"x" * 300)
""")
    assert out == ["1", "9", "True"]


def test_a_cut_off_frame_ends_at_the_next_END_without_its_length(runtime):
    # A blocking port (MicroPython's stdin) waits for every byte asked of
    # it: asking for more than was sent would hang, as the agent did when a
    # host died mid-frame.  The reader asks at most READ_CHUNK at a time,
    # and the ENDs a new session starts with end the cut-off frame.
    out = run(runtime, """
class Blocking(Stream):
    def read(self, n):
        if n > len(self.data) and self.data:
            raise RuntimeError("would block for %d bytes" % n)
        return Stream.read(self, n)
cut = encode(1, 5, b"x" * 3000)[:1000]
wire = cut + frames.END_B * frames.READ_CHUNK + encode(1, 6, b"y")
r = FrameReader(Blocking(wire).read, 4096)
r.read_chunk = frames.READ_CHUNK
got = []
while True:
    f = r.read_frame()
    if f is None:
        break
    got.append(f)
print(got == [(1, 6, b"y")], r.bad)
""")
    assert out == ["True", "1"]


def test_an_idle_gap_drops_the_unfinished_frame(runtime):
    # A port that polls says None after an idle gap; the agent then drops
    # the frame begun before it and syncs on the next frame's END.
    out = run(runtime, """
class Gappy:
    def __init__(self, pieces):
        self.pieces = pieces
    def read(self, n):
        if not self.pieces:
            return b""
        if self.pieces[0] is None:
            self.pieces.pop(0)
            return None
        out = self.pieces[0][:n]
        self.pieces[0] = self.pieces[0][n:]
        if not self.pieces[0]:
            self.pieces.pop(0)
        return out
good = encode(1, 9, b"z" * 100)
src = Gappy([encode(1, 8, b"x" * 500)[:300], None, good[1:20], None, good])
r = FrameReader(src.read, 4096)
got = []
while True:
    f = r.read_frame()
    if f is None:
        if r.eof:
            break
        r.drop_unfinished()
        continue
    got.append(f)
print(got == [(1, 9, b"z" * 100)], r.bad, r.noise == 299 + 19)
""")
    # The frame cut at the first gap counts as dropped; the stray bytes
    # after it (no END before them) are skipped as noise.
    assert out == ["True", "1", "True"]

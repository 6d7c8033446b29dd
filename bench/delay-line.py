# A delay line for the WAN bench (bench/wan.ts), for kernels without sch_netem: a TUN
# device NAME whose every packet is written back into it DELAY_MS later, in order.
# The link namespace routes what arrives from either side of the instructor's link into
# the device, and what comes back out of it onward (policy routing by incoming
# interface), so each direction is delayed by DELAY_MS. Prints "ready" once the device
# exists; exits on SIGTERM or when its parent dies (the device goes with it).
#   python3 delay-line.py NAME DELAY_MS
import collections
import ctypes
import fcntl
import os
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
PR_SET_PDEATHSIG = 1

name, delay = sys.argv[1], float(sys.argv[2]) / 1000
ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
print('ready', flush=True)

queue = collections.deque()  # (due, packet): one delay for all, so arrival order is due order
poll = select.poll()
poll.register(fd, select.POLLIN)
while True:
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        try:
            os.write(fd, queue.popleft()[1])
        except OSError:
            pass  # the kernel refused one packet (as a full queue would drop it)
    if poll.poll(max(0.0, (queue[0][0] - now) * 1000) if queue else None):
        now = time.monotonic()
        while True:
            try:
                queue.append((now + delay, os.read(fd, 65536)))
            except BlockingIOError:
                break

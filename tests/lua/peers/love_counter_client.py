"""Drives examples/love-counter (the seed example in LÖVE) with two clients; prints facts
as `key value` lines and exits non-zero when a check fails."""
import sys, time, warnings
warnings.simplefilter("ignore")
from websockets.sync.client import connect

URL = "ws://127.0.0.1:%d" % int(sys.argv[1])
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def collect(c, seconds):
    """Numbers received during `seconds`."""
    got, end = [], time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            got.append(int(c.recv(timeout=left)))
        except TimeoutError:
            break
    return got


a = connect(URL)
b = connect(URL)
print("a_port", a.local_address[1], "b_port", b.local_address[1], flush=True)
collect(a, 0.5); collect(b, 0)
ga = collect(a, 2.0)
gb = collect(b, 0.05)
print("a", ga, "\nb", gb, flush=True)
check(12 <= len(ga) <= 28, "a ticks about 10 per second (%d in 2 s)" % len(ga))
check(all(y == x + 1 for x, y in zip(ga, ga[1:])), "a counts up by one")
a.send("reset")
after = collect(a, 0.5)
gb = collect(b, 0.05)
print("a after reset", after, "\nb", gb, flush=True)
# One tick may already be on its way when the reset arrives.
check(0 in after[:2] and after[-1] < 8, "reset sets a back to 0")
check(gb and gb[-1] > 10, "b kept counting (%s)" % gb[-1:])
a.close()
gb = collect(b, 1.5)
print("b after a left", gb, flush=True)
check(7 <= len(gb) <= 21, "b keeps ticking after a disconnected (%d in 1.5 s)" % len(gb))
check(all(y == x + 1 for x, y in zip(gb, gb[1:])), "b counts up by one")
b.close()
sys.exit(1 if failures else 0)

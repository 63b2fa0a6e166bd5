#!/usr/bin/env python3
"""Opens N connections to a running service that each send half a request header and stop,
then times GET /api/v1/health on fresh connections, and counts how many of the half-open
connections the service still holds (right away, and after the header timeout).

    tradai up --backend-port 18100 &      # then:
    python3 scripts/idle-flood.py 127.0.0.1:18100 10000

Needs an open-file limit above N (ulimit -n) for this script.
"""
import socket
import sys
import time
import urllib.request


def still_open(socks):
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) != b"":
                n += 1
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    n = int(sys.argv[2])
    wait = float(sys.argv[3]) if len(sys.argv) > 3 else 11.0
    socks = []
    t0 = time.time()
    for _ in range(n):
        s = socket.create_connection((host, int(port)))
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        socks.append(s)
    opened = time.time() - t0
    times = []
    for _ in range(20):
        a = time.time()
        r = urllib.request.urlopen(f"http://{host}:{port}/api/v1/health", timeout=10)
        r.read()
        assert r.status == 200, r.status
        times.append(time.time() - a)
    times.sort()
    print(f"opened {n} half-header connections in {opened:.1f} s; health 20/20 answered 200, "
          f"median {times[10] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms; still open: {still_open(socks)}")
    time.sleep(wait)
    print(f"after {wait:.0f} s: still open: {still_open(socks)}")


if __name__ == "__main__":
    main()

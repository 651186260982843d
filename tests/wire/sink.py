#!/usr/bin/env python3
"""A sink for the wire tests: listens on 127.0.0.1:PORT over UDP and TCP
for SECONDS and prints how many datagrams and connections arrived (loopback
only, bounded in time). usage: sink.py PORT SECONDS"""
import select
import socket
import sys
import time


def main():
    port, secs = int(sys.argv[1]), float(sys.argv[2])
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("127.0.0.1", port))
    t.listen(8)
    got = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        r, _, _ = select.select([u, t], [], [], max(0, end - time.monotonic()))
        for s in r:
            if s is u:
                u.recvfrom(65536)
            else:
                c, _ = t.accept()
                c.close()
            got += 1
            print(got, flush=True)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

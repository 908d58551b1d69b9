"""A tiny authoritative DNS server for tests: answers A queries for the names it is given, NXDOMAIN for
every other name, and records every name it was asked for (so a test sees what the resolver asked).
UDP only, one thread, loopback or a test's own network namespace only.

    python3 tiny_dns.py ADDRESS [--drop SUFFIX] [--slow SUFFIX=MS] NAME=IP [NAME=IP ...]
                                   prints "ready", then one line per query, on stderr
With --drop, a query for a name ending in SUFFIX is never answered (a name server that hangs). With
--slow, one for a name ending in SUFFIX is answered MS milliseconds late (a far-away name server).
"""
import heapq
import select
import socket
import struct
import sys
import time


def parse_name(packet, at):
    labels = []
    while True:
        n = packet[at]
        at += 1
        if n == 0:
            return ".".join(labels), at
        if n & 0xC0:  # compression is not used in queries
            raise ValueError("compressed name")
        labels.append(packet[at:at + n].decode("ascii", "replace"))
        at += n


def answer(packet, records):
    ident, flags, qd, _, _, _ = struct.unpack(">HHHHHH", packet[:12])
    name, at = parse_name(packet, 12)
    qtype, qclass = struct.unpack(">HH", packet[at:at + 4])
    question = packet[12:at + 4]
    ip = records.get(name.lower().rstrip("."))
    rd = flags & 0x0100
    if ip is None:  # NXDOMAIN, authoritative
        return name, struct.pack(">HHHHHH", ident, 0x8403 | rd, 1, 0, 0, 0) + question
    if qtype != 1:  # the name exists, but has no record of that type (AAAA): NOERROR, no answer
        return name, struct.pack(">HHHHHH", ident, 0x8400 | rd, 1, 0, 0, 0) + question
    rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
    return name, struct.pack(">HHHHHH", ident, 0x8400 | rd, 1, 1, 0, 0) + question + rr


def main():
    address = sys.argv[1]
    args = sys.argv[2:]
    drop = None
    slow, slow_ms = None, 0
    while args[:1] in (["--drop"], ["--slow"]):
        if args[0] == "--drop":
            drop = args[1].lower()
        else:
            slow, ms = args[1].lower().split("=", 1)
            slow_ms = int(ms)
        args = args[2:]
    records = dict(a.split("=", 1) for a in args)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, 53))
    print("ready", file=sys.stderr, flush=True)
    late = []  # (when, sequence, reply, peer): answers held back, in time order
    sequence = 0
    while True:
        now = time.monotonic()
        while late and late[0][0] <= now:
            _, _, reply, peer = heapq.heappop(late)
            s.sendto(reply, peer)
        wait = max(0.0, late[0][0] - now) if late else None
        if not select.select([s], [], [], wait)[0]:
            continue
        packet, peer = s.recvfrom(4096)
        try:
            name, reply = answer(packet, records)
        except (ValueError, IndexError, struct.error):
            continue
        print("query %s" % name, file=sys.stderr, flush=True)
        bare = name.lower().rstrip(".")
        if drop and bare.endswith(drop):
            continue
        if slow and bare.endswith(slow):
            sequence += 1
            heapq.heappush(late, (time.monotonic() + slow_ms / 1000.0, sequence, reply, peer))
            continue
        s.sendto(reply, peer)

if __name__ == "__main__":
    main()

"""A tiny authoritative DNS server for tests: answers A queries for the names it is given, NXDOMAIN for
every other name, and records every name it was asked for (so a test sees what the resolver asked).
UDP only, one thread, loopback or a test's own network namespace only.

    python3 tiny_dns.py ADDRESS [--drop SUFFIX] NAME=IP [NAME=IP ...]
                                   prints "ready", then one line per query, on stderr
With --drop, a query for a name ending in SUFFIX is never answered (a name server that hangs).
"""
import socket
import struct
import sys


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
    if args[:1] == ["--drop"]:
        drop, args = args[1].lower(), args[2:]
    records = dict(a.split("=", 1) for a in args)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, 53))
    print("ready", file=sys.stderr, flush=True)
    while True:
        packet, peer = s.recvfrom(4096)
        try:
            name, reply = answer(packet, records)
        except (ValueError, IndexError, struct.error):
            continue
        print("query %s" % name, file=sys.stderr, flush=True)
        if drop and name.lower().rstrip(".").endswith(drop):
            continue
        s.sendto(reply, peer)


if __name__ == "__main__":
    main()

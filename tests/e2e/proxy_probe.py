"""One request through a proxy, timed: what a client sees of the proxy's reply and of the target's
answer. Used by test_early_reply.py, inside its network namespace.

    python3 proxy_probe.py socks5|connect|http PROXY_PORT HOST PORT [--body BYTES] [--pause-ms MS]
                           [--leave fin|rst]

Sends a POST of BYTES bytes (default 100) to http://HOST:PORT/ through the proxy on 127.0.0.1 and
prints one JSON object:
  reply_ms        when the proxy's own reply came (SOCKS5 reply, or CONNECT's status line); absent for
                  plain HTTP, which has none of its own
  reply           "ok", or the SOCKS5 REP byte / HTTP status of a refusal
  first_byte_ms   when the first byte of the target's answer came
  outcome         "answer" (a whole HTTP response), "reset", "eof" (closed with nothing or half an
                  answer), or "refused" (the proxy's reply said no)
  status, body    the HTTP status and body that came back
The request body goes right behind the proxy's reply, without waiting for anything else, as a TLS
ClientHello would (or MS later, with --pause-ms). With --leave the client goes away right after
sending it, with a FIN or a RST, without reading an answer: outcome "left".
"""
import hashlib
import json
import os
import socket
import struct
import sys
import time


def read_response(s, started, out):
    data = b""
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            out["outcome"] = "reset"
            return
        if not b:
            break
        if "first_byte_ms" not in out:
            out["first_byte_ms"] = (time.monotonic() - started) * 1000
        data += b
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = next((int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")
                           if l.lower().startswith(b"content-length:")), None)
            if length is not None and len(body) >= length:
                out["outcome"] = "answer"
                out["status"] = int(head.split(b" ", 2)[1])
                out["body"] = body[:length].decode(errors="replace")
                return
    out["outcome"] = "eof"
    out["got"] = len(data)


def main():
    kind, port, host, target_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    size = int(sys.argv[sys.argv.index("--body") + 1]) if "--body" in sys.argv else 100
    # Send the request this long after the proxy's reply (a client slow to speak after the handshake).
    pause_ms = int(sys.argv[sys.argv.index("--pause-ms") + 1]) if "--pause-ms" in sys.argv else 0
    leave = sys.argv[sys.argv.index("--leave") + 1] if "--leave" in sys.argv else None
    body = os.urandom(size)
    path = "http://%s:%d/" % (host, target_port) if kind == "http" else "/"
    request = (b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
               % (path.encode(), host.encode(), target_port, size)) + body
    out = {"sent_sha256": hashlib.sha256(body).hexdigest()}
    started = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if kind == "socks5":
            s.sendall(b"\x05\x01\x00")
            assert s.recv(2) == b"\x05\x00"
            name = host.encode()
            s.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + target_port.to_bytes(2, "big"))
            reply = b""
            while len(reply) < 10:
                b = s.recv(10 - len(reply))
                if not b:
                    break
                reply += b
            out["reply_ms"] = (time.monotonic() - started) * 1000
            if len(reply) < 2 or reply[1] != 0:
                out["reply"] = reply[1] if len(reply) > 1 else "eof"
                out["outcome"] = "refused"
                return out
        elif kind == "connect":
            s.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), target_port,
                                                                         host.encode(), target_port))
            head = b""
            while b"\r\n\r\n" not in head:
                b = s.recv(1)
                if not b:
                    break
                head += b
            out["reply_ms"] = (time.monotonic() - started) * 1000
            status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
            if status != 200:
                out["reply"] = status
                out["outcome"] = "refused"
                return out
        out["reply"] = "ok"
        time.sleep(pause_ms / 1000)
        try:
            s.sendall(request)
        except (ConnectionResetError, BrokenPipeError):
            out["outcome"] = "reset"
            return out
        if leave:
            if leave == "rst":  # close() sends RST (SO_LINGER with a zero timeout)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            out["outcome"] = "left"
            return out
        read_response(s, started, out)
    finally:
        s.close()
    return out


if __name__ == "__main__":
    print(json.dumps(main()))

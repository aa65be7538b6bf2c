"""Readiness gates and port choice for the real-stack suites (harness.sh).

  wait_ready.py http --pid PID (--tcp HOST:PORT | --unix PATH) [--path P] [--timeout S]
      until the server answers an HTTP request with any status line
  wait_ready.py pg --pid PID --dsn DSN [--timeout S]
      until PostgreSQL answers SELECT 1 (psycopg, from the suite's virtualenv)
  wait_ready.py redis --pid PID --tcp HOST:PORT [--timeout S]
      until Redis answers PING with +PONG
  wait_ready.py free-ports COUNT
      print a base port B in 18000-18900 such that B .. B+COUNT-1 are all free
      on 127.0.0.1, so that runs on one machine do not collide

The gates give up early, with the reason, when the server's process has died.
They do not use healthprobe: a broken probe must fail its own cases, not setup.
"""
import argparse
import http.client
import os
import socket
import sys
import time

POLL = 0.05


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of the suite has exited but still answers kill(0).
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def poll(what, pid, timeout, attempt):
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while True:
        if not alive(pid):
            sys.exit(f"wait_ready: {what}: process {pid} exited (last error: {last})")
        try:
            attempt()
            return
        except Exception as error:  # any failure means "not yet"
            last = f"{type(error).__name__}: {error}"
        if time.monotonic() >= deadline:
            sys.exit(f"wait_ready: {what}: not ready after {timeout}s (last error: {last})")
        time.sleep(POLL)


def http_ready(args):
    def attempt():
        if args.unix:
            conn = UnixHTTPConnection(args.unix, timeout=2)
        else:
            host, port = args.tcp.rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port), timeout=2)
        try:
            conn.request("GET", args.path)
            conn.getresponse().read()
        finally:
            conn.close()

    poll(args.unix or args.tcp, args.pid, args.timeout, attempt)


def pg_ready(args):
    import psycopg

    def attempt():
        with psycopg.connect(args.dsn, connect_timeout=2) as conn:
            conn.execute("SELECT 1").fetchone()

    poll("postgresql", args.pid, args.timeout, attempt)


def redis_ready(args):
    def attempt():
        host, port = args.tcp.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
        if not reply.startswith(b"+PONG"):
            raise ValueError(f"PING answered {reply!r}")

    poll("redis", args.pid, args.timeout, attempt)


def free_ports(args):
    for base in range(18000, 19000, 100):
        sockets = []
        try:
            for port in range(base, base + args.count):
                sock = socket.socket()
                sockets.append(sock)
                # As the servers do: a port whose old connections linger in
                # TIME_WAIT is free for them.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        print(base)
        return
    sys.exit("wait_ready: no free block of ports in 18000-18999")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    http_p = sub.add_parser("http")
    http_p.add_argument("--pid", type=int, required=True)
    target = http_p.add_mutually_exclusive_group(required=True)
    target.add_argument("--tcp")
    target.add_argument("--unix")
    http_p.add_argument("--path", default="/healthz")
    http_p.add_argument("--timeout", type=float, default=30)
    pg_p = sub.add_parser("pg")
    pg_p.add_argument("--pid", type=int, required=True)
    pg_p.add_argument("--dsn", required=True)
    pg_p.add_argument("--timeout", type=float, default=30)
    redis_p = sub.add_parser("redis")
    redis_p.add_argument("--pid", type=int, required=True)
    redis_p.add_argument("--tcp", required=True)
    redis_p.add_argument("--timeout", type=float, default=30)
    ports_p = sub.add_parser("free-ports")
    ports_p.add_argument("count", type=int)
    args = parser.parse_args()
    {"http": http_ready, "pg": pg_ready, "redis": redis_ready, "free-ports": free_ports}[args.command](args)


if __name__ == "__main__":
    main()

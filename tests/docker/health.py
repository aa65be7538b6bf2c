"""Reads `docker inspect` JSON on stdin for tests/docker/run.sh.

  health.py status             the container's health status (or "none")
  health.py last               the last health-log entry: "EXIT<TAB>OUTPUT" (one line)
  health.py codes              every exit code in the health log, space-separated
  health.py outputs            every health-log output, one a line, newlines folded
  health.py durations          each health-log entry's End - Start, in milliseconds
  health.py test               the configured health-check command, as JSON
"""
import json
import signal
import sys
from datetime import datetime


def when(text):
    # Docker's RFC 3339 with nanoseconds: keep microseconds for fromisoformat.
    date, _, rest = text.partition(".")
    digits = "".join(c for c in rest if c.isdigit())
    zone = rest[len(digits):]
    zone = "+00:00" if zone in ("Z", "") else zone
    return datetime.fromisoformat(f"{date}.{digits[:6].ljust(6, '0')}{zone}")


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # a reader that stops early (grep -m1)
    doc = json.load(sys.stdin)
    if isinstance(doc, list):
        doc = doc[0]
    health = (doc.get("State") or {}).get("Health") or {}
    log = health.get("Log") or []
    what = sys.argv[1]
    if what == "status":
        print(health.get("Status") or "none")
    elif what == "last":
        if log:
            entry = log[-1]
            print(f"{entry['ExitCode']}\t{' '.join(entry['Output'].split())}")
    elif what == "codes":
        print(" ".join(str(e["ExitCode"]) for e in log))
    elif what == "outputs":
        for e in log:
            print(" ".join(e["Output"].split()))
    elif what == "durations":
        for e in log:
            print(round((when(e["End"]) - when(e["Start"])).total_seconds() * 1000, 1))
    elif what == "test":
        print(json.dumps(((doc.get("Config") or {}).get("Healthcheck") or {}).get("Test")))
    else:
        sys.exit(f"health.py: unknown query {what}")


main()

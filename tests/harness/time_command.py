"""Run a command and record how long it took on the monotonic clock.

  time_command.py MICROSECONDS_FILE COMMAND...

Exits with the command's status; stdin, stdout and stderr pass through. Used
by harness.sh for the cases with time bounds: bash's $EPOCHREALTIME is the wall
clock, which NTP may slew while the probe measures its deadline monotonically.
"""
import subprocess
import sys
import time

start = time.monotonic()
status = subprocess.run(sys.argv[2:]).returncode
elapsed = time.monotonic() - start
with open(sys.argv[1], "w") as out:
    out.write(f"{round(elapsed * 1_000_000)}\n")
sys.exit(status if status >= 0 else 128 - status)

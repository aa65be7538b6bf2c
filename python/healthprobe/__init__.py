"""healthprobe: the static HTTP health probe, installed by pip.

The wheel puts the `healthprobe` executable on the PATH of the environment
(a venv's bin/ or the image's /usr/local/bin/). This package holds the
Python side: `healthprobe.django`, the /healthz and /readyz endpoints, and
`healthprobe.celery`, heartbeat files for Celery workers and beat. Each
imports its framework only when it is imported itself.
"""

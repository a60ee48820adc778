"""The lifecycle states of a cell, in the order a cell moves through them.

Kept apart so that refs and dispatchers can test a cell's state without importing
the cell module. Order matters: ``state >= STOPPING`` means "on its way out".
"""

STARTING = 0
RUNNING = 1
SUSPENDED = 2
RESTARTING = 3
STOPPING = 4
FINALIZING = 5
TERMINATED = 6

STATE_NAMES = (
    "starting",
    "running",
    "suspended",
    "restarting",
    "stopping",
    "finalizing",
    "terminated",
)

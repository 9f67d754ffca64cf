"""Several processes and devices: the ranks of a job and their collectives (distributed), starting
them (launch), GPU slots on a shared machine, and the guard against hidden host syncs."""

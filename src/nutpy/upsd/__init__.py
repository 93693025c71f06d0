"""upsd: the NUT network server (TCP 3493), drop-in for C upsd."""

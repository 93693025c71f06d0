"""upsmon and upssched: the monitor that shuts the machine down before its UPS runs dry.

Pure cores (no sockets, clocks or files): ``notify`` (event types, messages, flags),
``config`` (upsmon.conf), ``monitor`` (the state machine), ``schedconf`` and ``timers``
(upssched.conf and the timer daemon's state). The programs around them: ``main``
(upsmon), ``privsep`` (its processes), ``poller`` (network I/O), ``upssched``.
"""

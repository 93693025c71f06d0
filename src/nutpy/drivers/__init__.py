"""NUT drivers: the shared core (``core``, ``state``, ``sockserver``) and the drivers."""

"""nutpy: Network UPS Tools reimplemented in Python."""

# The NUT release whose behaviour we reproduce; reported wherever C prints its version.
NUT_VERSION = "2.8.0"
__version__ = "0.1.0"

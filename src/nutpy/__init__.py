"""nutpy: Network UPS Tools reimplemented in Python."""

# The NUT release whose outputs and protocol replies ours are checked against byte for byte
# (Debian's); parts that follow a later release say so in their docs. Machine-read values
# (server.version, driver.version) carry it as it is.
NUT_VERSION = "2.8.0"
__version__ = "0.1.0"
# Where C prints its version in text (banners, -V, VER, server.info), we print this. NUT's
# own version text carries a qualifier after the number for anything but a plain release
# ("2.8.2.1249-g0d11a12f5 (development iteration after 2.8.2)"), and distributions put
# their product name there; readers of these lines already stop at the number.
VERSION_TEXT = f"{NUT_VERSION} (nutpy {__version__})"

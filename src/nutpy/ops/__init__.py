"""Running nutpy on a server: systemd units, the driver enumerator, the configuration check."""

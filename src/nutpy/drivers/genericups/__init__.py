"""genericups: contact-closure UPSes on a serial port's modem lines."""

"""usbhid-ups: UPSes of the USB HID Power Device Class (C NUT's drivers/usbhid-ups.c and its
*-hid.c subdrivers)."""

"""The Q* drivers over USB (nutdrv_qx's USB half and blazer_usb): one module per
USB-to-serial bridge ("subdriver" in C NUT: how a Megatec command and its reply travel over
USB), the device tables that choose one from the vendor and product IDs and strings, and
the ``transport`` that gives the Q* engine its ``command(bytes) -> bytes`` over them."""

from __future__ import annotations

from dataclasses import dataclass

SUPPORTED, POSSIBLY_SUPPORTED, NOT_SUPPORTED = 1, 2, 0

# nutdrv_qx's subdrivers in C's order (its -h lists them so)
QX_SUBDRIVERS = ("cypress", "phoenixtec", "phoenix", "ippon", "krauler", "fabula", "hunnox",
                 "fuji", "sgs", "snr", "ablerex", "armac", "gtec")
BLAZER_SUBDRIVERS = ("cypress", "phoenix", "ippon", "krauler")


@dataclass(frozen=True)
class DeviceId:
    vendor_id: int
    product_id: int
    vendor: str | None      # iManufacturer, compared without case (None: any)
    product: str | None     # iProduct
    subdriver: str | None   # None: known, but C has no subdriver for it


# C 2.8.5's qx_usb_id: the first entry that fits picks the subdriver
QX_DEVICES = (
    DeviceId(0x05B8, 0x0000, None, None, "cypress"),         # Agiler UPS
    DeviceId(0xFFFF, 0x0000, None, None, "ablerex"),         # Ablerex 625L USB
    DeviceId(0x1CB0, 0x0035, None, None, "krauler"),         # Legrand Daker DK / DK Plus
    DeviceId(0x0665, 0x5161, None, None, "cypress"),         # Belkin F6C1200-UNV, Voltronic
    DeviceId(0x06DA, 0x0002, "Phoenixtec Power", "USB Cable (V2.00)", "phoenixtec"),
    DeviceId(0x06DA, 0x0002, None, None, "cypress"),         # Online Yunto YQ450
    DeviceId(0x06DA, 0x0003, None, None, "ippon"),           # Mustek Powermust
    DeviceId(0x06DA, 0x0004, None, None, "cypress"),         # Phoenixtec Innova 3/1 T
    DeviceId(0x06DA, 0x0005, None, None, "cypress"),         # Phoenixtec Innova RT
    DeviceId(0x06DA, 0x0201, None, None, "cypress"),         # Phoenixtec Innova T
    DeviceId(0x06DA, 0x0601, None, None, "phoenix"),         # Online Zinto A
    DeviceId(0x0F03, 0x0001, None, None, "cypress"),         # Unitek Alpha 1200Sx
    DeviceId(0x14F0, 0x00C9, None, None, "phoenix"),         # GE EP series
    DeviceId(0x1A86, 0x7523, None, None, None),              # Ippon Innova TAE (CH340)
    DeviceId(0x0483, 0x0035, None, None, "sgs"),             # TS Shara
    DeviceId(0x0001, 0x0000, "MEC", "MEC0003", "fabula"),    # Fideltronik/MEC LUPUS 500
    DeviceId(0x0001, 0x0000, None, "MEC0003", "hunnox"),     # Hunnox HNX 850
    DeviceId(0x0001, 0x0000, "ATCL FOR UPS", "ATCL FOR UPS", "fuji"),  # Fuji
    DeviceId(0x0001, 0x0000, None, None, "krauler"),         # Krauler UP-M500VA
    DeviceId(0x0001, 0x0000, None, "MEC0003", "snr"),        # SNR-UPS-LID (never reached)
    DeviceId(0x0925, 0x1234, None, None, "armac"),           # Armac (Richcomm bridge)
)

# blazer_usb's table (IDs only)
BLAZER_DEVICES = (
    DeviceId(0x05B8, 0x0000, None, None, "cypress"),
    DeviceId(0x0001, 0x0000, None, None, "krauler"),
    DeviceId(0xFFFF, 0x0000, None, None, "krauler"),
    DeviceId(0x0665, 0x5161, None, None, "cypress"),
    DeviceId(0x06DA, 0x0002, None, None, "cypress"),
    DeviceId(0x06DA, 0x0003, None, None, "ippon"),
    DeviceId(0x06DA, 0x0004, None, None, "cypress"),
    DeviceId(0x06DA, 0x0005, None, None, "cypress"),
    DeviceId(0x06DA, 0x0201, None, None, "cypress"),
    DeviceId(0x06DA, 0x0601, None, None, "phoenix"),
    DeviceId(0x0F03, 0x0001, None, None, "cypress"),
    DeviceId(0x14F0, 0x00C9, None, None, "phoenix"),
)


def lookup(table, vendor_id: int, product_id: int, vendor: str | None,
           product: str | None) -> tuple[int, DeviceId | None]:
    """C's ``qx_is_usb_device_supported``: (SUPPORTED and the entry, POSSIBLY_SUPPORTED for
    a known vendor, or NOT_SUPPORTED)."""
    result = NOT_SUPPORTED
    for entry in table:
        if entry.vendor_id != vendor_id:
            continue
        result = POSSIBLY_SUPPORTED
        if entry.product_id != product_id:
            continue
        if entry.vendor is not None and (vendor is None or
                                         entry.vendor.lower() != vendor.lower()):
            continue
        if entry.product is not None and (product is None or
                                          entry.product.lower() != product.lower()):
            continue
        return SUPPORTED, entry
    return result, None


_CLASSES = {"cypress": "Cypress", "phoenixtec": "Phoenixtec", "phoenix": "Phoenix",
            "ippon": "Ippon", "krauler": "Krauler", "fabula": "Fabula", "hunnox": "Hunnox",
            "fuji": "Fuji", "sgs": "Sgs", "snr": "Snr", "ablerex": "Ablerex", "armac": "Armac",
            "gtec": "Gtec"}


def framing(name: str, opts, blazer: bool = False):
    """The subdriver called ``name`` (one of QX_SUBDRIVERS), ready to use; ``blazer``
    selects blazer_usb's variant where it differs."""
    import importlib

    module = importlib.import_module(f"{__name__}.{name}")
    return getattr(module, _CLASSES[name])(opts, blazer=blazer)

"""The upsd network protocol (TCP 3493): vocabulary shared by upsd and every client.

Requests and replies are parseconf-tokenized lines (``parseconf``). This module holds the
error codes, the client-side messages C's libupsclient prints for them, the fixed texts
and the reply-line builder, so both sides speak from one table.
"""

from __future__ import annotations

NETVER = "1.3"
PORT = 3493  # the IANA port of the NUT network protocol
MAX_REPLY = 512  # C truncates a reply line to 512 bytes, losing the LF

# Error codes upsd sends (after "ERR ").
ACCESS_DENIED = "ACCESS-DENIED"
UNKNOWN_UPS = "UNKNOWN-UPS"
VAR_NOT_SUPPORTED = "VAR-NOT-SUPPORTED"
CMD_NOT_SUPPORTED = "CMD-NOT-SUPPORTED"
INVALID_ARGUMENT = "INVALID-ARGUMENT"
INSTCMD_FAILED = "INSTCMD-FAILED"
SET_FAILED = "SET-FAILED"
READONLY = "READONLY"
TOO_LONG = "TOO-LONG"
INVALID_VALUE = "INVALID-VALUE"
FEATURE_NOT_SUPPORTED = "FEATURE-NOT-SUPPORTED"
FEATURE_NOT_CONFIGURED = "FEATURE-NOT-CONFIGURED"
ALREADY_SSL_MODE = "ALREADY-SSL-MODE"
DRIVER_NOT_CONNECTED = "DRIVER-NOT-CONNECTED"
DATA_STALE = "DATA-STALE"
ALREADY_LOGGED_IN = "ALREADY-LOGGED-IN"
ALREADY_SET_PASSWORD = "ALREADY-SET-PASSWORD"
ALREADY_SET_USERNAME = "ALREADY-SET-USERNAME"
USERNAME_REQUIRED = "USERNAME-REQUIRED"
PASSWORD_REQUIRED = "PASSWORD-REQUIRED"
UNKNOWN_COMMAND = "UNKNOWN-COMMAND"

# libupsclient's text for each code (matched by prefix of the text after "ERR ").
CLIENT_MESSAGES = [
    ("VAR-NOT-SUPPORTED", "Variable not supported by UPS"),
    ("UNKNOWN-UPS", "Unknown UPS"),
    ("ACCESS-DENIED", "Access denied"),
    ("PASSWORD-REQUIRED", "Password required"),
    ("PASSWORD-INCORRECT", "Password incorrect"),
    ("MISSING-ARGUMENT", "Missing argument"),
    ("DATA-STALE", "Data stale"),
    ("VAR-UNKNOWN", "Variable unknown"),
    ("ALREADY-LOGGED-IN", "Already logged in"),
    ("ALREADY-SET-PASSWORD", "Already set password"),
    ("UNKNOWN-TYPE", "Unknown variable type"),
    ("UNKNOWN-VAR", "Unknown variable"),
    ("READONLY", "Read-only variable"),
    ("TOO-LONG", "New value is too long"),
    ("INVALID-VALUE", "Invalid value for variable"),
    ("SET-FAILED", "Set command failed"),
    ("UNKNOWN-INSTCMD", "Unknown instant command"),
    ("INSTCMD-FAILED", "Instant command failed"),
    ("CMD-NOT-SUPPORTED", "Instant command not supported"),
    ("INVALID-USERNAME", "Invalid username"),
    ("ALREADY-SET-USERNAME", "Already set username"),
    ("UNKNOWN-COMMAND", "Unknown command"),
    ("INVALID-PASSWORD", "Invalid password"),
    ("USERNAME-REQUIRED", "Username required"),
    ("DRIVER-NOT-CONNECTED", "Driver not connected"),
]


def client_message(err_text: str) -> str:
    """The message C clients print for the text after ``ERR ``."""
    for code, message in CLIENT_MESSAGES:
        if err_text.startswith(code):
            return message
    return "Unknown error"


def err(code: str) -> bytes:
    return f"ERR {code}\n".encode()


def reply(*words: str) -> bytes:
    """One reply line, cut to 512 bytes as C does (the LF is lost when cut)."""
    data = (" ".join(words) + "\n").encode("latin-1", "replace")
    if len(data) > MAX_REPLY:
        data = data[:MAX_REPLY]
    return data

"""What the client programs share: POSIX getopt with glibc's messages, C ``fatalx``,
connecting with libupsclient's error texts, and the username/password prompts.

Kept light on imports: ``upsc`` start-up time is a requirement."""


import os
import sys

from .. import VERSION_TEXT  # noqa: F401  (the clients print it as _cli.VERSION_TEXT)
from ..client.blocking import Client
from ..client.core import NutError, ServerError, split_name

DEFAULT_CONNECT_TIMEOUT = 10.0  # libupsclient (2.8.1+) default; NUT_DEFAULT_CONNECT_TIMEOUT


def err(text: str) -> None:
    """A line on stderr at once, as C writes its messages (``common.cliopt.err``, which is
    loaded only for command lines with options)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class _NoOptions:
    """What ``GetOpt`` gives for a command line that starts with an operand."""

    def __init__(self, operands: list[str]) -> None:
        self.operands = operands

    def __iter__(self):
        return iter(())


def getopt(argv: list[str], optstring: str):
    """The program's options, C getopt's way (``common.cliopt.GetOpt``). A command line
    whose first argument is no option (``upsc ups@host var``, what shell loops run) has none
    for getopt, which stops right there: the parser is not even loaded then."""
    if len(argv) < 2 or argv[1][:1] != "-" or argv[1] == "-":
        return _NoOptions(argv[1:])
    from ..common.cliopt import GetOpt
    return GetOpt(argv, optstring)


class Exit(Exception):
    """Raised to leave ``main`` with a status after output has been written."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def fatal(text: str, status: int = 1) -> None:
    """C ``fatalx``: the message on stderr, then exit."""
    out_flush()
    err(text)
    raise Exit(status)


_out: list[str] = []


def out(text: str) -> None:
    """Buffered stdout (C stdout to a pipe is fully buffered; one write at the end)."""
    _out.append(text)


def out_flush() -> None:
    if _out:
        data = "".join(_out).encode("latin-1", "replace")
        _out.clear()
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        except BrokenPipeError:
            pass


def _report_discarded(ch: int) -> None:
    if ch > 0x7F:  # C passes a signed char to %02x: sign-extended
        ch = (ch - 0x100) & 0xFFFFFFFF
    err(f"addchar: discarding invalid character (0x{ch:02x})!")


def run(main, argv: list[str] | None = None) -> int:
    """Run a program ``main(argv)``; returns its exit status with stdout flushed."""
    if argv is None:
        argv = sys.argv
    from ..client import core
    core.on_discarded_char = _report_discarded
    try:
        status = main(argv) or 0
    except Exit as e:
        status = e.status
    except KeyboardInterrupt:
        status = 130
    out_flush()
    return status


def leave(status: int) -> None:
    """Exit with ``status`` the way C's ``exit()`` does: output flushed, and no more. The
    interpreter's own shutdown (tearing down every module, a last garbage collection) does
    nothing a client program needs and costs a fifth of ``python -c pass``."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status & 0xFF)


def prog_name(argv: list[str], default: str) -> str:
    return os.path.basename(argv[0]) if argv and argv[0] else default


def connect_timeout() -> float | None:
    value = os.environ.get("NUT_DEFAULT_CONNECT_TIMEOUT")
    if value:
        try:
            t = float(value)
            return t if t > 0 else None
        except ValueError:
            pass
    return DEFAULT_CONNECT_TIMEOUT


def parse_ups(text: str | None, message: str) -> tuple[str, str, int]:
    """``ups[@host[:port]]``; on error print what C prints and exit 1."""
    try:
        return split_name(text)
    except ValueError as e:
        if e.args and e.args[0]:
            err(e.args[0])
        fatal(message)
        raise  # not reached


OLD_UPSD = "upsd is too old to support this query"


def list_error(e: NutError) -> str:
    """The text C's clients print when a LIST fails: upsd answering UNKNOWN-COMMAND is
    taken for a release that predates the query."""
    if isinstance(e, ServerError) and e.code == "UNKNOWN-COMMAND":
        return OLD_UPSD
    return e.message


def connect(host: str, port: int, timeout: float | None = -1.0) -> Client:
    """A connected ``Client``, or ``Error: <libupsclient message>`` and exit 1."""
    try:
        return Client(host, port, tls="try",
                      connect_timeout=connect_timeout() if timeout == -1.0 else timeout)
    except NutError as e:
        fatal(f"Error: {e.message}")
        raise


def disconnect(client: Client | None) -> None:
    """Like ``upscli_disconnect``: a LOGOUT without waiting for the answer, then close."""
    if client is None or client.sock is None:
        return
    try:
        client.sock.sendall(b"LOGOUT\n")
    except OSError:
        pass
    client.close()


def read_line_stdin() -> str | None:
    """C ``fgets`` on stdin (line kept with its LF); None at EOF."""
    out_flush()
    line = sys.stdin.readline()
    return line if line else None


def login_name() -> str | None:
    try:
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return None


def prompt_username() -> str:
    """``Username (<login>): `` on stdout; an empty answer means the login name."""
    name = login_name()
    out(f"Username ({name}): " if name else "Username: ")
    return name or ""


def parse_timeout(text: str) -> int:
    """``-t`` of upscmd/upsrw: NUT ``str_to_uint`` (spaces trimmed, digits only), with
    C's ``fatal_with_errno`` message on failure."""
    stripped = text.strip(" \t\n\r\v\f")
    if not stripped or not stripped.isdigit() or not stripped.isascii():
        reason = "Invalid argument"
    elif int(stripped) > 0xFFFFFFFF:
        reason = "Numerical result out of range"
    else:
        return int(stripped)
    fatal("Could not convert the provided value for timeout ('-t' option) to unsigned int: "
          + reason)
    raise AssertionError  # not reached


def tty_getpass(prompt: str = "Password: ") -> str:
    """glibc ``getpass``: prompt and read on /dev/tty with echo off; without a terminal,
    prompt on stderr and read a line from stdin. The trailing LF is dropped."""
    out_flush()
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        fd = -1
    if fd < 0:
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    import termios
    with os.fdopen(fd, "r+b", buffering=0) as tty:
        old = termios.tcgetattr(fd)
        new = termios.tcgetattr(fd)
        new[3] &= ~termios.ECHO
        try:
            termios.tcsetattr(fd, termios.TCSAFLUSH, new)
            tty.write(prompt.encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = tty.read(1)
                if not chunk:
                    break
                data += chunk
        finally:
            termios.tcsetattr(fd, termios.TCSAFLUSH, old)
            tty.write(b"\n")
    return data.decode("latin-1").rstrip("\n")


def send_credentials(client, username: str, password: str) -> None:
    """USERNAME/PASSWORD as upscmd/upsrw send them: raw (not escaped), and the replies
    only read, not checked (upsd verifies them when the action runs). C's "unknown
    command" variant of the failure message cannot happen: the reply is never parsed."""
    try:
        client.send(f"USERNAME {username}\n".encode("latin-1", "replace"))
    except NutError as e:
        fatal(f"Can't set username: {e.message}")
    try:
        client.readline()
    except NutError as e:
        fatal(f"Set username failed: {e.message}")
    try:
        client.send(f"PASSWORD {password}\n".encode("latin-1", "replace"))
    except NutError as e:
        fatal(f"Can't set password: {e.message}")
    try:
        client.readline()
    except NutError as e:
        fatal(f"Set password failed: {e.message}")


def enable_tracking(client, what: str) -> None:
    try:
        client.send(b"SET TRACKING ON\n")
    except NutError as e:
        fatal(f"Can't enable {what} status tracking: {e.message}")
    try:
        line = client.readline()
    except NutError as e:
        fatal(f"Enabling {what} status tracking failed: {e.message}")
    if not line.startswith("OK"):
        fatal(f"Enabling {what} status tracking failed. upsd answered: {line}")


def send_action(client, request: str, send_fail: str, read_fail: str, tracking: bool,
                timeout: int) -> None:
    """Send INSTCMD/SET VAR the C way and report on stderr: the reply (``OK``), or with
    tracking the final ``GET TRACKING`` status; a non-OK reply is fatal."""
    import time
    try:
        client.send(request.encode("latin-1", "replace"))
    except NutError as e:
        fatal(f"{send_fail}: {e.message}")
    try:
        line = client.readline()
    except NutError as e:
        fatal(f"{read_fail}: {e.message}")
    if not line.startswith("OK"):
        fatal(f"Unexpected response from upsd: {line}")
    if not tracking or len(line) != len("OK TRACKING ") + 36:
        err(line)
        return
    tracking_id = line[len("OK TRACKING "):]
    start = int(time.time())
    while True:
        if int(time.time()) - start >= timeout:
            fatal("Can't receive status tracking information: timeout")
        try:
            client.send(f"GET TRACKING {tracking_id}\n".encode())
        except NutError as e:
            fatal(f"Can't send status tracking request: {e.message}")
        try:
            line = client.readline(timeout=float(timeout))
        except NutError as e:
            fatal(f"Can't receive status tracking information: {e.message}")
        if not line.startswith("PENDING"):
            break
        time.sleep(1)
    err(line)

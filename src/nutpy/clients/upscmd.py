"""upscmd: list and run instant commands (C ``clients/upscmd.c``, 2.8.0 output)."""


from ..client.core import DEFAULT_TRACKING_TIMEOUT, SMALLBUF_TEXT, NutError
from . import _cli
from ._cli import fatal, out


def usage(prog: str) -> None:
    out(f"Network UPS Tools upscmd {_cli.VERSION_TEXT}\n\n"
        f"usage: {prog} [-h]\n"
        f"       {prog} [-l <ups>]\n"
        f"       {prog} [-u <username>] [-p <password>] [-w] [-t <timeout>] <ups> <command> [<value>]\n\n"
        "Ask a UPS to run one of its instant commands.\n"
        "\n"
        "  -h\t\tprint this help and exit\n"
        "  -l <ups>\tlist the instant commands <ups> offers\n"
        "  -u <username>\tlog in to upsd as <username>\n"
        "  -p <password>\tthe password of <username>\n"
        "  -w            wait until the driver has run the command and\n"
        "                report what the device answered\n"
        f"  -t <timeout>\thow long -w waits, in seconds (default {DEFAULT_TRACKING_TIMEOUT})\n"
        "\n"
        "  <ups>\t\tthe UPS, as <upsname>[@<hostname>[:<port>]]\n"
        "  <command>\tan instant command, e.g. test.battery.start\n"
        "  [<value>]\ta parameter for the command, e.g. a delay in seconds\n")


def list_cmds(client, ups: str) -> None:
    try:
        items = client.list("CMD", ups, lenient=True)
    except NutError as e:
        fatal(f"Error: {_cli.list_error(e)}")
    names = []
    for words in items:
        if len(words) < 3:
            fatal(f"Error: insufficient data (got {len(words)} args, need at least 3)")
        names.append(words[2])
    out(f"Instant commands supported on UPS [{ups}]:\n\n")
    for name in names:
        try:
            words = client.get("CMDDESC", ups, name)
        except NutError:
            words = []
        out(f"{name} - {words[3]}\n" if len(words) > 3 else f"{name}\n")


def main(argv: list[str]) -> int:
    prog = _cli.prog_name(argv, "upscmd")
    username = password = None
    cmdlist = tracking = False
    timeout = DEFAULT_TRACKING_TIMEOUT
    options = _cli.getopt(argv, "lhu:p:t:wV")
    for opt, arg in options:
        if opt == "l":
            cmdlist = True
        elif opt == "u":
            username = arg[:SMALLBUF_TEXT]
        elif opt == "p":
            password = arg[:SMALLBUF_TEXT]
        elif opt == "t":
            timeout = _cli.parse_timeout(arg)
        elif opt == "w":
            tracking = True
        elif opt == "V":
            fatal(f"Network UPS Tools upscmd {_cli.VERSION_TEXT}", 0)
        else:
            usage(prog)
            return 0
    args = options.operands
    if not args:
        usage(prog)
        return 0
    ups, host, port = _cli.parse_ups(
        args[0], "Error: invalid UPS definition.  Required format: upsname[@hostname[:port]]")
    client = _cli.connect(host, port)
    try:
        if cmdlist:
            list_cmds(client, ups)
            return 0
        if len(args) < 2:
            usage(prog)
            return 0
        if "." not in args[1]:
            fatal("Error: old command names are not supported")
        if username is None:
            default = _cli.prompt_username()
            line = _cli.read_line_stdin()
            if line is None:
                fatal("Error reading from stdin!")
            if len(line) > 1:
                username = line[:-1]  # C drops the last byte, LF or not
            elif not default:
                fatal("No username available - even tried getpwuid")
            else:
                username = default
        if password is None:
            password = _cli.tty_getpass("Password: ")
        _cli.send_credentials(client, username, password)
        if tracking:
            _cli.enable_tracking(client, "command")
        words = args[1:3]
        _cli.send_action(client, f"INSTCMD {ups} {' '.join(words)}\n",
                         "Can't send instant command", "Instant command failed",
                         tracking, timeout)
        return 0
    finally:
        _cli.out_flush()
        _cli.disconnect(client)


def entry() -> None:
    _cli.leave(_cli.run(main))

"""upsrw: list and set read/write variables (C ``clients/upsrw.c``, 2.8.0 output)."""


from ..client.core import DEFAULT_TRACKING_TIMEOUT, NutError, encode
from . import _cli
from ._cli import err, fatal, out


def usage(prog: str) -> None:
    out(f"Network UPS Tools {prog} {_cli.VERSION_TEXT}\n\n"
        f"usage: {prog} [-h]\n"
        f"       {prog} [-s <variable>] [-u <username>] [-p <password>] [-w] [-t <timeout>] <ups>\n\n"
        "Show or change the writable variables of a UPS.\n"
        "\n"
        "  -h            print this help and exit\n"
        "  -s <variable>\tthe variable to change; VAR=VALUE gives the value too,\n"
        "\t\totherwise it is asked for\n"
        "  -l            list the writable variables with their types and limits\n"
        "  -u <username> log in to upsd as <username>\n"
        "  -p <password> the password of <username>\n"
        "  -w            wait until the driver has applied the value and\n"
        "                report what the device answered\n"
        f"  -t <timeout>\thow long -w waits, in seconds (default {DEFAULT_TRACKING_TIMEOUT})\n"
        "\n"
        "  <ups>         the UPS, as <upsname>[@<hostname>[:<port>]]\n"
        "\n"
        "Without -s the writable variables are listed, as with -l.\n")


class RwLister:
    def __init__(self, client, ups: str) -> None:
        self.client = client
        self.ups = ups

    def get_data(self, kind: str, var: str) -> str | None:
        try:
            words = self.client.get(kind, self.ups, var)
        except NutError:
            return None
        return words[3] if len(words) > 3 else None

    def current(self, var: str, who: str) -> str:
        value = self.get_data("VAR", var)
        if value is None:
            fatal(f"{who}: can't get current value of {var}")
        return value

    def list_items(self, kind: str, var: str) -> list[list[str]]:
        try:
            return self.client.list(kind, self.ups, var, lenient=True)
        except NutError as e:
            fatal(f"Error: {e.message}")
            raise

    def do_enum(self, var: str, vartype: str | None, length: int) -> None:
        value = self.current(var, "do_enum")
        items = self.list_items("ENUM", var)
        out(f"Type: ENUM {vartype}\n" if vartype else "Type: ENUM\n")
        if vartype == "STRING":
            out(f"Maximum length: {length}\n")
        for words in items:
            if len(words) < 4:
                fatal(f"Error: insufficient data (got {len(words)} args, need at least 4)")
            out(f'Option: "{words[3]}"' + (" SELECTED\n" if words[3] == value else "\n"))

    def do_range(self, var: str) -> None:
        from ..common.cnum import atoi  # listing only: keeps it off upsrw -s's start-up
        ival = atoi(self.current(var, "do_range"))
        items = self.list_items("RANGE", var)
        out("Type: RANGE NUMBER\n")
        for words in items:
            if len(words) < 5:
                fatal(f"Error: insufficient data (got {len(words)} args, need at least 4)")
            lo, hi = atoi(words[3]), atoi(words[4])
            out(f'Option: "{lo}-{hi}"' + (" SELECTED\n" if lo <= ival <= hi else "\n"))

    def do_type(self, var: str) -> None:
        try:
            words = self.client.get("TYPE", self.ups, var)
        except NutError:
            out("Unknown type\n")
            return
        is_enum = False
        for word in words[3:]:
            upper = word.upper()
            if upper == "ENUM":
                is_enum = True
                continue
            if upper == "RANGE":
                self.do_range(var)
                return
            if upper.startswith("STRING:"):
                from ..common.cnum import strtol
                length = strtol(word[7:]) if word[7:] else 0
                if is_enum:
                    self.do_enum(var, "STRING", length)
                else:
                    value = self.current(var, "do_string")
                    out(f"Type: STRING\nMaximum length: {length}\nValue: {value}\n")
                return
            if upper == "NUMBER":
                if is_enum:
                    self.do_enum(var, "NUMBER", 0)
                else:
                    value = self.current(var, "do_number")
                    out(f"Type: NUMBER\nValue: {value}\n")
                return
            if upper == "RW":
                continue
            out(f"Type: {word} (unrecognized)\n")
        if is_enum:
            self.do_enum(var, None, 0)

    def print_all(self) -> None:
        try:
            items = self.client.list("RW", self.ups, lenient=True)
        except NutError as e:
            fatal(f"Error: {_cli.list_error(e)}")
        names = []
        for words in items:
            if len(words) < 4:
                fatal(f"Error: insufficient data (got {len(words)} args, need at least 4)")
            names.append(words[2])
        for name in names:
            out(f"[{name}]\n")
            desc = self.get_data("DESC", name)
            out(f"{desc}\n" if desc is not None else "Description unavailable\n")
            self.do_type(name)
            out("\n")


def do_setvar(client, ups: str, setvar: str, username: str | None, password: str | None,
              tracking: bool, timeout: int) -> None:
    if username is None:
        default = _cli.prompt_username()
        line = _cli.read_line_stdin() or ""
        if len(line) > 1:
            username = line[:-1]
        elif not default:
            fatal("No username available - even tried getpwuid")
        else:
            username = default
    if password is None:
        password = _cli.tty_getpass("Password: ")
    var, eq, value = setvar.partition("=")
    if not eq:
        out(f"Enter new value for {var}: ")
        line = _cli.read_line_stdin() or "\n"
        value = line[:-1]
    value = value[:511]
    _cli.send_credentials(client, username, password)
    if "." not in var:
        fatal("Error: old variable names are not supported")
    if tracking:
        _cli.enable_tracking(client, "set variable")
    _cli.send_action(client, f'SET VAR {ups} {var} "{encode(value)}"\n',
                     "Can't set variable", "Set variable failed", tracking, timeout)


def main(argv: list[str]) -> int:
    prog = _cli.prog_name(argv, "upsrw")
    username = password = setvar = None
    tracking = False
    timeout = DEFAULT_TRACKING_TIMEOUT
    options = _cli.getopt(argv, "hls:p:t:u:wV")
    for opt, arg in options:
        if opt == "s":
            setvar = arg
        elif opt == "l":
            if setvar is not None:
                err("Listing mode requested, overriding setvar specified earlier!")
                setvar = None
        elif opt == "p":
            password = arg
        elif opt == "t":
            timeout = _cli.parse_timeout(arg)
        elif opt == "u":
            username = arg
        elif opt == "w":
            tracking = True
        elif opt == "V":
            out(f"Network UPS Tools {prog} {_cli.VERSION_TEXT}\n")
            return 0
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
        if setvar is not None:
            do_setvar(client, ups, setvar, username, password, tracking, timeout)
        else:
            RwLister(client, ups).print_all()
        return 0
    finally:
        _cli.out_flush()
        _cli.disconnect(client)


def entry() -> None:
    _cli.leave(_cli.run(main))

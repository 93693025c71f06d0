"""upsc: show UPS variables, UPS lists and client lists (C ``clients/upsc.c``).

Output, messages and exit codes are C 2.8.0's; ``-j`` (JSON) and ``-W`` come from the
latest release (2.8.5) and print exactly what it prints."""


from ..client.core import NutError, ServerError, split_addr, split_name
from . import _cli
from ._cli import err, fatal, out


def usage(prog: str) -> None:
    out(f"Network UPS Tools upsc {_cli.VERSION_TEXT}\n\n"
        f"usage: {prog} -l | -L [<hostname>[:port]]\n"
        f"       {prog} <ups> [<variable>]\n"
        f"       {prog} -c <ups>\n"
        "\nShow what upsd knows about its UPSes.\n\n"
        "Listing the UPSes of a server:\n"
        "  -l         - one UPS name per line\n"
        "  -L         - each UPS name with its description from ups.conf\n"
        "               (the server is localhost when none is given)\n"
        "\nShowing variables:\n"
        "  <ups>      - which UPS, as <upsname>[@<hostname>[:<port>]]\n"
        "  <variable> - print only this variable's value; otherwise all\n"
        "               variables are printed as 'name: value'\n"
        "\nListing clients:\n"
        "  -c         - the address of each client logged in to <ups>\n"
        "  <ups>      - which UPS, as <upsname>[@<hostname>[:<port>]]\n")


def json_esc(text: str) -> str:
    """NUT's ``json_print_esc``."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    parts = []
    for ch in text:
        if ch == '"':
            parts.append('\\"')
        elif ch == "\\":
            parts.append("\\\\")
        elif ch in _JSON_CTRL:
            parts.append(_JSON_CTRL[ch])
        elif ord(ch) < 32:
            parts.append(f"\\u{ord(ch):04x}")
        else:
            parts.append(ch)
    return "".join(parts)


_JSON_CTRL = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class Upsc:
    def __init__(self, json: bool) -> None:
        self.json = json
        self.client = None

    def fail(self, msg: str, simple: bool = True) -> None:
        """2.8.5 ``fatalx_error_json_simple``: a JSON error object on stdout too."""
        if self.json:
            out('{"error": "%s"}\n' % (msg if simple else json_esc(msg)))
        fatal(f"Error: {msg}")

    def _start_error(self, e: NutError, old_upsd: str) -> tuple[str, bool]:
        if isinstance(e, ServerError) and e.code == "UNKNOWN-COMMAND":
            return old_upsd, True
        return e.message, False

    def printvar(self, ups: str, var: str) -> None:
        if "." not in var:
            self.fail("old-style variable names are not supported")
        try:
            words = self.client.get("VAR", ups, var)
        except NutError as e:
            self.fail(*self._start_error(e, "variable unknown (old upsd detected)"))
        if len(words) < 4:
            self.fail(f"insufficient data (got {len(words)} args, need at least 4)")
        out(f'"{json_esc(words[3])}"\n' if self.json else words[3] + "\n")

    def list_vars(self, ups: str) -> None:
        if self.json:
            out("{\n")
        try:
            items = self.client.list("VAR", ups, lenient=True)
        except NutError as e:
            msg, simple = self._start_error(e, _cli.OLD_UPSD)
            if self.json:
                out('  "error": "%s"\n}\n' % (msg if simple else json_esc(msg)))
            fatal(f"Error: {msg}")
        lines = []
        for words in items:
            if len(words) < 4:
                msg = f"insufficient data (got {len(words)} args, need at least 4)"
                if self.json:
                    out(",\n".join(lines) + '  "error": "%s"\n}\n' % msg)
                else:
                    out("".join(lines))
                fatal(f"Error: {msg}")
            if self.json:
                lines.append(f'  "{json_esc(words[2])}": "{json_esc(words[3])}"')
            else:
                lines.append(f"{words[2]}: {words[3]}\n")
        out(",\n".join(lines) + "\n}\n" if self.json else "".join(lines))

    def list_upses(self, verbose: bool) -> None:
        try:
            items = self.client.list("UPS", lenient=True)
        except NutError as e:
            self.fail(*self._start_error(e, _cli.OLD_UPSD))
        if self.json:
            out("{\n" if verbose else "[\n")
        lines = []
        for words in items:
            if len(words) < 3:
                msg = f"insufficient data (got {len(words)} args, need at least 3)"
                if self.json:
                    out(",\n".join(lines) + "  "
                        + ("" if verbose else "{")
                        + f'"error": "{msg}"\n}}\n' + ("" if verbose else "]\n"))
                else:
                    out("".join(lines))
                fatal(f"Error: {msg}")
            if self.json:
                if verbose:
                    lines.append(f'  "{json_esc(words[1])}": "{json_esc(words[2])}"')
                else:
                    lines.append(f'  "{json_esc(words[1])}"')
            elif verbose:
                lines.append(f"{words[1]}: {words[2]}\n")
            else:
                lines.append(words[1] + "\n")
        if self.json:
            out(",\n".join(lines) + ("\n}\n" if verbose else "\n]\n"))
        else:
            out("".join(lines))

    def list_clients(self, ups: str) -> None:
        try:
            items = self.client.list("CLIENT", ups, lenient=True)
        except NutError as e:
            self.fail(*self._start_error(e, _cli.OLD_UPSD))
        if self.json:
            out("[\n")
        lines = []
        for words in items:
            if len(words) < 3:
                msg = f"insufficient data (got {len(words)} args, need at least 3)"
                if self.json:
                    out(",\n".join(lines) + '  {"error": "%s"\n}\n]\n' % msg)
                else:
                    out("".join(lines))
                fatal(f"Error: {msg}")
            lines.append(f'  "{json_esc(words[2])}"' if self.json else words[2] + "\n")
        out(",\n".join(lines) + "\n]\n" if self.json else "".join(lines))


def main(argv: list[str]) -> int:
    prog = _cli.prog_name(argv, "upsc")
    varlist = clientlist = verbose = json = False
    timeout = -1.0
    options = _cli.getopt(argv, "hlLcVjW:")
    for opt, arg in options:
        if opt == "L":
            verbose = varlist = True
        elif opt == "l":
            varlist = True
        elif opt == "c":
            clientlist = True
        elif opt == "j":
            json = True
        elif opt == "W":
            try:
                timeout = float(arg)
                if timeout < 0:
                    raise ValueError
            except ValueError:
                Upsc(json).fail(f"invalid network timeout: {arg}", simple=False)
        elif opt == "V":
            # 2.8.0 prints this (naming upscmd) on stderr; kept for byte compatibility.
            fatal(f"Network UPS Tools upscmd {_cli.VERSION_TEXT}", 0)
        else:
            usage(prog)
            return 0
    args = options.operands
    app = Upsc(json)
    if varlist:
        try:
            host, port = split_addr(args[0] if args else "localhost")
        except ValueError as e:
            if e.args and e.args[0]:
                err(e.args[0])
            app.fail("invalid hostname.\nRequired format: [hostname[:port]]", simple=False)
        ups = None
    else:
        try:
            ups, host, port = split_name(args[0] if args else None)
        except ValueError as e:
            if e.args and e.args[0]:
                err(e.args[0])
            app.fail("invalid UPS definition.\nRequired format: upsname[@hostname[:port]]",
                     simple=False)
    try:
        app.client = _cli.Client(
            host, port, tls="try",
            connect_timeout=_cli.connect_timeout() if timeout == -1.0 else (timeout or None))
    except NutError as e:
        app.fail(e.message, simple=False)
    try:
        if varlist:
            app.list_upses(verbose)
        elif clientlist:
            app.list_clients(ups)
        elif len(args) > 1:
            app.printvar(ups, args[1])
        else:
            app.list_vars(ups)
    finally:
        _cli.out_flush()
        _cli.disconnect(app.client)
    return 0


def entry() -> None:
    _cli.leave(_cli.run(main))

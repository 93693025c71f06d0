"""A scripted shell for nutpy.upsmon.monitor: answers the core's requests from tables the
test sets (status per UPS, logins, FSD replies), on a fake monotonic clock, and records
what the core did (notifications, log lines, FSD, shutdown requests, drops)."""

from __future__ import annotations

from nutpy.common import parseconf
from nutpy.upsmon import config as cfg
from nutpy.upsmon import monitor as mon


def load_conf(text: str, path: str = "/etc/nut/upsmon.conf"):
    conf, msgs = cfg.load(parseconf.parse_text(text.encode()), path)
    return conf


# upsmon.conf lines every state-machine test starts from (it adds its MONITOR lines)
BASE_CONF = """
POLLFREQ 5
POLLFREQALERT 5
DEADTIME 15
HOSTSYNC 15
FINALDELAY 0
POWERDOWNFLAG /run/killpower
SHUTDOWNCMD "/sbin/shutdown -h now"
"""

class FakeShell:
    def __init__(self, conf_text: str, *, split_mode: bool = True, start: float = 1000.0):
        self.conf_text = conf_text
        self.mon = mon.Monitor(load_conf(conf_text), split_mode=split_mode)
        self.t = start
        self.status: dict[str, object] = {}   # system -> status text or an outcome object
        self.alarm: dict[str, str] = {}
        self.buzzwords: dict[str, str] = {}
        self.logins: dict[str, object] = {}   # system -> int, or callable(t) -> int
        self.fsd_reply: dict[str, object] = {}
        self.parent_alive = True
        self.suspend_next = 0.0
        self.events: list[tuple] = []
        self.polls = 0
        self.exit_status: int | None = None
        self.gen = self.mon.run()
        self.mon.now = self.t
        self.req = next(self.gen)
        self._flush()

    # -- what happened -----------------------------------------------------------------

    def _flush(self) -> None:
        for out in self.mon.take_outputs():
            if isinstance(out, mon.Notify):
                n = out.notification
                self.events.append(("NOTIFY", n.type, n.ups, n.message))
            elif isinstance(out, mon.Log):
                if out.level != "debug":
                    self.events.append(("LOG", out.level, out.text))
            elif isinstance(out, mon.Wall):
                self.events.append(("WALL", out.text))
            elif isinstance(out, mon.Drop):
                self.events.append(("DROP", out.system, out.quiet))

    def notifications(self, since: int = 0) -> list[tuple[str, str | None]]:
        return [(e[1], e[2]) for e in self.events[since:] if e[0] == "NOTIFY"]

    def types(self, since: int = 0) -> list[str]:
        return [e[1] for e in self.events[since:] if e[0] == "NOTIFY"]

    def logs(self, since: int = 0) -> list[str]:
        return [e[2] for e in self.events[since:] if e[0] == "LOG"]

    def kinds(self, kind: str, since: int = 0) -> list[tuple]:
        return [e for e in self.events[since:] if e[0] == kind]

    @property
    def done(self) -> bool:
        return self.exit_status is not None

    @property
    def shutdown_requested(self) -> bool:
        return bool(self.kinds("SHUTDOWN"))

    # -- answering the core ---------------------------------------------------------------

    def _answer(self):
        req = self.req
        if isinstance(req, mon.Poll):
            self.polls += 1
            return [self._outcome(s) for s in req.systems]
        if isinstance(req, mon.SetFSD):
            self.events.append(("FSD", req.system))
            return self.fsd_reply.get(req.system, "OK FSD-SET")
        if isinstance(req, mon.NumLogins):
            out = []
            for s in req.systems:
                n = self.logins.get(s, 1)
                out.append(n(self.t) if callable(n) else n)
            return out
        if isinstance(req, mon.Sleep):
            self.t += req.seconds
            suspended, self.suspend_next = self.suspend_next, 0.0
            return mon.Slept(suspended)
        if isinstance(req, mon.CheckParent):
            return self.parent_alive
        if isinstance(req, mon.RequestShutdown):
            self.events.append(("SHUTDOWN", self.t))
            return None
        if isinstance(req, mon.ReadConfig):
            return list(parseconf.parse_text(self.conf_text.encode()))
        raise AssertionError(f"unexpected request {req!r}")

    def _outcome(self, system: str):
        value = self.status.get(system, mon.ConnectFailed("Connection failure: "
                                                          "Connection refused"))
        if isinstance(value, str):
            return mon.Polled(value, self.buzzwords.get(system), self.alarm.get(system))
        return value

    def step(self) -> None:
        """Answer one request."""
        answer = self._answer()
        self.mon.now = self.t
        try:
            self.req = self.gen.send(answer)
        except StopIteration as stop:
            self.exit_status = stop.value
        self._flush()

    def cycle(self, n: int = 1) -> None:
        """Run until ``n`` more polls have been answered and the core waits in a Sleep (or
        has ended). The pending Sleep is answered by the next call, so a test can set
        ``suspend_next`` in between."""
        target = self.polls + n
        while not self.done:
            if isinstance(self.req, mon.Sleep) and self.polls >= target:
                return
            self.step()

    def run_for(self, seconds: float) -> None:
        """Run until the fake clock has moved ``seconds`` on (or the core ends)."""
        end = self.t + seconds
        while not self.done and self.t < end:
            self.step()
        # finish the cycle that starts at the end
        while not self.done and not isinstance(self.req, mon.Sleep):
            self.step()

    def run_to_end(self, limit: float = 3600) -> None:
        end = self.t + limit
        while not self.done:
            assert self.t < end, "the core did not finish"
            self.step()

    def signal(self, what: str) -> None:
        if what == "fsd":
            self.mon.request_fsd()
        elif what == "reload":
            self.mon.request_reload()
        else:
            self.mon.request_exit(15)

"""The asyncio shell that carries out ``monitor.Monitor``'s requests: polls over the
network (``poller``), sleeps (watching for suspends with ``clocks``), notifications
(``privsep.NotifyChannel``), the word to the root parent, logind's sleep lock and
PrepareForSleep (``logind``, in the monitoring process only); and the process split."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

from ..common import daemon, sdnotify
from ..common.log import log
from ..common.parseconf import read_file
from . import clocks, privsep
from . import config as cfg
from . import monitor as mon
from .poller import Link, TlsSettings

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


class Shell:
    def __init__(self, conf: cfg.UpsmonConfig, opts, cli_debug: int) -> None:
        self.conf = conf
        self.opts = opts
        self.cli_debug = cli_debug
        self.parent_pid: int | None = None
        self.pipe_w: int | None = None
        self.notify_sock: socket.socket | None = None
        self.early_signals: list[int] = []
        self.tls = TlsSettings(conf)
        self.links: dict[str, Link] = {}
        self.fallback: dict[str, str] = {}
        self.notify = sdnotify.notifier()  # systemd, when NOTIFY_SOCKET is set
        self._reload_pending = False

    # -- processes ------------------------------------------------------------------------

    def split(self, pw, pidfile: str) -> int | None:
        """Fork the root parent off (it returns its exit status here) and, in the monitor,
        the notifier; the monitor then drops to ``pw`` (and chroots with ``-r``)."""
        read_fd, write_fd = os.pipe()
        child = os.fork()
        if child:
            os.close(write_fd)
            conf = self.conf
            return privsep.run_parent(read_fd, conf.shutdowncmd, conf.powerdownflag,
                                      conf.shutdownexit, child)
        self.catch_early_signals()
        os.close(read_fd)
        os.set_inheritable(write_fd, False)
        self.parent_pid = os.getppid()
        self.pipe_w = write_fd
        daemon.write_pidfile(pidfile)
        ours, theirs = socket.socketpair()
        notifier = os.fork()
        if notifier == 0:
            ours.close()
            os.close(write_fd)
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            status = 1
            try:
                daemon.become_user(pw)
                status = privsep.run_notifier(theirs, self.conf.notifycmd)
            finally:
                os._exit(status)
        theirs.close()
        self.notify_sock = ours
        self.preload()
        self.notify.connect()  # systemd's socket may be outside the jail
        if self.opts.chroot:
            self.prepare_chroot()
            daemon.chroot_start(self.opts.chroot)
        daemon.become_user(pw)
        return None

    def catch_early_signals(self) -> None:
        """Keep the signals that come before the loop handles them (``-c`` may follow the
        PID file at once; SIGUSR1's default action would kill us)."""
        self.early_signals = daemon.catch_early_signals()
        signal.signal(signal.SIGUSR1, lambda sig, _frame: self.early_signals.append(sig))

    @staticmethod
    def preload() -> None:
        """Import now what the monitor may need later: once it runs as RUN_AS_USER the
        Python library may be out of its reach (a Python installed in root's home), and
        after a chroot it always is."""
        import asyncio.base_events  # noqa: F401
        import asyncio.selector_events  # noqa: F401
        import asyncio.sslproto  # noqa: F401
        import asyncio.unix_events  # noqa: F401
        import encodings.idna  # noqa: F401
        import json  # noqa: F401
        import ssl  # noqa: F401
        import subprocess  # noqa: F401

        from ..proto import netproto  # noqa: F401
        from ..security import tls  # noqa: F401
        from . import logind, main  # noqa: F401

        try:
            import jeepney  # noqa: F401
            import jeepney.auth  # noqa: F401
            import jeepney.bus  # noqa: F401
            import jeepney.bus_messages  # noqa: F401
            import jeepney.fds  # noqa: F401
            import jeepney.low_level  # noqa: F401
            import jeepney.wrappers  # noqa: F401
        except ImportError:
            pass  # logind says so once, and the clocks alone tell a suspend

        "".encode("idna")  # ssl's host name check looks the codec up by name

    def prepare_chroot(self) -> None:
        """What the monitor needs once the file system is out of reach: TLS contexts,
        addresses of the servers, a connected syslog socket."""
        self.tls.preload()
        for entry in self.conf.monitors:
            try:
                infos = socket.getaddrinfo(entry.host or "localhost", entry.port,
                                           type=socket.SOCK_STREAM)
            except OSError:
                continue
            if infos:
                self.fallback[entry.system] = infos[0][4][0]
        if log.to_syslog:
            import syslog

            syslog.openlog(log.prog, syslog.LOG_PID | syslog.LOG_NDELAY, syslog.LOG_DAEMON)

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        try:
            return asyncio.run(self.main())
        finally:
            if self.notify_sock is not None:
                self.notify_sock.close()

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        self.monitor = mon.Monitor(self.conf, split_mode=self.opts.split,
                                   cli_debug=self.cli_debug)
        self.wake = asyncio.Event()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.on_exit, sig)
        loop.add_signal_handler(signal.SIGUSR1, self.on_fsd)
        loop.add_signal_handler(signal.SIGHUP, self.on_reload)
        for sig in self.early_signals:
            if sig == signal.SIGUSR1:
                self.on_fsd()
            else:
                self.on_exit(sig)
        self.notifier = privsep.NotifyChannel(self.notify_sock, self.conf.notifycmd,
                                              can_spawn=not self.opts.chroot)
        self.sleepwatch = self.watch_sleep()
        gen = self.monitor.run()
        self.monitor.now = loop.time()
        request = next(gen)
        status = 0
        # as C, the process that monitors (the child of the root parent) is the one systemd
        # follows and hears from
        self.notify.ready(mainpid=os.getpid())
        while True:
            self.flush()
            self.notify.watchdog()
            result = await self.execute(request)
            self.monitor.now = loop.time()
            try:
                request_done, request = request, gen.send(result)
            except StopIteration as stop:
                status = stop.value or 0
                break
            if isinstance(request_done, mon.ReadConfig) and self._reload_pending:
                self._reload_pending = False
                self.notify.ready()
        self.flush()
        self.sleepwatch.close()
        for link in self.links.values():
            await link.close()
        return status

    def watch_sleep(self):
        """logind's word on sleep goes to the state machine and cuts a Sleep short."""
        from . import logind

        def told(event):
            def handler() -> None:
                event()
                self.wake.set()
            return handler

        watch = logind.SleepWatch(log.prog, told(self.monitor.os_sleep_starting),
                                  told(self.monitor.os_sleep_finished),
                                  told(self.monitor.os_sleep_unwatched))
        watch.start()
        return watch

    def on_exit(self, sig: int) -> None:
        log.info(f"Signal {sig}: User requested EXIT")
        self.notify.stopping(f"Signal {sig}: exiting")
        self.monitor.request_exit(sig)
        self.wake.set()

    def on_fsd(self) -> None:
        log.info(f"Signal {signal.SIGUSR1}: User requested FSD")
        self.monitor.request_fsd()
        self.wake.set()

    def on_reload(self) -> None:
        log.info(f"Signal {signal.SIGHUP}: User requested RELOAD")
        self.notify.reloading()
        self._reload_pending = True
        self.monitor.request_reload()
        self.wake.set()

    # -- outputs ----------------------------------------------------------------------------

    def flush(self) -> None:
        from .main import emit

        for out in self.monitor.take_outputs():
            if isinstance(out, mon.Log):
                emit(out.level, out.text, out.debug)
            elif isinstance(out, mon.Notify):
                n = out.notification
                log.debug(6, f"notify: sending notification for [{n.ups or 'upsmon itself'}]:"
                             f" type {n.type} with flags 0x{n.flags:04x}: {n.message}")
                if n.flags & 1:  # IGNORE
                    continue
                if n.flags & 2:  # SYSLOG
                    log.notice(n.message)
                self.notifier.deliver(n)
            elif isinstance(out, mon.Wall):
                self.notifier.wall(out.text)
            elif isinstance(out, mon.Drop):
                link = self.links.get(out.system)
                if link is not None:
                    link.drop()
                if self.monitor.ups(out.system) is None:
                    self.links.pop(out.system, None)
            elif isinstance(out, mon.DebugLevel):
                log.debug_level = out.level
            elif isinstance(out, mon.SleepLock):
                if out.hold:
                    self.sleepwatch.hold()
                else:
                    self.sleepwatch.release()
        self.notifier.set_notifycmd(self.monitor.conf.notifycmd)

    # -- requests ---------------------------------------------------------------------------

    def link(self, system: str) -> Link:
        link = self.links.get(system)
        if link is None:
            link = Link(system, self.tls, self.opts.connect_timeout, self.opts.family)
            link.fallback_host = self.fallback.get(system)
            self.links[system] = link
        return link

    def entry(self, system: str) -> cfg.MonitorEntry:
        return self.monitor.ups(system).entry

    async def execute(self, req):
        if isinstance(req, mon.Poll):
            return await asyncio.gather(*(self.link(s).poll(self.entry(s))
                                          for s in req.systems))
        if isinstance(req, mon.Sleep):
            return await self.sleep(req.seconds)
        if isinstance(req, mon.Doze):
            return await self.doze()
        if isinstance(req, mon.SetFSD):
            log.debug(2, f"Setting FSD on UPS {req.system}")
            return await self.link(req.system).set_fsd(self.entry(req.system))
        if isinstance(req, mon.NumLogins):
            return await asyncio.gather(*(self.link(s).num_logins(self.entry(s))
                                          for s in req.systems))
        if isinstance(req, mon.CheckParent):
            return privsep.parent_alive(self.parent_pid)
        if isinstance(req, mon.ReadConfig):
            try:
                return list(read_file(self.opts.configfile))
            except OSError as e:
                return e
        if isinstance(req, mon.RequestShutdown):
            self.request_shutdown()
            return None
        raise RuntimeError(f"unknown request {req!r}")

    async def sleep(self, seconds: float) -> mon.Slept:
        before = clocks.Reading.now()
        if not self.monitor.wants_wakeup:
            self.wake.clear()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + seconds
            ping = self.notify.watchdog_interval()
            while not self.wake.is_set() and (left := deadline - loop.time()) > 0:
                try:
                    await asyncio.wait_for(self.wake.wait(), min(left, ping or left))
                except asyncio.TimeoutError:
                    self.notify.watchdog()
        gap = clocks.compare(before, clocks.Reading.now())
        if gap.clock_jump:
            log.info(f"The system clock was set {gap.clock_jump:+.0f} seconds; upsmon times "
                     "everything with a monotonic clock and carries on")
        return mon.Slept(gap.suspended)

    async def doze(self) -> mon.Slept:
        """Wait for the OS's wake-up (or a signal); asks logind again now and then, so
        that a lost PrepareForSleep(false) cannot keep us dozing."""
        before = clocks.Reading.now()
        if not self.monitor.wants_wakeup:
            self.wake.clear()
            recheck = max(float(self.monitor.conf.pollfreq), 1.0)
            ping = self.notify.watchdog_interval()
            try:
                await asyncio.wait_for(self.wake.wait(), min(recheck, ping or recheck))
            except asyncio.TimeoutError:
                self.notify.watchdog()
                await self.sleepwatch.check()
        return mon.Slept(clocks.compare(before, clocks.Reading.now()).suspended)

    def request_shutdown(self) -> None:
        conf = self.monitor.conf
        self.notify.stopping("Executing automatic power-fail shutdown")
        self.notify.extend_timeout()
        if self.opts.split:
            try:
                os.write(self.pipe_w, privsep.SHUTDOWN_BYTE)
            except OSError:
                log.error("Unable to call parent pipe for shutdown")
            return
        if os.geteuid() != 0:
            log.warning("Not root, shutdown may fail")
        privsep.set_pdflag(conf.powerdownflag)
        log.debug(1, f"doshutdown: upsmon mono-process: Calling shutdown command: "
                     f"{conf.shutdowncmd}")
        if privsep.run_shutdowncmd(conf.shutdowncmd) != 0:
            log.error(f"Unable to call shutdown command: {conf.shutdowncmd}")


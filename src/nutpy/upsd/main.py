"""upsd command line and start-up, in C upsd's order with its messages and exit codes:
options, -c signalling / duplicate check, user lookup, chroot, upsd.conf (as root),
listeners (as root), privilege drop, chdir to the state path, ups.conf, descriptions,
upsd.users, background + PID file, TLS, main loop."""

from __future__ import annotations

import os
import signal
import socket
import sys

from .. import VERSION_TEXT
from ..common import daemon, eventloop, parseconf, paths, sdnotify, upsconf
from ..common.log import log, report_build
from . import config
from .auth import Slow
from .descriptions import Descriptions
from .protocol import Server
from .server import Daemon, apply_ups_table, emit, ups_entries

HELP = """Serve the data of the UPSes in ups.conf over the NUT network protocol.

usage: {prog} [OPTIONS]

  -c <command>	tell the upsd already running to do <command>:
		 - reload: read the configuration files again
		 - stop: exit
  -P <pid>	with -c, signal this process instead of the one in the PID file
  -D		more debugging output (implies -F unless -B is given)
  -F		stay in the foreground
  -FF		stay in the foreground and write the PID file anyway
  -B		go to the background even with debugging on
  -h		show this help
  -r <dir>	chroot to <dir>
  -q		fewer log messages
  -u <user>	run as <user> once the listeners are open (when started as root)
  -V		show the version and exit
  -4		listen on IPv4 only
  -6		listen on IPv6 only
"""

LOCALHOST_NAMES = ("localhost", "127.0.0.1", "::1", "localhost6", "ip6-localhost")


class Options:
    def __init__(self) -> None:
        self.cmd: int | None = None
        self.pid: int | None = None
        self.debug = 0
        self.foreground = -1
        self.chroot: str | None = None
        self.user = paths.RUN_AS_USER
        self.family = socket.AF_UNSPEC
        self.quiet = 0


def _help(prog: str) -> "NoReturn":  # noqa: F821
    sys.stdout.write(HELP.format(prog=prog))
    sys.stdout.flush()
    raise SystemExit(0)


def parse_args(argv: list[str], prog: str) -> Options:
    from ..common.cliopt import GetOpt

    opts = Options()
    parser = GetOpt.for_args(argv, "h46p:qr:i:fu:Vc:P:DFB", prog)
    for o, a in parser:  # one at a time: C acts on each option before reading the next
        o = "-" + o
        if o in ("-p", "-i"):
            log.fatal("Specifying a listening addresses with '-i <address>' and '-p <port>'\n"
                      "is deprecated. Use 'LISTEN <address> [<port>]' in 'upsd.conf' instead.\n"
                      "See 'man 8 upsd.conf' for more information.")
        elif o == "-q":
            opts.quiet += 1
        elif o == "-r":
            opts.chroot = a
        elif o == "-u":
            opts.user = a
        elif o == "-V":
            raise SystemExit(0)
        elif o == "-c":
            if "reload".startswith(a):
                opts.cmd = signal.SIGHUP
            if "stop".startswith(a):
                opts.cmd = signal.SIGTERM
            if opts.cmd is None:
                _help(prog)
        elif o == "-P":
            if not a.isdigit():
                _help(prog)
            opts.pid = int(a)
        elif o == "-D":
            opts.debug += 1
        elif o == "-F":
            opts.foreground = 2 if opts.foreground > 0 else 1
        elif o == "-B":
            opts.foreground = 0
        elif o == "-4":
            opts.family = socket.AF_INET
        elif o == "-6":
            opts.family = socket.AF_INET6
        else:
            _help(prog)
    if parser.operands and opts.cmd is None:
        _help(prog)
    if opts.foreground < 0:
        opts.foreground = 1 if opts.debug > 0 else 0
    return opts


def check_perms(path: str) -> None:
    try:
        st = os.stat(path)
    except OSError as e:
        log.fatal(f"stat {path}: {e.strerror}")
    if st.st_mode & 0o005:
        log.warning(f"WARNING: {path} is world readable (hope you don't have passwords there)")


def _emit_all(msgs) -> None:
    for level, text in msgs:
        emit(level, text)


def load_upsd_conf(path: str) -> config.UpsdConf:
    check_perms(path)
    try:
        conf, msgs = config.parse_upsd_conf(parseconf.read_file(path), path)
    except OSError as e:
        log.fatal(f"Can't open {path}: {e.strerror}")
    _emit_all(msgs)
    return conf


def load_users(path: str, fatal: bool = True) -> config.Users | None:
    check_perms(path)
    try:
        users, msgs = config.parse_users(parseconf.read_file(path), path)
    except OSError as e:
        log.warning(f"Can't open {path}: {e.strerror}")
        return config.Users() if fatal else None
    _emit_all(msgs)
    _warn_unusable_passwords(users, path)
    return users


def _warn_unusable_passwords(users: config.Users, path: str) -> None:
    """A malformed hashed entry never matches: say so at load rather than at login."""
    from ..security.passwords import check_stored

    for user in users.users.values():
        if user.password is not None:
            problem = check_stored(user.password)
            if problem:
                log.warning(f"{path}: user {user.name}: unusable password entry ({problem});"
                            " it never matches")


# -- listeners ------------------------------------------------------------------------


def listen_specs(conf: config.UpsdConf, family: int) -> list[tuple[str, str]]:
    specs = list(conf.listen)
    if not specs:
        if family != socket.AF_INET:
            specs.append(("::1", config.DEFAULT_PORT))
        if family != socket.AF_INET6:
            specs.append(("127.0.0.1", config.DEFAULT_PORT))
    out = []
    for addr, port in specs:
        if addr == "*":
            if family != socket.AF_INET6:
                out.append(("0.0.0.0", port))
            if family != socket.AF_INET:
                out.append(("::0", port))
        else:
            out.append((addr, port))
    return out


def bind_listener(addr: str, port: str, family: int) -> socket.socket | None:
    try:
        infos = socket.getaddrinfo(addr, port, family, socket.SOCK_STREAM, 0,
                                   socket.AI_PASSIVE)
    except socket.gaierror as e:
        log.fatal(f"getaddrinfo: {e.strerror}")
    for fam, stype, proto, _, sa in infos:
        try:
            s = socket.socket(fam, stype, proto)
        except OSError:
            continue
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(sa)
            s.listen(1024)
            s.setblocking(False)
            s.set_inheritable(False)
            return s
        except OSError:
            s.close()
            continue
    return None


def open_listeners(conf: config.UpsdConf, family: int) -> list[socket.socket]:
    socks = []
    failed_other = 0
    # C keeps its listeners in a list it prepends to: the last LISTEN is opened first
    for addr, port in reversed(listen_specs(conf, family)):
        s = bind_listener(addr, port, family)
        if s is None:
            log.error(f"not listening on {addr} port {port}")
            if addr not in LOCALHOST_NAMES:
                failed_other += 1
        else:
            log.info(f"listening on {addr} port {port}")
            socks.append(s)
    if not socks:
        log.fatal("no listening interface available")
    if failed_other:
        allow = conf.allow_not_all_listeners
        env = os.environ.get("ALLOW_NOT_ALL_LISTENERS")
        if env is not None and config.env_boolean(env) is not None:
            allow = config.env_boolean(env)
        if allow:
            log.warning("WARNING: some listening interfaces were not available, but the "
                        "ALLOW_NOT_ALL_LISTENERS setting is active")
        else:
            log.error("Reconcile available NUT server IP addresses and LISTEN configuration, "
                      "or consider the ALLOW_NOT_ALL_LISTENERS setting!")
            log.fatal("Fatal error: some listening interfaces were not available")
    return socks


def default_maxconn() -> int:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(soft - 8, 16)


def _allow_no_device(conf: config.UpsdConf) -> bool:
    env = os.environ.get("ALLOW_NO_DEVICE")
    if env is not None:
        value = config.env_boolean(env)
        if value is not None:
            return value
    return conf.allow_no_device


def _hosts_access_hook():
    """tcp-wrappers when /etc/hosts.allow or hosts.deny exists (paths overridable for
    tests)."""
    allow = os.environ.get("NUTPY_HOSTS_ALLOW", "/etc/hosts.allow")
    deny = os.environ.get("NUTPY_HOSTS_DENY", "/etc/hosts.deny")
    if not (os.path.exists(allow) or os.path.exists(deny)):
        return None
    from ..security import tcpwrappers

    def full_check(addr: str, user: str, server_addr: str | None) -> bool:
        try:
            return bool(tcpwrappers.hosts_access("upsd", addr, user, allow_path=allow,
                                                 deny_path=deny, server_addr=server_addr))
        except Exception as e:  # a broken rule file denies rather than crashes
            log.error(f"tcp-wrappers check failed: {e}")
            return False

    def check(addr: str, user: str, server_addr: str | None = None) -> bool:
        """On the event loop: answers at once unless a rule needs a host name, then
        raises ``Slow`` so that the lookup runs in a worker thread."""
        try:
            quick = tcpwrappers.hosts_access_quick("upsd", addr, user, allow_path=allow,
                                                   deny_path=deny, server_addr=server_addr)
        except Exception as e:
            log.error(f"tcp-wrappers check failed: {e}")
            return False
        if quick is not None:
            return quick
        raise Slow(lambda: full_check(addr, user, server_addr))

    return check


def _login_throttle(conf: config.UpsdConf, current=None):
    """nutpy's failed-login throttle (docs/security.md) with upsd.conf's
    LOGIN_FAILURE_DELAY / LOGIN_FAILURE_MAXCONN; None (off) when the delay is 0 or
    NUTPY_UPSD_LOGIN_THROTTLE=0 is set (the differential tests against C do). On reload,
    ``current`` keeps what it has counted."""
    if os.environ.get("NUTPY_UPSD_LOGIN_THROTTLE") == "0" or conf.login_failure_delay <= 0:
        return None
    if current is not None:
        current.configure(conf.login_failure_delay, conf.login_failure_maxconn)
        return current
    from ..security.passwords import LoginThrottle

    return LoginThrottle(max_delay=conf.login_failure_delay,
                         max_waiting=conf.login_failure_maxconn)


def _tls_context(conf: config.UpsdConf):
    from ..security import tls

    try:
        return tls.server_context(conf.certfile, conf.certpath, conf.certident,
                                  conf.certrequest, conf.disable_weak_ssl)
    except Exception as e:
        log.fatal(f"Fatal error: can not initialize SSL: {e}")


def preload_modules(chroot: bool) -> None:
    """Import now what the daemon needs later: after chroot() the Python library is out
    of reach (C is compiled in and needs nothing). Hashed-password support (hashlib and
    OpenSSL's digest tables, 0.7 MB) waits for its first use unless upsd is about to
    chroot: after the privilege drop alone the library is still readable."""
    import asyncio.base_events  # noqa: F401
    import asyncio.selector_events  # noqa: F401
    import asyncio.sslproto  # noqa: F401
    import asyncio.unix_events  # noqa: F401
    import encodings.idna  # noqa: F401
    import encodings.latin_1  # noqa: F401
    import resource  # noqa: F401
    import syslog  # noqa: F401

    from ..security import passwords, tcpwrappers, tls  # noqa: F401

    daemon.preload()
    if chroot:
        passwords.load_hashing()
    config.password_matches("", "")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prog = "upsd"
    log.setup(prog)
    print(f"Network UPS Tools {prog} {VERSION_TEXT}", flush=True)
    opts = parse_args(argv, prog)
    log.setup(prog, opts.debug if opts.debug else None)
    log.quiet = opts.quiet
    report_build()
    pidfile = daemon.pidfile_path(paths.altpidpath(), prog)

    if opts.cmd is not None:
        return daemon.signal_running(pidfile, opts.cmd, opts.pid)
    early_signals = daemon.catch_early_signals()
    if opts.pid is not None:
        alive = _alive(opts.pid)
    else:
        alive = daemon.is_running(pidfile)
        if not alive and not os.path.exists(pidfile):
            emit("stderr", f"fopen {pidfile}: No such file or directory")
            log.warning(f"Could not find PID file '{pidfile}' to see if previous upsd "
                        "instance is already running!\n")
    if alive:
        print("Fatal error: A previous upsd instance is already running!")
        print("Either stop the previous instance first, or use the 'reload' command.")
        return 1

    daemon.ignore_sigpipe()
    pw = daemon.get_user(opts.user)
    preload_modules(bool(opts.chroot))
    try:
        loop_name, loop_factory = eventloop.choose()
    except (ValueError, ImportError) as e:
        log.fatal(f"Fatal error: event loop: {e}")
    log.debug(1, f"event loop: {loop_name}")
    sdnotify.notifier().connect()  # systemd's socket may be outside the jail
    if opts.chroot:
        daemon.chroot_start(opts.chroot)

    confdir = paths.confpath()
    conf = load_upsd_conf(os.path.join(confdir, "upsd.conf"))
    if conf.debug_min is not None and conf.debug_min > log.debug_level:
        log.debug_level = conf.debug_min
    log.debug(1, f"debug level is '{log.debug_level}'")

    listeners = open_listeners(conf, opts.family)
    daemon.become_user(pw)

    statepath = conf.statepath or paths.statepath()
    try:
        os.chdir(statepath)
    except OSError as e:
        log.error(daemon.statepath_hint(statepath))
        log.fatal(f"Can't chdir to {statepath}: {e.strerror}")
    check_perms(statepath)

    server = Server(log=emit)
    server.trackingdelay = conf.trackingdelay
    upsconf_path = os.path.join(confdir, "ups.conf")
    try:
        ups_conf = upsconf.load(upsconf_path)
    except OSError as e:
        log.fatal(f"Can't open {upsconf_path}: Can't open {upsconf_path}: {e.strerror}")
    for err in ups_conf.errors:
        log.error(str(err))
    entries = ups_entries(ups_conf)
    if not ups_conf.sections:
        log.warning("Warning: no UPS definitions in ups.conf")
    apply_ups_table(server, entries, reloading=False)
    if not server.ups_order:
        if _allow_no_device(conf):
            log.warning("Normally at least one UPS must be defined in ups.conf, currently "
                        "there are none (please configure the file and reload the service)")
        else:
            log.fatal("Fatal error: at least one UPS must be defined in ups.conf")
    else:
        log.info(f"Found {len(server.ups_order)} UPS defined in ups.conf")

    server.descriptions = Descriptions.load(conf.datapath or paths.DATADIR)
    users = load_users(os.path.join(confdir, "upsd.users"))
    server.auth.hosts_access = _hosts_access_hook()
    server.auth.throttle = _login_throttle(conf)

    d = Daemon(conf, users, server, listeners)
    d.early_signals = early_signals
    d.maxconn = conf.maxconn if conf.maxconn is not None else default_maxconn()

    if opts.foreground == 0:
        daemon.background(pidfile)
    elif opts.foreground == 2:
        log.info("Running as foreground process, but saving a PID file anyway")
        daemon.write_pidfile(pidfile)
    else:
        log.info("Running as foreground process, not saving a PID file")
        pidfile = None

    if conf.tls_configured:
        d.ssl_context = _tls_context(conf)
        if d.ssl_context is not None:
            server.tls_state = "ready"

    d.reload_cb = lambda: reload(d, confdir)
    try:
        eventloop.run(d.run(), loop_factory)
    finally:
        if d.stop_signal is not None:
            log.info(f"Signal {d.stop_signal}: exiting")
        daemon.remove_pidfile(pidfile)
    return 0


def reload(d: Daemon, confdir: str) -> None:
    log.info("SIGHUP: reloading configuration")
    conf_path = os.path.join(confdir, "upsd.conf")
    users_path = os.path.join(confdir, "upsd.users")
    if not _readable(conf_path):
        return
    upsconf_path = os.path.join(confdir, "ups.conf")
    try:
        ups_conf = upsconf.load(upsconf_path)
    except OSError as e:
        log.error(f"Can't open {upsconf_path}: {e.strerror}")
        ups_conf = None
    if ups_conf is not None:
        for err in ups_conf.errors:
            log.error(str(err))
        if not ups_conf.sections:
            log.warning("Warning: no UPS definitions in ups.conf")
        apply_ups_table(d.server, ups_entries(ups_conf), reloading=True, daemon=d)
    try:
        check_perms(conf_path)
        conf, msgs = config.parse_upsd_conf(parseconf.read_file(conf_path), conf_path)
    except (OSError, SystemExit) as e:
        log.error(f"Reload failed: {e}")
    else:
        _emit_all(msgs)
        conf.listen = d.conf.listen
        d.conf = conf
        d.server.trackingdelay = conf.trackingdelay
        d.server.auth.throttle = _login_throttle(conf, d.server.auth.throttle)
        if conf.maxconn is not None:
            d.maxconn = conf.maxconn
        if conf.debug_min is not None:
            log.info(f"Applying debug_min={conf.debug_min} from upsd.conf")
            log.debug_min = conf.debug_min
    if not d.server.ups_order:
        log.warning("Warning: no UPSes currently defined!")
    if not _readable(users_path):
        return
    users = load_users(users_path, fatal=False)
    if users is not None:
        d.server.auth.users = users


def _readable(path: str) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError as e:
        log.error(f"Reload failed: can't open {path}: {e.strerror}")
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())

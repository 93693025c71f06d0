"""``Client``: the synchronous NUT client, a socket around the sans-IO core
(``nutpy.client.core``) with a pythonic API (``get_var``, ``list_vars``, ``set_var``,
``instcmd``, tracking waits, ``starttls``...).

Start-up cost matters (``upsc`` is run from shell loops): this module imports only
``_socket`` at load time; ``ssl``/``nutpy.security.tls`` are imported when TLS is asked for.
"""


import _socket
import os

from .core import (
    _RECV_SIZE,
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    DEFAULT_TRACKING_TIMEOUT,
    ConnectionFailure,
    LineBuffer,
    ListReply,
    NutError,
    TLSError,
    _Api,
    _ok_or_tracking,
    build_request,
    build_value_request,
    parse_get,
    tls_context,
)


class Client(_Api):
    """A connection to upsd.

    ``timeout`` bounds each read (C: 5 s, then "Server disconnected"); ``connect_timeout``
    the connect (defaults to ``timeout``; None waits as long as the kernel does).
    ``tls``: ``False`` (plain), ``"try"`` (STARTTLS, continue in clear if refused) or
    ``"force"`` (refuse to go on without TLS — nothing else is sent before it is up).
    ``certverify``: check the server certificate chain and host name. ``certpath``: CA
    file/dir; ``certfile``: client certificate; ``certname``: expected server name (C
    CERTHOST), defaults to the host. ``certhost``: ``{host: (certname, certverify,
    forcessl)}`` rules that override these per host, like upsmon.conf CERTHOST.
    """

    def __init__(self, host: str = "localhost", port: int = DEFAULT_PORT,
                 timeout: float | None = DEFAULT_TIMEOUT, *, connect: bool = True,
                 connect_timeout: float | None = -1.0,
                 tls: bool | str = False, certverify: bool = False,
                 certpath: str | None = None, certfile: str | None = None,
                 certname: str | None = None,
                 certhost: dict | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout  # per read, like C's DEFAULT_NETWORK_TIMEOUT (5 s)
        self.connect_timeout = timeout if connect_timeout == -1.0 else connect_timeout
        self.tls_mode = tls
        self.certverify = certverify
        self.certpath = certpath
        self.certfile = certfile
        self.certname = certname
        if certhost:
            # C: a CERTHOST rule for this host overrides CERTVERIFY/FORCESSL.
            from ..security.tls import certhost_lookup
            name, verify, force = certhost_lookup(certhost, host, port, certverify,
                                                  tls == "force")
            self.certname = name or certname
            self.certverify = verify
            if force:
                self.tls_mode = "force"
        self.sock = None
        self.tls_active = False
        self._buf = LineBuffer()
        if connect:
            self.connect()

    # -- transport ----------------------------------------------------------------------

    def connect(self) -> None:
        """Resolve and connect like libupsclient (first address that accepts wins);
        errors carry C's messages (``No such host``, ``Connection failure: ...``)."""
        try:
            # An ASCII host goes in as bytes: a str would load the idna codec (and `re`),
            # a third of upsc's start-up time.
            host = self.host.encode("ascii") if self.host.isascii() else self.host
            infos = _socket.getaddrinfo(host, self.port, 0, _socket.SOCK_STREAM,
                                        _socket.IPPROTO_TCP)
        except _socket.gaierror as e:
            if e.errno in (_socket.EAI_NONAME, getattr(_socket, "EAI_NODATA", -5)):
                raise ConnectionFailure("No such host") from None
            raise ConnectionFailure("Unknown error") from None
        error: NutError = ConnectionFailure("Unknown error")
        for family, socktype, proto, _name, addr in infos:
            try:
                sock = _socket.socket(family, socktype, proto)
            except OSError as e:
                error = ConnectionFailure(f"socket failure: {os.strerror(e.errno)}")
                continue
            try:
                sock.settimeout(self.connect_timeout)
                sock.connect(addr)
                sock.settimeout(self.timeout)
            except OSError as e:
                sock.close()
                msg = os.strerror(e.errno) if e.errno else "Connection timed out"
                error = ConnectionFailure(f"Connection failure: {msg}")
                continue
            # Requests are written whole and at once; replies are ACKed at once so a
            # server doing one write() per line is never held by the 40 ms delayed ACK.
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            self.sock = sock
            self._buf = LineBuffer()
            self.tls_active = False
            break
        else:
            raise error
        if self.tls_mode:
            self.starttls(required=self.tls_mode == "force")

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def send(self, data: bytes) -> None:
        if self.sock is None:
            raise ConnectionFailure("Driver not connected")  # C's message for fd < 0
        try:
            self.sock.sendall(data)
        except OSError as e:
            self.close()
            raise ConnectionFailure(f"Write error: {os.strerror(e.errno or 0)}") from None

    def readline(self, timeout: float | None = -1.0) -> str:
        """One reply line without its LF."""
        line = self._buf.pop_line()
        if line is not None:
            return line
        if self.sock is None:
            raise ConnectionFailure("Driver not connected")
        sock = self.sock
        if timeout != -1.0:
            sock.settimeout(timeout)
        quickack = getattr(_socket, "TCP_QUICKACK", None)
        try:
            while True:
                if quickack is not None:
                    sock.setsockopt(_socket.IPPROTO_TCP, quickack, 1)
                try:
                    data = sock.recv(_RECV_SIZE)
                except TimeoutError:  # C's select() timeout reads as a hang-up
                    self.close()
                    raise ConnectionFailure("Server disconnected") from None
                except OSError as e:
                    self.close()
                    raise ConnectionFailure(f"Read error: {os.strerror(e.errno or 0)}") from None
                if not data:
                    self.close()
                    raise ConnectionFailure("Server disconnected")
                self._buf.feed(data)
                line = self._buf.pop_line()
                if line is not None:
                    return line
        finally:
            if timeout != -1.0 and self.sock is not None:
                self.sock.settimeout(self.timeout)

    def request(self, data: bytes) -> str:
        """Send one request line, return the first reply line."""
        self.send(data)
        return self.readline()

    # -- primitives used by _Api --------------------------------------------------------

    def get(self, *query: str) -> list[str]:
        return parse_get(self.request(build_request("GET", *query)), query)

    def list(self, *query: str, lenient: bool = False) -> list[list[str]]:
        """Item words of ``LIST <query>``. ``lenient``: a failure after ``BEGIN LIST``
        (an ERR or bad line, a hang-up) just ends the list, as the C programs' loops do."""
        self.send(build_request("LIST", *query))
        reply = ListReply(query)
        try:
            while not reply.feed(self.readline()):
                pass
        except NutError:
            if not (lenient and reply.begun):
                raise
        return reply.items

    def _get(self, query, post):
        return post(self.get(*query))

    def _list(self, query, post):
        return post(self.list(*query))

    def _simple(self, data: bytes, post):
        return post(self.request(data))

    def _simple_seq(self, requests: "list[bytes]", post):
        result = None
        for data in requests:
            result = post(self.request(data))
        return result

    # -- actions with tracking ----------------------------------------------------------

    def set_var(self, ups: str, var: str, value: str, *, wait: bool = False,
                timeout: float = DEFAULT_TRACKING_TIMEOUT, interval: float = 1.0) -> str:
        """``SET VAR``; returns ``"OK"``, or with ``wait`` the final tracking result
        (``SUCCESS``, ``ERR ...``); raises ``ServerError`` on refusal."""
        if wait:
            self.set_tracking(True)
        tid = _ok_or_tracking(self.request(build_value_request("SET", "VAR", ups, var, value)))
        return self.wait_tracking(tid, timeout, interval) if (wait and tid) else "OK"

    def instcmd(self, ups: str, cmd: str, param: str | None = None, *, wait: bool = False,
                timeout: float = DEFAULT_TRACKING_TIMEOUT, interval: float = 1.0) -> str:
        if wait:
            self.set_tracking(True)
        args = (ups, cmd) if param is None else (ups, cmd, param)
        tid = _ok_or_tracking(self.request(build_request("INSTCMD", *args)))
        return self.wait_tracking(tid, timeout, interval) if (wait and tid) else "OK"

    def wait_tracking(self, tracking_id: str, timeout: float = DEFAULT_TRACKING_TIMEOUT,
                      interval: float = 1.0) -> str:
        """Poll ``GET TRACKING`` until not ``PENDING``; ``TimeoutError`` after ``timeout``."""
        import time
        deadline = time.monotonic() + timeout
        while True:
            status = self.get_tracking(tracking_id)
            if not status.startswith("PENDING"):
                return status
            if time.monotonic() + interval > deadline:
                raise TimeoutError("Can't receive status tracking information: timeout")
            time.sleep(interval)

    def logout(self) -> None:
        try:
            self.request(b"LOGOUT\n")
        except NutError:
            pass
        self.close()

    # -- TLS ----------------------------------------------------------------------------

    def starttls(self, required: bool = True) -> bool:
        """Send STARTTLS and wrap the socket. Refused by upsd: ``TLSError`` when
        ``required`` (before any credential was sent), else False and stay in clear."""
        line = self.request(b"STARTTLS\n")
        if not line.startswith("OK STARTTLS"):
            if required:
                self.close()
                raise TLSError(f"SSL is not available (upsd said: {line})")
            return False
        # Only now: a refused STARTTLS (the usual case) must not cost the ssl import.
        try:
            context = tls_context(self.certpath, self.certverify, self.certfile)
        except TLSError:
            self.close()
            raise
        import socket as socket_module
        plain = socket_module.socket(fileno=self.sock.detach())
        server_name = self.certname or self.host
        try:
            self.sock = context.wrap_socket(
                plain, server_hostname=server_name if context.check_hostname else None)
        except Exception as e:  # ssl.SSLError, certificate errors, handshake EOF
            plain.close()
            self.sock = None
            raise TLSError(f"SSL error: {e}") from None
        self.tls_active = True
        return True



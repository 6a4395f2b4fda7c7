"""A minimal HTTP/1.1 client connection for node hops: one ``sendall`` per request, a response
parser that reads only what the executor needs (status, Content-Type, body, keep-alive).

``http.client`` costs ~0.15 ms more per exchange (two sends per request, an email-package header
parser); on a hop budget of 0.5 ms that matters. Everything read is bounded: the response head
(64 KiB) and body (the payload limit) before anything is allocated for them.
"""

from __future__ import annotations

import socket

MAX_HEAD = 64 * 1024
_CHUNK = 256 * 1024


class ProtocolError(ConnectionError):
    """The node's reply is not HTTP/1.x we can read."""


class NodeClosed(ConnectionError):
    """The node closed the connection; ``before_reply`` when it sent nothing at all."""

    def __init__(self, message: str, before_reply: bool) -> None:
        super().__init__(message)
        self.before_reply = before_reply


class Connection:
    __slots__ = ("buf", "sock")

    def __init__(self, host: str, port: int, connect_timeout: float, timeout: float) -> None:
        sock = socket.create_connection((host, port), timeout=connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(timeout)
        self.sock = sock
        self.buf = b""

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, started: bool) -> None:
        data = self.sock.recv(_CHUNK)
        if not data:
            raise NodeClosed("the node closed the connection" + (" mid-reply" if started else ""),
                             before_reply=not started and not self.buf)
        self.buf += data

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill(True)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self, limit: int) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            if len(self.buf) > limit:
                raise ProtocolError("chunk size line too long")
            self._fill(True)

    def read_response(self, max_body: int, head_only: bool = False) -> tuple[int, str, bytes, bool]:
        """→ (status, content type, body, keep-alive). ``head_only``: a reply to HEAD."""
        while True:
            started = bool(self.buf)
            while (end := self.buf.find(b"\r\n\r\n")) < 0:
                if len(self.buf) > MAX_HEAD:
                    raise ProtocolError(f"response head larger than {MAX_HEAD} bytes")
                self._fill(started)
                started = True
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            lines = head.split(b"\r\n")
            parts = lines[0].split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
            status = int(parts[1])
            if 100 <= status < 200:
                continue  # 100 Continue and friends: the real reply follows
            break
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        conn_hdr = headers.get(b"connection", b"").lower()
        keep = (parts[0] == b"HTTP/1.1" and conn_hdr != b"close") or conn_hdr == b"keep-alive"
        ctype = headers.get(b"content-type", b"application/json").decode("latin-1")
        if head_only or status in (204, 304):
            return status, ctype, b"", keep
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            return status, ctype, self._chunked(max_body), keep
        length_text = headers.get(b"content-length")
        if length_text is not None:
            if not length_text.isdigit():
                raise ProtocolError(f"bad Content-Length {length_text[:40]!r}")
            length = int(length_text)
            if length > max_body:
                raise ProtocolError(f"reply of {length} bytes exceeds the limit of {max_body}")
            return status, ctype, self._take(length), keep
        body = self._until_close(max_body)  # no length: the body ends with the connection
        return status, ctype, body, False

    def _chunked(self, max_body: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_text = self._line(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {size_text[:40]!r}") from None
            if size == 0:
                while self._line(MAX_HEAD):  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            total += size
            if total > max_body:
                raise ProtocolError(f"reply exceeds the limit of {max_body} bytes")
            parts.append(self._take(size))
            self._take(2)

    def _until_close(self, max_body: int) -> bytes:
        while True:
            if len(self.buf) > max_body:
                raise ProtocolError(f"reply exceeds the limit of {max_body} bytes")
            data = self.sock.recv(_CHUNK)
            if not data:
                out, self.buf = self.buf, b""
                return out
            self.buf += data


def request_head(method: str, path: str, host_header: str, headers: dict[str, str], body_len: int | None) -> bytes:
    """The request line and headers; header fields that could split the request are dropped."""
    out = [f"{method} {path} HTTP/1.1\r\nHost: {host_header}\r\n"]
    for k, v in headers.items():
        if "\r" in v or "\n" in v or not k or any(c in k for c in " \t\r\n:"):
            continue
        out.append(f"{k}: {v}\r\n")
    if body_len is not None:
        out.append(f"Content-Length: {body_len}\r\n")
    out.append("\r\n")
    try:
        return "".join(out).encode("latin-1")
    except UnicodeEncodeError:
        return "".join(o for o in out if o.isascii()).encode("latin-1")

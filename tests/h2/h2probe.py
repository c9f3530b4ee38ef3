#!/usr/bin/python3
"""A raw HTTP/2 client for ringlb's conformance tests (tests/h2_conformance.rs).

Each case opens one connection (cleartext with prior knowledge, or TLS with ALPN h2), sends
what it is named for and prints ONE JSON line on stdout: what the server answered. The Rust
test decides what was right; this script judges nothing.

Well-formed traffic goes through the `h2` package (H2Connection); frames that `h2` refuses to
send (DATA on stream 0, uppercase names, floods, bad HPACK) are written as raw bytes by `Raw`,
with field blocks from `hpack` (a dependency of `h2`) or hand-made where they must be invalid.

Usage: h2probe.py HOST:PORT [--tls CA_FILE] [--sni NAME] CASE [KEY=VALUE ...]
Common output keys: goaway {error, last_stream_id} (the first GOAWAY, or null), goaways
(every GOAWAY), resets {stream: error}, responses {stream: {status, body_len, ended}}, closed
(the server closed the connection), after_status (status of a plain GET sent on a fresh
stream after the case, when the case sends one; null when none came).
"""

import json
import socket
import ssl
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
from hpack import Decoder, Encoder

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
TYPE_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING",
              "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
          "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL",
          "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY",
          "HTTP_1_1_REQUIRED"]
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS, S_INITIAL_WINDOW_SIZE, \
    S_MAX_FRAME_SIZE, S_MAX_HEADER_LIST_SIZE = range(1, 7)


def error_name(code):
    return ERRORS[code] if code < len(ERRORS) else f"0x{code:x}"


def frame(ftype, flags, stream, payload=b""):
    """One frame, exactly as given: no check of type, flags, stream or length."""
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, stream & 0x7FFFFFFF) + payload


def settings(pairs=()):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def connect(addr, ca=None, sni=None, timeout=10.0):
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ca:
        ctx = ssl.create_default_context(cafile=ca)
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_hostname=sni or host)
        if sock.selected_alpn_protocol() != "h2":
            raise SystemExit(f"ALPN chose {sock.selected_alpn_protocol()!r}, not h2")
    return sock


class Raw:
    """A byte-level client: writes any frame, reads and records every frame the server sends."""

    def __init__(self, sock, authority, settings_pairs=(), window=None, opening=None):
        self.sock = sock
        self.authority = authority
        # When the connection began (the preface went out): a server's idle clock starts there.
        self.t0 = time.monotonic()
        self.buf = b""
        self.frames = []
        self.goaway = None
        self.goaways = []
        # Called with each GOAWAY as it is read, before the frames after it.
        self.on_goaway = None
        self.resets = {}
        self.responses = {}
        self.closed = False
        self.server_settings = {}
        self.settings_seen = False
        self.settings_acks = 0
        self.pings = 0
        self.enc = Encoder()
        self.dec = Decoder()
        self.dec.max_header_list_size = 1 << 30
        self.dec.max_allowed_table_size = 1 << 16
        self.header_block = None  # (stream, bytes) of a field block still taking CONTINUATIONs
        first = PREFACE + settings(settings_pairs)
        if window:
            first += frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", window))
        # Frames a client sends with its preface, before the server's SETTINGS (as curl does).
        if opening:
            first += opening(self)
        self.send(first)
        # The server's SETTINGS first, so that the ACK this client owes goes out now and never
        # lands inside a field block a case leaves open.
        self.pump(5.0, lambda: self.settings_seen)

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def block(self, headers):
        """A field block from `hpack`, names and values exactly as given (case kept)."""
        return self.enc.encode(headers)

    def request_headers(self, path="/", method="GET", extra=()):
        return [(":method", method), (":scheme", "http"), (":path", path),
                (":authority", self.authority)] + list(extra)

    def headers(self, stream, headers, end_stream=True, end_headers=True):
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        return self.send(frame(HEADERS, flags, stream, self.block(headers)))

    def get(self, stream, path="/", extra=()):
        return self.headers(stream, self.request_headers(path, "GET", extra))

    def data(self, stream, payload, end_stream=False):
        return self.send(frame(DATA, END_STREAM if end_stream else 0, stream, payload))

    def _read_some(self, timeout):
        if self.closed:
            return False
        self.sock.settimeout(max(timeout, 0.001))
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        except OSError:
            self.closed = True
            return False
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def _take_frames(self):
        while len(self.buf) >= 9:
            hi, lo, ftype, flags, stream = struct.unpack(">BHBBI", self.buf[:9])
            n = (hi << 16) | lo
            if len(self.buf) < 9 + n:
                return
            payload, self.buf = self.buf[9:9 + n], self.buf[9 + n:]
            self._record(ftype, flags, stream & 0x7FFFFFFF, payload)

    def _record(self, ftype, flags, stream, payload):
        name = TYPE_NAMES[ftype] if ftype < len(TYPE_NAMES) else f"0x{ftype:x}"
        f = {"type": name, "stream": stream, "flags": flags, "len": len(payload)}
        if ftype == GOAWAY and len(payload) >= 8:
            last, code = struct.unpack(">II", payload[:8])
            f["last_stream_id"], f["error"] = last & 0x7FFFFFFF, error_name(code)
            self.goaways.append({"error": f["error"], "last_stream_id": f["last_stream_id"]})
            if self.on_goaway:
                self.on_goaway(f["last_stream_id"])
            if self.goaway is None:
                self.goaway = {"error": f["error"], "last_stream_id": f["last_stream_id"],
                               "debug": payload[8:].decode("utf-8", "replace")}
        elif ftype == RST_STREAM and len(payload) == 4:
            f["error"] = error_name(struct.unpack(">I", payload)[0])
            self.resets.setdefault(str(stream), f["error"])
            self._response(stream)["reset"] = f["error"]
        elif ftype == SETTINGS:
            if flags & ACK:
                self.settings_acks += 1
            else:
                self.settings_seen = True
                for i in range(0, len(payload) - 5, 6):
                    k, v = struct.unpack(">HI", payload[i:i + 6])
                    self.server_settings[str(k)] = v
                self.send(frame(SETTINGS, ACK, 0))
        elif ftype == PING and flags & ACK:
            self.pings += 1
        elif ftype == PING:
            self.send(frame(PING, ACK, 0, payload))
        elif ftype in (HEADERS, CONTINUATION):
            if ftype == HEADERS:
                if flags & PADDED:
                    pad = payload[0]
                    payload = payload[1:len(payload) - pad]
                if flags & PRIORITY_FLAG:
                    payload = payload[5:]
                self.header_block = (stream, payload, flags & END_STREAM)
            elif self.header_block:
                s, b, es = self.header_block
                self.header_block = (s, b + payload, es)
            if flags & END_HEADERS and self.header_block:
                s, b, es = self.header_block
                self.header_block = None
                fields = self.dec.decode(b, raw=False)
                resp = self._response(s)
                status = dict(fields).get(":status")
                if status and int(status) >= 200:
                    resp["status"] = int(status)
                    resp["headers"] = [[k, v] for k, v in fields if not k.startswith(":")]
                if es:
                    resp["ended"] = True
                f["fields"] = fields
        elif ftype == DATA:
            resp = self._response(stream)
            body = payload
            if flags & PADDED and payload:
                body = payload[1:len(payload) - payload[0]]
            resp["body_len"] += len(body)
            resp.setdefault("body", b"")
            if len(resp["body"]) < 65536:
                resp["body"] += body
            if flags & END_STREAM:
                resp["ended"] = True
            if payload:  # give the window back at once, to stream and connection
                inc = struct.pack(">I", len(payload))
                self.send(frame(WINDOW_UPDATE, 0, 0, inc) + frame(WINDOW_UPDATE, 0, stream, inc))
        self.frames.append(f)

    def _response(self, stream):
        return self.responses.setdefault(stream, {"status": None, "body_len": 0, "ended": False})

    def pump(self, timeout, until=None):
        """Reads and records frames until `until()` holds, the server closes, or `timeout`."""
        end = time.monotonic() + timeout
        while True:
            self._take_frames()
            if until and until():
                return True
            left = end - time.monotonic()
            # A timeout of 0 still reads what has arrived.
            if not self._read_some(min(max(left, 0.0), 0.2)) or left <= 0:
                self._take_frames()
                return bool(until and until())

    def done(self, stream):
        r = self.responses.get(stream)
        return bool(r and (r["ended"] or r.get("reset")))

    def after_get(self, stream, timeout=10.0):
        """A plain GET on `stream` once the case is over: is the connection still of use?"""
        if self.goaway or self.closed:
            return None
        self.get(stream)
        self.pump(timeout, lambda: self.done(stream) or self.goaway or self.closed)
        return self.responses.get(stream, {}).get("status")

    def report(self, **extra):
        responses = {}
        for s, r in self.responses.items():
            out = {k: v for k, v in r.items() if k != "body"}
            if "body" in r:
                out["body"] = r["body"].decode("utf-8", "replace")
            responses[str(s)] = out
        return dict({"goaway": self.goaway, "goaways": self.goaways, "resets": self.resets,
                     "responses": responses,
                     "closed": self.closed, "frames": self.frames[-40:],
                     "settings": self.server_settings}, **extra)


# ---- field blocks made by hand (invalid ones hpack will not make) ---------------------------

def hp_int(value, prefix_bits, first):
    """HPACK integer (RFC 7541 §5.1) with `first` holding the pattern bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hp_str(s):
    b = s.encode() if isinstance(s, str) else s
    return hp_int(len(b), 7, 0) + b


def literal(name, value, index=False):
    """A literal field with a literal name: with incremental indexing (0x40) or without (0x00)."""
    return (b"\x40" if index else b"\x00") + hp_str(name) + hp_str(value)


def base_block(authority, path="/", method="GET"):
    """The request pseudo-fields as literals without indexing (leave no dynamic-table state)."""
    return (literal(":method", method) + literal(":scheme", "http") + literal(":path", path)
            + literal(":authority", authority))


# ---- cases ------------------------------------------------------------------------------------

def pump_until_end(c, timeout=5.0):
    c.pump(timeout, lambda: c.closed)
    return c


def conn_error(c, payload, timeout=5.0):
    """Sends `payload` after the preface and waits for the connection to end."""
    c.pump(2.0, lambda: c.settings_seen)
    c.send(payload)
    return pump_until_end(c, timeout)


def case_get(c, a):
    """N GETs (default 1) on streams 1, 3, …, all sent at once."""
    n = int(a.get("n", 1))
    extra = [tuple(h.split(":", 1)) for h in a.get("headers", "").split("|") if h]
    for i in range(n):
        c.get(1 + 2 * i, a.get("path", "/"), extra)
    c.pump(10.0, lambda: all(c.done(1 + 2 * i) for i in range(n)) or c.closed)
    return c.report()


def case_good_h2lib(sock, a):
    """GET and a POST with a body larger than the initial window, through the `h2` package:
    flow control as a conforming client does it."""
    size = int(a.get("size", 200000))
    cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    conn = h2.connection.H2Connection(config=cfg)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    base = [(":scheme", "http"), (":authority", a["_authority"])]
    conn.send_headers(1, [(":method", "GET"), (":path", "/")] + base, end_stream=True)
    conn.send_headers(3, [(":method", "POST"), (":path", "/upload")] + base
                      + [("content-length", str(size))])
    body, sent = b"x" * size, 0
    out = {1: {"status": None, "body_len": 0}, 3: {"status": None, "body_len": 0}}
    ended, goaway = set(), None
    sock.settimeout(10)
    end = time.monotonic() + 20
    while len(ended) < 2 and time.monotonic() < end and goaway is None:
        while sent < size:
            n = min(conn.local_flow_control_window(3), conn.max_outbound_frame_size, size - sent)
            if n <= 0:
                break
            sent += n
            conn.send_data(3, body[sent - n:sent], end_stream=sent == size)
        sock.sendall(conn.data_to_send())
        data = sock.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                h = dict(ev.headers)
                out[ev.stream_id]["status"] = int(h[":status"])
                out[ev.stream_id]["x-body-len"] = h.get("x-body-len")
            elif isinstance(ev, h2.events.DataReceived):
                out[ev.stream_id]["body_len"] += len(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                ended.add(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                out[ev.stream_id]["reset"] = str(ev.error_code)
                ended.add(ev.stream_id)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                goaway = str(ev.error_code)
        sock.sendall(conn.data_to_send())
    return {"responses": {str(k): v for k, v in out.items()}, "sent": sent, "goaway": goaway}


def case_data_stream0(c, a):
    return conn_error(c, frame(DATA, 0, 0, b"hello")).report()


def case_headers_even_stream(c, a):
    return conn_error(c, frame(HEADERS, END_HEADERS | END_STREAM, 2,
                               base_block(c.authority))).report()


def case_settings(c, a):
    """One bad SETTINGS frame: kind=push|window|frame_small|frame_big|length|ack_payload|stream."""
    kind = a["kind"]
    payload = {
        "push": settings([(S_ENABLE_PUSH, 2)]),
        "window": settings([(S_INITIAL_WINDOW_SIZE, 1 << 31)]),
        "frame_small": settings([(S_MAX_FRAME_SIZE, 16383)]),
        "frame_big": settings([(S_MAX_FRAME_SIZE, 1 << 24)]),
        "length": frame(SETTINGS, 0, 0, b"\x00\x03\x00\x00\x00"),
        "ack_payload": frame(SETTINGS, ACK, 0, struct.pack(">HI", S_ENABLE_PUSH, 0)),
        "stream": frame(SETTINGS, 0, 1, struct.pack(">HI", S_ENABLE_PUSH, 0)),
    }[kind]
    return conn_error(c, payload).report()


def case_window_update_zero(c, a):
    """WINDOW_UPDATE of 0 on the connection (on=conn) or on an open stream (on=stream)."""
    if a.get("on") == "stream":
        c.headers(1, c.request_headers("/", "POST", [("content-length", "4")]), end_stream=False)
        c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 0)))
        c.pump(5.0, lambda: c.done(1) or c.closed)
        return c.report(after_status=c.after_get(3))
    return conn_error(c, frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0))).report()


def case_window_overflow(c, a):
    """The connection window pushed past 2^31-1."""
    return conn_error(c, frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF))).report()


def case_oversized_frame(c, a):
    """A frame one byte over the server's SETTINGS_MAX_FRAME_SIZE (16,384 unless it said
    otherwise): of=headers|data, or of=ping (a PING of length 9)."""
    of = a.get("of", "headers")
    if of == "ping":
        return conn_error(c, frame(PING, 0, 0, b"\x00" * 9)).report()
    c.pump(2.0, lambda: c.settings_seen)
    size = min(c.server_settings.get(str(S_MAX_FRAME_SIZE), 16384) + 1, (1 << 24) - 1)
    if of == "data":
        c.headers(1, c.request_headers("/", "POST", [("content-length", str(size))]),
                  end_stream=False)
        return conn_error(c, frame(DATA, END_STREAM, 1, b"x" * size)).report(frame_len=size)
    block = base_block(c.authority) + literal("x-pad", "p" * size)
    return conn_error(c, frame(HEADERS, END_HEADERS | END_STREAM, 1, block[:size])).report(
        frame_len=size)


def case_continuation_without_headers(c, a):
    return conn_error(c, frame(CONTINUATION, END_HEADERS, 1, base_block(c.authority))).report()


def case_headers_interrupted(c, a):
    """HEADERS without END_HEADERS, then a PING instead of the CONTINUATION."""
    return conn_error(c, frame(HEADERS, END_STREAM, 1, base_block(c.authority))
                      + frame(PING, 0, 0, b"\x00" * 8)).report()


def case_bad_hpack(c, a):
    """A field block indexing past the static and (empty) dynamic table: COMPRESSION_ERROR."""
    block = base_block(c.authority) + hp_int(200, 7, 0x80)
    return conn_error(c, frame(HEADERS, END_HEADERS | END_STREAM, 1, block)).report()


def curl_request(c, stream, path):
    """A GET as curl 7.88 (nghttp2) sends it: its fields in its order, HPACK with indexing."""
    block = c.block([(":method", "GET"), (":path", path), (":scheme", "http"),
                     (":authority", c.authority), ("user-agent", "curl/7.88.1"),
                     ("accept", "*/*")])
    return frame(HEADERS, END_HEADERS | END_STREAM, stream, block)


def case_one_after_another(sock, a):
    """Two URLs on one connection as curl 7.88 fetches them: its SETTINGS and WINDOW_UPDATE,
    the first GET with the preface, the second GET (stream 3) only once the first response
    ended. Records every frame the server sends until both streams end."""
    c = Raw(sock, a["_authority"],
            [(S_MAX_CONCURRENT_STREAMS, 100), (S_INITIAL_WINDOW_SIZE, 1 << 25),
             (S_ENABLE_PUSH, 0)],
            window=(1 << 25) - (1 << 16) + 1, opening=lambda c: curl_request(c, 1, "/a"))
    c.pump(10.0, lambda: c.done(1) or c.closed)
    c.send(curl_request(c, 3, "/b"))
    c.pump(10.0, lambda: c.done(3) or c.closed)
    # Anything the server would still send after the second response (a GOAWAY, a reset).
    c.pump(0.3, lambda: c.closed)
    return c.report()


def case_stream_id_backwards(c, a):
    c.get(5)
    c.pump(5.0, lambda: c.done(5) or c.closed)
    return conn_error(c, frame(HEADERS, END_HEADERS | END_STREAM, 3,
                               base_block(c.authority))).report()


def case_headers_again(c, a):
    """A second HEADERS on stream 1 (end=1, the default: with END_STREAM; end=0: without) once
    stream 1 is state=open (a POST whose body has not ended), half_closed (a slow GET not yet
    answered), client_reset (a POST this client reset), server_reset (a POST the server
    reset: its DATA passed its content-length) or closed (a GET answered). Its field is
    HPACK-indexed: a server that skipped decoding it would misread the GET on stream 3 that
    follows when the connection goes on."""
    state, end = a["state"], a.get("end", "1") == "1"
    post = lambda extra=(): c.headers(1, c.request_headers("/", "POST", [("x-delay-ms", "300")]
                                                           + list(extra)), end_stream=False)
    if state == "open":
        post()
    elif state == "half_closed":
        c.get(1, "/", [("x-delay-ms", "1000")])
    elif state == "client_reset":
        post()
        c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))
    elif state == "server_reset":
        post([("content-length", "4")])
        c.data(1, b"too long")
        c.pump(5.0, lambda: c.done(1) or c.closed)
    elif state == "closed":
        c.get(1)
        c.pump(5.0, lambda: c.done(1) or c.closed)
    c.pump(0.2)
    before = c.done(1)
    c.send(frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), 1,
                 c.block([("x-again", "1")])))
    # What stream 1 gets (when it had nothing yet), or a GOAWAY and the close after it.
    c.pump(5.0, lambda: c.closed or c.goaway or (not before and c.done(1)))
    if c.goaway:
        c.pump(5.0, lambda: c.closed)
    return c.report(after_status=c.after_get(3))


def case_trailers(c, a):
    """A POST on stream 1 with body=... (default "hello") in one DATA frame and trailers
    fields=name:value|... in a HEADERS frame with END_STREAM after it; length=1 announces the
    body's content-length. Then a GET on stream 3."""
    body = a.get("body", "hello").encode()
    extra = [("content-length", str(len(body)))] if a.get("length") == "1" else []
    c.headers(1, c.request_headers("/up", "POST", extra), end_stream=False)
    fields = [tuple(f.split(":", 1)) for f in a.get("fields", "").split("|") if f]
    # Body and trailers in one write: the trailers are read before any answer to the body.
    c.send(frame(DATA, 0, 1, body) + frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block(fields)))
    c.pump(5.0, lambda: c.done(1) or c.closed or c.goaway)
    return c.report(after_status=c.after_get(3))


def case_rst_idle_stream(c, a):
    return conn_error(c, frame(RST_STREAM, 0, 7, struct.pack(">I", 8))).report()


def case_data_idle_stream(c, a):
    return conn_error(c, frame(DATA, END_STREAM, 9, b"hi")).report()


def case_push_promise(c, a):
    return conn_error(c, frame(PUSH_PROMISE, END_HEADERS, 1,
                               struct.pack(">I", 2) + base_block(c.authority))).report()


def case_bad_preface(sock, a):
    """Not the client preface: a wrong one of the same length. Reads what comes back until the
    server closes (5 s at most)."""
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
    got, closed, end = b"", False, time.monotonic() + 5
    while time.monotonic() < end:
        sock.settimeout(max(end - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except OSError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        got += chunk
    frames = []
    while len(got) >= 9:
        n = (got[0] << 16) | (got[1] << 8) | got[2]
        ftype = got[3]
        payload = got[9:9 + n]
        f = {"type": TYPE_NAMES[ftype] if ftype < len(TYPE_NAMES) else ftype}
        if ftype == GOAWAY and len(payload) >= 8:
            f["error"] = error_name(struct.unpack(">I", payload[4:8])[0])
        frames.append(f)
        got = got[9 + n:]
    goaway = next((f for f in frames if f["type"] == "GOAWAY"), None)
    return {"closed": closed, "frames": frames, "goaway": goaway}


def case_ignored_frames(c, a):
    """An unknown frame type, PRIORITY frames and a HEADERS priority block: all ignored."""
    c.send(frame(0x20, 0xFF, 0, b"unknown") + frame(PRIORITY, 0, 5, struct.pack(">IB", 3, 200)))
    block = struct.pack(">IB", 0x80000003, 15) + base_block(c.authority)
    c.send(frame(HEADERS, END_HEADERS | END_STREAM | PRIORITY_FLAG, 1, block))
    c.pump(10.0, lambda: c.done(1) or c.closed)
    return c.report(after_status=c.after_get(3))


MALFORMED = {
    # RFC 9113 §8.2: names are lowercase; no connection-specific fields; TE only "trailers".
    "uppercase": lambda au: base_block(au) + literal("X-Upper", "1"),
    "connection": lambda au: base_block(au) + literal("connection", "keep-alive"),
    "keep_alive": lambda au: base_block(au) + literal("keep-alive", "timeout=5"),
    "transfer_encoding": lambda au: base_block(au) + literal("transfer-encoding", "chunked"),
    "upgrade": lambda au: base_block(au) + literal("upgrade", "websocket"),
    "te_gzip": lambda au: base_block(au) + literal("te", "gzip"),
    "name_space": lambda au: base_block(au) + literal("x bad", "1"),
    "value_newline": lambda au: base_block(au) + literal("x-bad", "a\r\nb: c"),
    # §8.3.1: request pseudo-fields.
    "no_method": lambda au: literal(":scheme", "http") + literal(":path", "/")
    + literal(":authority", au),
    "no_path": lambda au: literal(":method", "GET") + literal(":scheme", "http")
    + literal(":authority", au),
    "no_scheme": lambda au: literal(":method", "GET") + literal(":path", "/")
    + literal(":authority", au),
    "empty_path": lambda au: literal(":method", "GET") + literal(":scheme", "http")
    + literal(":path", "") + literal(":authority", au),
    "unknown_pseudo": lambda au: base_block(au) + literal(":foo", "bar"),
    "status_in_request": lambda au: base_block(au) + literal(":status", "200"),
    "pseudo_after_regular": lambda au: literal(":method", "GET") + literal(":scheme", "http")
    + literal(":authority", au) + literal("x-a", "1") + literal(":path", "/"),
    "duplicate_path": lambda au: base_block(au) + literal(":path", "/again"),
}


def case_malformed(c, a):
    """A malformed request (kind=one of MALFORMED): a stream error, the connection goes on."""
    block = MALFORMED[a["kind"]](c.authority)
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
    c.pump(5.0, lambda: c.done(1) or c.closed or c.goaway)
    return c.report(after_status=c.after_get(3))


def case_content_length(c, a):
    """content-length: 10 with fewer (mode=short: 5) or more (mode=long: 15) DATA bytes."""
    n = 5 if a.get("mode") == "short" else 15
    c.headers(1, c.request_headers("/", "POST", [("content-length", "10")]), end_stream=False)
    c.data(1, b"y" * n, end_stream=True)
    c.pump(5.0, lambda: c.done(1) or c.closed or c.goaway)
    return c.report(after_status=c.after_get(3))


# ---- attacks ------------------------------------------------------------------------------------

def flood_until_stopped(c, chunks, timeout=5.0):
    """Sends the frames of `chunks` (an iterator of bytes) until the server answers with a
    GOAWAY or closes; returns how many were sent."""
    sent = 0
    for chunk in chunks:
        if not c.send(chunk):
            break
        sent += 1
        if sent % 64 == 0:
            c.pump(0.0)
            if c.goaway or c.closed:
                break
    pump_until_end(c, timeout)
    return sent


def case_rapid_reset(c, a):
    """HEADERS then RST_STREAM(CANCEL) on streams 1, 3, … (n pairs at most)."""
    n = int(a.get("n", 2000))
    path = a.get("path", "/")

    def pairs():
        for i in range(n):
            s = 1 + 2 * i
            yield (frame(HEADERS, END_HEADERS | END_STREAM, s, base_block(c.authority, path))
                   + frame(RST_STREAM, 0, s, struct.pack(">I", 8)))
    return c.report(sent=flood_until_stopped(c, pairs()))


def case_continuation_flood(c, a):
    """HEADERS without END_HEADERS, then n CONTINUATION frames that never end the block
    (each carries one small header field, or nothing with empty=1)."""
    n = int(a.get("n", 100000))
    empty = a.get("empty") == "1"
    c.send(frame(HEADERS, END_STREAM, 1, base_block(c.authority)))

    def conts():
        for i in range(n):
            yield frame(CONTINUATION, 0, 1, b"" if empty else literal("x-f", "%06d" % i))
    return c.report(sent=flood_until_stopped(c, conts()))


def case_header_list(c, a):
    """A request whose decoded field section is `size` bytes (many 100-byte fields), sent in
    HEADERS + CONTINUATION frames that are each within the maximum frame size."""
    size = int(a.get("size", 256 * 1024))
    block = base_block(c.authority)
    i = 0
    while len(block) < size:
        block += literal("x-h%05d" % i, "v" * 90)
        i += 1
    send_block(c, 1, block)
    c.pump(5.0, lambda: c.done(1) or c.closed or c.goaway)
    return c.report(block_len=len(block), after_status=c.after_get(3))


def send_block(c, stream, block, chunk=16384):
    parts = [block[i:i + chunk] for i in range(0, len(block), chunk)] or [b""]
    out = b""
    for i, p in enumerate(parts):
        last = i == len(parts) - 1
        if i == 0:
            out += frame(HEADERS, END_STREAM | (END_HEADERS if last else 0), stream, p)
        else:
            out += frame(CONTINUATION, END_HEADERS if last else 0, stream, p)
    c.send(out)


def case_hpack_bomb(c, a):
    """One 4,000-byte field put into the dynamic table, then referenced `refs` times by its
    one-byte index: a small block that decodes to refs × 4 KB."""
    refs = int(a.get("refs", 4000))
    block = base_block(c.authority) + literal("x-bomb", "b" * 4000, index=True)
    block += bytes([0x80 | 62]) * refs  # index 62: the first dynamic-table entry
    send_block(c, 1, block)
    c.pump(5.0, lambda: c.done(1) or c.closed or c.goaway)
    return c.report(block_len=len(block), after_status=c.after_get(3))


def case_settings_flood(c, a):
    """n SETTINGS frames without reading the server's ACKs."""
    n = int(a.get("n", 20000))
    one = settings([(S_MAX_CONCURRENT_STREAMS, 100)])
    return c.report(sent=flood_silent(c, (one for _ in range(n))))


def case_ping_flood(c, a):
    """n PINGs without reading the server's answers."""
    n = int(a.get("n", 20000))
    return c.report(sent=flood_silent(c, (frame(PING, 0, 0, struct.pack(">Q", i))
                                          for i in range(n))))


def flood_silent(c, chunks, batch=256, timeout=10.0):
    """Sends in batches without reading (the server's answers pile up unread), then reads."""
    sent, out = 0, []
    for chunk in chunks:
        out.append(chunk)
        if len(out) == batch:
            if not c.send(b"".join(out)):
                out = []
                break
            sent += len(out)
            out = []
    if out and c.send(b"".join(out)):
        sent += len(out)
    pump_until_end(c, timeout)
    return sent


def case_zero_window(c, a):
    """The client's stream window is 0 (SETTINGS_INITIAL_WINDOW_SIZE = 0) and never grows: the
    response is stuck. Waits up to wait= seconds for what the server does about it."""
    wait = float(a.get("wait", 15))
    c.send(settings([(S_INITIAL_WINDOW_SIZE, 0)]))
    c.get(1, a.get("path", "/"), [("x-size", a.get("size", "100000"))])
    start = time.monotonic()
    c.pump(wait, lambda: c.done(1) and (c.goaway or c.closed) or c.closed)
    return c.report(elapsed=time.monotonic() - start)


def case_concurrent(c, a):
    """n streams opened at once to a slow path (x-delay-ms), more than the server allows."""
    n = int(a.get("n", 120))
    delay = a.get("delay", "1000")
    for i in range(n):
        c.get(1 + 2 * i, "/", [("x-delay-ms", delay)])
    c.pump(30.0, lambda: all(c.done(1 + 2 * i) for i in range(n)) or c.closed)
    statuses = [c.responses.get(1 + 2 * i, {}).get("status") for i in range(n)]
    return c.report(ok=statuses.count(200), refused=sum(
        1 for i in range(n) if c.responses.get(1 + 2 * i, {}).get("reset")))


def case_idle(c, a):
    """Nothing after the preface: waits up to wait= seconds for the server to end it."""
    wait = float(a.get("wait", 15))
    c.pump(wait, lambda: c.closed)
    return c.report(elapsed=time.monotonic() - c.t0)


def case_request_timeout(c, a):
    """A request that never completes: mode=headers, a HEADERS frame without END_HEADERS and
    no CONTINUATION after it; mode=body, a POST whose announced body never comes. Waits up to
    wait= seconds for what the server does about it."""
    wait = float(a.get("wait", 15))
    if a.get("mode", "headers") == "headers":
        c.send(frame(HEADERS, END_STREAM, 1, base_block(c.authority)))
    else:
        c.headers(1, c.request_headers("/", "POST", [("content-length", "10")]),
                  end_stream=False)
        c.data(1, b"abc")
    start = time.monotonic()
    c.pump(wait, lambda: c.done(1) or c.closed)
    return c.report(elapsed=time.monotonic() - start)


def case_slow_preface(sock, a):
    """Half of the client preface, then nothing: waits up to wait= seconds for the close."""
    wait = float(a.get("wait", 15))
    sock.sendall(PREFACE[:12])
    start, got, closed = time.monotonic(), b"", False
    sock.settimeout(wait)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            got += chunk
    except socket.timeout:
        pass
    except OSError:
        closed = True
    return {"closed": closed, "elapsed": time.monotonic() - start, "received": len(got)}


def case_goaway_drain(c, a):
    """n slow streams (x-delay-ms) opened; prints "opened" on a line of its own so that the
    caller can upgrade or stop the server. A graceful GOAWAY naming 2^31-1 (RFC 9113 §6.8)
    gets one more stream at once, stream n+1 ("mid": before the PING ACK, so the server sees
    it before its final GOAWAY). After the final GOAWAY (a real last-stream-id), one more
    ("late", which must not be processed). Collects every answer until the server closes."""
    n = int(a.get("n", 5))
    delay = a.get("delay", "1500")
    for i in range(n):
        c.get(1 + 2 * i, "/", [("x-delay-ms", delay)])
    c.pump(0.2)
    mid, late = 1 + 2 * n, 3 + 2 * n
    sent = {}

    def on_goaway(last):
        if last == 0x7FFFFFFF and "mid" not in sent:
            sent["mid"] = c.get(mid)
    c.on_goaway = on_goaway
    print("opened", flush=True)
    c.pump(20.0, lambda: any(g["last_stream_id"] != 0x7FFFFFFF for g in c.goaways) or c.closed)
    if not c.closed:
        sent["late"] = c.get(late)
    c.pump(20.0, lambda: c.closed)
    answered = lambda s: bool(c.responses.get(s, {}).get("status"))
    return c.report(mid_stream=mid if sent.get("mid") else None, mid_answered=answered(mid),
                    late_stream=late if sent.get("late") else None,
                    late_answered=answered(late))


def case_across_reload(c, a):
    """n slow streams (x-delay-ms) opened; prints "opened" and waits for a line on stdin (the
    caller reloads the server meanwhile); then waits for the n answers and opens one more
    stream on the same connection."""
    n = int(a.get("n", 5))
    delay = a.get("delay", "1500")
    for i in range(n):
        c.get(1 + 2 * i, "/", [("x-delay-ms", delay)])
    c.pump(0.2)
    print("opened", flush=True)
    sys.stdin.readline()
    c.pump(20.0, lambda: all(c.done(1 + 2 * i) for i in range(n)) or c.closed)
    late = 1 + 2 * n
    c.get(late)
    c.pump(10.0, lambda: c.done(late) or c.closed)
    return c.report(late_stream=late)


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}


def main(argv):
    args = argv[1:]
    addr = args.pop(0)
    ca = sni = None
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--tls":
            ca = args.pop(0)
        elif opt == "--sni":
            sni = args.pop(0)
    name = args.pop(0)
    kv = dict(x.split("=", 1) for x in args)
    host = sni or addr.rsplit(":", 1)[0]
    authority = f"{host}:{addr.rsplit(':', 1)[1]}"
    sock = connect(addr, ca, sni)
    if name in ("good_h2lib", "bad_preface", "slow_preface", "one_after_another"):
        kv["_authority"] = authority
        out = CASES[name](sock, kv)
    else:
        pairs = [(S_ENABLE_PUSH, 0)]
        if "client_window" in kv:
            pairs.append((S_INITIAL_WINDOW_SIZE, int(kv["client_window"])))
        c = Raw(sock, authority, pairs, window=1 << 24)
        out = CASES[name](c, kv)
    out["case"] = name
    print(json.dumps(out, default=repr), flush=True)


if __name__ == "__main__":
    main(sys.argv)

"""The benchmark's load generator: a small HTTP/1.1 keep-alive client on plain sockets and a runner that drives it
from several threads, one connection each.

Why not ``requests`` or ``http.client``: on a 2-core machine the load generator shares the CPU with the server, so
every microsecond it spends per request is taken from the server. This client sends a request with one ``sendall``
(TCP_NODELAY, so the small request is not held back by Nagle), parses only the status line and the headers it needs,
and keeps the connection open; its own CPU time is measured and reported with every scenario.

Standard library plus psutil (for the server's CPU and RSS).
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field


class ConnectionLost(Exception):
    """The server closed the connection or sent something that is not HTTP/1.1."""


class KeepAliveClient:
    """One persistent HTTP/1.1 connection (not thread-safe: one per thread). Reconnects when the server closes."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None, timeout: float = 60.0):
        self.address = (host, port)
        self.timeout = timeout
        fixed = {"Host": f"{host}:{port}", "Accept": "application/scim+json", **(headers or {})}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.connects = 0
        self.bytes_in = 0

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf.clear()

    def _open(self) -> None:
        sock = socket.create_connection(self.address, timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.buf.clear()
        self.connects += 1

    def _recv(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionLost("connection closed by the server")
        self.buf += chunk
        self.bytes_in += len(chunk)

    def _take_until(self, marker: bytes) -> bytes:
        searched = 0
        while True:
            at = self.buf.find(marker, searched)
            if at >= 0:
                out = bytes(self.buf[:at])
                del self.buf[:at + len(marker)]
                return out
            searched = max(0, len(self.buf) - len(marker) + 1)
            self._recv()

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._recv()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def request(self, method: str, target: str, body: bytes | None = None,
                content_type: str = "application/scim+json") -> tuple[int, bytes]:
        """Send one request and read its response: (status, body). A reused connection that turns out closed
        (the server ends idle keep-alive connections) is reopened once; the request had not reached the app."""
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed}"
        if body is not None:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        payload = (head + "\r\n").encode("latin-1") + (body or b"")
        for attempt in range(2):
            reused = self.sock is not None
            if not reused:
                self._open()
            received = self.bytes_in
            try:
                self.sock.sendall(payload)
                return self._response(method)
            except (OSError, ConnectionLost):
                self.close()
                # Retry only a reused connection that died before answering anything: the server had closed it
                # while idle, so the request never reached the app.
                if not reused or attempt or self.bytes_in != received:
                    raise
        raise ConnectionLost("unreachable")

    def _response(self, method: str) -> tuple[int, bytes]:
        while True:
            head = self._take_until(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status_line = lines[0].split(b" ", 2)
            if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/"):
                raise ConnectionLost(f"not an HTTP response: {lines[0][:80]!r}")
            status = int(status_line[1])
            if not 100 <= status < 200:
                break
        length, chunked, close = None, False, status_line[0] == b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                v = value.strip().lower()
                close = v == b"close" or (close and v != b"keep-alive")
        if method == "HEAD" or status in (204, 304):
            data = b""
        elif chunked:
            parts = []
            while True:
                size = int(self._take_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._take_until(b"\r\n")
                    break
                parts.append(self._take(size))
                self._take(2)
            data = b"".join(parts)
        elif length is not None:
            data = self._take(length)
        else:  # body runs to the end of the connection
            try:
                while True:
                    self._recv()
            except ConnectionLost:
                pass
            data = bytes(self.buf)
            close = True
        if close:
            self.close()
        return status, data


# ------------------------------------------------------------------------------------------------ statistics

def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), int(-(-p * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def cpu_seconds(proc) -> float | None:
    """user + system CPU seconds of a psutil.Process (all threads), or None."""
    if proc is None:
        return None
    try:
        t = proc.cpu_times()
        return t.user + t.system
    except Exception:  # noqa: BLE001 - the process may have gone
        return None


@dataclass
class Result:
    """Figures of one scenario."""

    name: str
    concurrency: int
    ops: int = 0
    errors: int = 0
    error_kinds: dict = field(default_factory=dict)
    error_samples: list = field(default_factory=list)
    wall_s: float = 0.0
    latencies: list = field(default_factory=list)  # seconds of the successful requests, sorted; not exported
    sequence: list = field(default_factory=list)  # seconds, in request order (serial runs); not exported
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    connects: int = 0
    time_capped: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def ops_per_s(self) -> float | None:
        return self.ops / self.wall_s if self.wall_s > 0 else None

    def p(self, q: float) -> float | None:
        v = percentile(self.latencies, q)
        return None if v is None else v * 1000

    def as_dict(self) -> dict:
        total = max(1, self.ops + self.errors)
        out = {
            "scenario": self.name, "concurrency": self.concurrency, "ops": self.ops, "errors": self.errors,
            "error_kinds": self.error_kinds, "wall_s": round(self.wall_s, 3),
            "ops_per_s": _r(self.ops_per_s, 1), "p50_ms": _r(self.p(50)), "p90_ms": _r(self.p(90)),
            "p99_ms": _r(self.p(99)), "max_ms": _r(self.latencies[-1] * 1000 if self.latencies else None),
            "client_cpu_pct": _r(100 * self.client_cpu_s / self.wall_s if self.wall_s else None, 1),
            "client_cpu_us_per_op": _r(1e6 * self.client_cpu_s / total, 1),
            "connects": self.connects, "time_capped": self.time_capped,
        }
        if self.server_cpu_s is not None:
            out["server_cpu_pct"] = _r(100 * self.server_cpu_s / self.wall_s if self.wall_s else None, 1)
            out["server_cpu_us_per_op"] = _r(1e6 * self.server_cpu_s / total, 1)
        if self.error_samples:
            out["error_samples"] = self.error_samples
        out.update(self.extra)
        return out

    def merge(self, other: "Result") -> None:
        """Add another run of the same scenario (interleaved blocks) to this one."""
        self.ops += other.ops
        self.errors += other.errors
        for k, v in other.error_kinds.items():
            self.error_kinds[k] = self.error_kinds.get(k, 0) + v
        self.error_samples = (self.error_samples + other.error_samples)[:5]
        self.wall_s += other.wall_s
        self.latencies = sorted(self.latencies + other.latencies)
        self.sequence += other.sequence
        self.client_cpu_s += other.client_cpu_s
        if self.server_cpu_s is not None and other.server_cpu_s is not None:
            self.server_cpu_s += other.server_cpu_s
        self.connects += other.connects
        self.time_capped |= other.time_capped


def _r(v, digits: int = 2):
    return None if v is None else round(v, digits)


class Runner:
    """Runs ``count`` operations made by ``make(i)`` over ``concurrency`` keep-alive connections, stopping early at
    ``max_seconds``. An operation is one request ``(method, target, body)`` or a list of them, sent in order on the
    same connection (a remove-then-add pair stays in order); every request is timed and counted on its own. Any
    status outside 2xx, and any connection failure, is an error. ``on_ok(i, status, body)`` sees successful answers
    (to check them) and returns a problem description or None."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None, server_proc=None,
                 timeout: float = 60.0):
        self.host, self.port, self.headers = host, port, headers or {}
        self.server_proc = server_proc
        self.timeout = timeout

    def client(self) -> KeepAliveClient:
        return KeepAliveClient(self.host, self.port, self.headers, self.timeout)

    def run(self, name: str, make, count: int, concurrency: int, max_seconds: float, on_ok=None) -> Result:
        result = Result(name, concurrency)
        next_index = iter(range(count)).__next__
        index_lock = threading.Lock()
        deadline = time.perf_counter() + max_seconds
        lock = threading.Lock()
        per_thread: list[list[float]] = []
        clients: list[KeepAliveClient] = []

        def fail(kind: str, sample: str) -> None:
            with lock:
                result.errors += 1
                result.error_kinds[kind] = result.error_kinds.get(kind, 0) + 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(sample[:300])

        def worker() -> None:
            conn = self.client()
            lats: list[float] = []
            with lock:
                clients.append(conn)
                per_thread.append(lats)
            clock = time.perf_counter
            try:
                while True:
                    with index_lock:
                        try:
                            i = next_index()
                        except StopIteration:
                            return
                    if clock() > deadline:
                        result.time_capped = True
                        return
                    made = make(i)
                    for method, target, body in (made if isinstance(made, list) else (made,)):
                        started = clock()
                        try:
                            status, data = conn.request(method, target, body)
                        except (OSError, ConnectionLost, ValueError) as exc:
                            conn.close()
                            fail(type(exc).__name__, f"{method} {target}: {exc}")
                            continue
                        elapsed = clock() - started
                        if not 200 <= status < 300:
                            fail(str(status), f"{method} {target} -> {status} "
                                              f"{data[:200].decode('utf-8', 'replace')}")
                            continue
                        problem = on_ok(i, status, data) if on_ok is not None else None
                        if problem:
                            fail("check", f"{method} {target}: {problem}")
                            continue
                        lats.append(elapsed)
            finally:
                conn.close()

        cpu0, srv0 = time.process_time(), cpu_seconds(self.server_proc)
        t0 = time.perf_counter()
        if concurrency <= 1:
            worker()
        else:
            threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        result.wall_s = time.perf_counter() - t0
        result.client_cpu_s = time.process_time() - cpu0
        srv1 = cpu_seconds(self.server_proc)
        result.server_cpu_s = srv1 - srv0 if srv0 is not None and srv1 is not None else None
        all_lats = [x for lats in per_thread for x in lats]
        result.latencies = sorted(all_lats)
        result.ops = len(all_lats)  # successful requests only; errors are counted apart
        if concurrency <= 1 and per_thread:
            result.sequence = per_thread[0]
        result.connects = sum(c.connects for c in clients)
        return result


class RssSampler:
    """Samples a process's resident set size in a background thread; keeps the peak overall and per phase."""

    def __init__(self, proc, interval: float = 0.1):
        self.proc = proc
        self.interval = interval
        self.peak = 0
        self.phase = "start"
        self.phase_peaks: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> "RssSampler":
        self._thread.start()
        return self

    def set_phase(self, name: str) -> None:
        self.sample()
        self.phase = name

    def sample(self) -> None:
        try:
            rss = self.proc.memory_info().rss
        except Exception:  # noqa: BLE001 - the process ended
            return
        self.samples += 1
        self.peak = max(self.peak, rss)
        self.phase_peaks[self.phase] = max(self.phase_peaks.get(self.phase, 0), rss)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()

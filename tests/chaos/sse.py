"""SSE subscribers on GET /api/v1/aggregated-report-data/watch: each follows one organisation and
period, and whenever its server dies (or the stream ends) reconnects to the other process with
Last-Event-ID. The first connect already carries a Last-Event-ID (the log head from /readyz), so
what a subscriber must see is exactly the log's events of its stream after that position."""

import http.client
import json
import threading
import time
import urllib.parse


class Subscriber:
    def __init__(self, idx, bases, token, org, period, start_after, stop, deadline):
        self.idx, self.bases, self.token = idx, bases, token
        self.org, self.period = org, period
        self.start_after = start_after  # a log position (opaque string) or None
        self.last_id = start_after
        self.stop = stop
        self.deadline = deadline
        self.messages = []  # (id, event, snapshot_id)
        self.connects = 0
        self.connected = threading.Event()
        self.errors = []
        self.conn = None
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, name=f"sse{idx}", daemon=True)

    def run(self):
        n = 0
        while not self.stop.is_set() and time.time() < self.deadline and n < 2000:
            base = self.bases[(self.idx + n) % len(self.bases)]
            n += 1
            try:
                self._stream(base)
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.errors.append(type(e).__name__)
            if not self.stop.is_set():
                time.sleep(min(0.2 * (1 + n % 5), 1.0))

    def _stream(self, base):
        host, port = base.replace("http://", "").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=25)
        with self.lock:
            self.conn = conn
        try:
            q = urllib.parse.urlencode({"organization_id": self.org, "period_id": self.period})
            h = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
            if self.last_id is not None:
                h["Last-Event-ID"] = self.last_id
            conn.request("GET", f"/api/v1/aggregated-report-data/watch?{q}", headers=h)
            r = conn.getresponse()
            if r.status != 200:
                r.read()
                self.errors.append(f"http {r.status}")
                return
            self.connects += 1
            self.connected.set()
            ev_id, ev_name, data = None, None, []
            while not self.stop.is_set():
                line = r.readline()  # through the chunked decoding
                if not line:
                    return  # the server went away
                line = line.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data:
                        try:
                            snap = json.loads("\n".join(data)).get("snapshot_id")
                        except ValueError:
                            snap = None
                        self.messages.append((ev_id, ev_name, snap))
                        if ev_id is not None:
                            self.last_id = ev_id
                    ev_id, ev_name, data = None, None, []
                elif line.startswith(":"):
                    continue
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "id":
                        ev_id = value
                    elif field == "event":
                        ev_name = value
                    elif field == "data":
                        data.append(value)
        finally:
            with self.lock:
                self.conn = None
            conn.close()

    def close(self):
        with self.lock:
            if self.conn is not None and self.conn.sock is not None:
                try:
                    self.conn.sock.shutdown(2)
                except OSError:
                    pass

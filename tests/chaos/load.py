"""The load generator and its ledger: every request made (each attempt) and every 2xx answer,
with the ids the answer returned. A client-side round robin over the API processes; a request
that finds its process dead (or answers 503/409 with Retry-After) is sent again to the other one
with the same Idempotency-Key."""

import hashlib
import hmac
import http.client
import json
import os
import random
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = os.path.join(ROOT, "domain", "schema", "bufdir_2025_v2.toml")


def schema_metrics():
    with open(SCHEMA, "rb") as f:
        schema = tomllib.load(f)
    return [m["key"] for m in schema["metrics"]], [c["key"] for c in schema["activity_categories"]]


def org_number(rng):
    """Nine digits with a valid MOD11 check digit (weights 3 2 7 6 5 4 3 2)."""
    weights = [3, 2, 7, 6, 5, 4, 3, 2]
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(7)]
        r = sum(d * w for d, w in zip(digits, weights)) % 11
        if r == 1:
            continue
        return "".join(map(str, digits)) + str(0 if r == 0 else 11 - r)


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []  # one dict per logical request (one Idempotency-Key)
        self.attempts = 0
        self.server_errors = []  # every 5xx: (t, method, path, status, retry_after, server)
        self.outages = []  # [start, end] of PostgreSQL outages (end None while down)

    def add(self, entry):
        with self.lock:
            self.requests.append(entry)

    def attempt(self):
        with self.lock:
            self.attempts += 1

    def server_error(self, rec):
        with self.lock:
            self.server_errors.append(rec)

    def acked(self, kind=None):
        with self.lock:
            return [r for r in self.requests if r.get("ack") and (kind is None or r["kind"] == kind)]

    def dump(self, path):
        with self.lock, open(path, "w") as f:
            for r in self.requests:
                f.write(json.dumps(r, default=str) + "\n")


class Client:
    def __init__(self, bases, token, ledger, seed, deadline_s=60.0):
        self.bases = bases
        self.token = token
        self.ledger = ledger
        self.seed = seed
        self.rr = 0
        self.lock = threading.Lock()
        self.counter = 0
        self.deadline_s = deadline_s
        self.stop = threading.Event()
        # Keys answered 409 "still being handled": their first request died with its process.
        # The service takes such a key over after 2 minutes; the retrier sends them again then.
        self.stuck = []
        self.stuck_after = 125.0

    def _next_base(self):
        with self.lock:
            self.rr += 1
            return self.bases[self.rr % len(self.bases)]

    def new_key(self, kind):
        with self.lock:
            self.counter += 1
            return f"ck-{self.seed}-{kind}-{self.counter}"

    def raw(self, base, method, path, body=None, headers=None, timeout=30.0):
        host, port = base.replace("http://", "").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            h = {"Authorization": f"Bearer {self.token}"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                h["content-type"] = "application/json"
            h.update(headers or {})
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            payload = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, payload
        finally:
            conn.close()

    def get(self, path, timeout=30.0, tries=20):
        """A read, on any live process; None when none answered in time."""
        for i in range(tries):
            base = self._next_base()
            try:
                status, headers, payload = self.raw(base, "GET", path, timeout=timeout)
            except (OSError, http.client.HTTPException):
                time.sleep(min(0.2 * (i + 1), 1.0))
                continue
            self._note_5xx(status, headers, "GET", path, base, payload)
            if status == 503 or (status == 409 and "retry-after" in headers):
                time.sleep(min(0.3 * (i + 1), 2.0))
                continue
            try:
                return status, json.loads(payload) if payload else None
            except ValueError:
                return status, payload
        return None

    def _note_5xx(self, status, headers, method, path, base, payload=b""):
        if status >= 500:
            self.ledger.server_error({"t": time.time(), "method": method, "path": path,
                                      "status": status, "retry_after": headers.get("retry-after"),
                                      "server": base, "request_id": headers.get("x-request-id"),
                                      "body": payload[:300].decode("utf-8", "replace")})

    def write(self, kind, method, path, body=None, key=None, entry=None):
        """A state-changing request with an Idempotency-Key, retried (same key) until it gets an
        answer that is not a dead process, a 503 or a contended 409, within the deadline."""
        if entry is None:
            key = key or self.new_key(kind)
            entry = {"kind": kind, "key": key, "method": method, "path": path, "body": body,
                     "attempts": [], "ack": None, "final_status": None, "t0": time.time()}
            self.ledger.add(entry)
        key = entry["key"]
        deadline = time.time() + self.deadline_s
        n = len(entry["attempts"])
        while time.time() < deadline:
            n += 1
            base = self._next_base()
            rid = f"{key}.{n}"
            headers = {"Idempotency-Key": key, "X-Request-Id": rid}
            self.ledger.attempt()
            att = {"n": n, "server": base, "request_id": rid, "t": time.time()}
            entry["attempts"].append(att)
            try:
                status, rh, payload = self.raw(base, method, path, body, headers)
            except (OSError, http.client.HTTPException) as e:
                att["error"] = type(e).__name__
                time.sleep(min(0.1 * n, 1.0))
                continue
            att["status"] = status
            self._note_5xx(status, rh, method, path, base, payload)
            try:
                data = json.loads(payload) if payload else None
            except ValueError:
                data = None
            if status == 503 or (status == 409 and "retry-after" in rh) or status >= 500:
                try:
                    wait = float(rh.get("retry-after", "0.5"))
                except ValueError:
                    wait = 0.5
                time.sleep(min(max(wait, 0.2), 1.0 + 0.2 * n))
                continue
            entry["final_status"] = status
            if status == 409 and "still being handled" in json.dumps(data or ""):
                entry["stuck"] = True
                with self.lock:
                    self.stuck.append(entry)
            if 200 <= status < 300:
                entry["ack"] = {"status": status, "body": data, "request_id": rid,
                                "replayed": rh.get("idempotent-replayed") == "true",
                                "t": time.time()}
            else:
                entry["error_body"] = data
            return status, data
        entry["final_status"] = "gave_up"
        return None, None


    def retry_stuck(self, until, stop):
        """Sends the stuck keys again once the service may take them over (bounded by `until`)."""
        while time.time() < until and not stop.is_set():
            with self.lock:
                due = [e for e in self.stuck if e["t0"] + self.stuck_after <= time.time()]
                self.stuck = [e for e in self.stuck if e not in due]
            for e in due:
                self.write(e["kind"], e["method"], e["path"], e["body"], entry=e)
            with self.lock:
                if not self.stuck and stop.is_set():
                    return
            time.sleep(1)

    def stuck_open(self):
        with self.lock:
            return list(self.stuck)


class WebhookReceiver:
    """Receives re-export webhooks, verifies each Bufdir-Signature with the organisation's
    secret(s) and answers 200 (now and then a 500 first, so retries are exercised)."""

    def __init__(self, rng):
        self.secrets = {}  # org -> [secret, ...] (a retried PUT may have rotated it)
        self.deliveries = []  # dicts: webhook_id, org, valid, t, status
        self.lock = threading.Lock()
        self.rng = rng
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n)
                wid = self.headers.get("Bufdir-Webhook-Id")
                sig = self.headers.get("Bufdir-Signature") or ""
                try:
                    org = json.loads(body).get("org_id")
                except ValueError:
                    org = None
                valid, fresh = receiver.verify(org, sig, body)
                with receiver.lock:
                    fail = receiver.rng.random() < 0.15
                    receiver.deliveries.append({"webhook_id": wid, "org": org, "valid": valid,
                                                "fresh": fresh, "t": time.time(),
                                                "answered": 500 if fail else 200})
                self.send_response(500 if fail else 200)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhooks", daemon=True)

    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def add_secret(self, org, secret):
        with self.lock:
            self.secrets.setdefault(org, []).append(secret)

    def verify(self, org, header, body):
        parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
        try:
            t = int(parts["t"])
            tag = parts["v1"]
        except (KeyError, ValueError):
            return False, False
        with self.lock:
            secrets = list(self.secrets.get(org, []))
        for s in secrets:
            mac = hmac.new(s.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
            if hmac.compare_digest(mac, tag):
                return True, abs(time.time() - t) < 300
        return False, False


PERIODS = ["2025", "2025-Q1", "2025-Q2", "2024"]


class LoadGenerator:
    def __init__(self, client, rng, webhooks, n_orgs, threads, duration, max_ops, log, signer=None):
        self.c = client
        # The approver of the last organisation, which requires sign-off before submission.
        self.signer = signer
        self.rng = rng
        self.webhooks = webhooks
        self.n_orgs = n_orgs
        self.threads = threads
        self.duration = duration
        self.max_ops = max_ops
        self.log = log
        self.metrics, self.categories = schema_metrics()
        self.orgs = []  # dicts: org_id, orgnr
        self.ops = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.record_counter = 0
        self.report_counter = 0

    def setup(self):
        for i in range(self.n_orgs):
            org_id = f"chaos-{self.c.seed}-{i}"
            nr = org_number(self.rng)
            status, _ = self.c.write("organization", "POST", "/api/v1/organizations",
                                     {"org_id": org_id, "name": f"Chaos org {i}",
                                      "organisasjonsnummer": nr})
            if status not in (200, 201, 409):
                raise RuntimeError(f"could not create {org_id}: {status}")
            self.orgs.append({"org_id": org_id, "orgnr": nr})
        if self.signer:
            signed = self.orgs[-1]
            status, data = self.c.write("policy", "PUT", f"/api/v1/organizations/{signed['org_id']}/approval-policy",
                                        {"requirements": [{"role": "approver", "count": 1}]})
            if status != 200:
                raise RuntimeError(f"could not set the approval policy of {signed['org_id']}: {status} {data}")
            signed["signed"] = True
        for o in self.orgs:
            self.authenticate(o)
            status, data = self.c.write("webhook", "PUT", f"/api/v1/organizations/{o['org_id']}/webhook",
                                        {"url": self.webhooks.url()})
            if status == 200 and data:
                self.webhooks.add_secret(o["org_id"], data["secret"])
            else:
                raise RuntimeError(f"could not set webhook of {o['org_id']}: {status} {data}")

    def authenticate(self, o):
        return self.c.write("authenticate", "POST", "/api/v1/bufdir-api/authenticate",
                            {"client_id": "demo-client", "client_secret": "demo-secret",
                             "org_id": o["org_id"]})

    # --- operations -------------------------------------------------------------------------

    def op_import(self, o):
        n = self.rng.randint(5, 60)
        recs = []
        for _ in range(n):
            with self.lock:
                self.record_counter += 1
                rid = f"r-{self.record_counter}"
            year = self.rng.choice([2024, 2025, 2025])
            metric = self.rng.choice(self.metrics)
            rec = {"record_id": rid, "occurred_on": f"{year}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}",
                   "metric": metric, "value": self.rng.randint(0, 40)}
            if metric in self.categories:
                rec["hours"] = self.rng.randint(0, 20)
            recs.append(rec)
        self.c.write("import", "POST", "/api/v1/source-records",
                     {"organization_id": o["org_id"], "data_source": "chaos", "records": recs})

    def op_snapshot(self, o):
        self.c.write("snapshot", "POST", "/api/v1/aggregated-report-data",
                     {"organization_id": o["org_id"], "period_id": self.rng.choice(PERIODS),
                      "force_reaggregate": self.rng.random() < 0.3})

    def op_export(self, o, fmt=None):
        fmt = fmt or self.rng.choice(["excel", "xlsx", "csv", "pdf", "json"])
        year = self.rng.choice([2024, 2025])
        q = self.rng.random()
        if q < 0.5:
            pf, pt = f"{year}-01-01", f"{year}-12-31"
        elif q < 0.8:
            pf, pt = f"{year}-04-01", f"{year}-06-30"
        else:
            pf, pt = f"{year}-02-10", f"{year}-09-20"
        self.c.write("export", "POST", "/api/v1/bufdir-exports",
                     {"org_id": o["org_id"], "format": fmt, "period_from": pf, "period_to": pt,
                      "activity_types": [], "include_attachments": self.rng.random() < 0.5,
                      "submit_to_bufdir_api": self.rng.random() < 0.1,
                      "locale": self.rng.choice(["nb-NO", "nn-NO", "en-GB"])})

    def op_report(self, o):
        year = self.rng.choice([2023, 2024, 2025])
        kind = self.rng.choice(["annual_summary", "quarterly_activity", "custom_period"])
        if kind == "annual_summary":
            pf, pt = f"{year}-01-01", f"{year}-12-31"
        elif kind == "quarterly_activity":
            pf, pt = f"{year}-07-01", f"{year}-09-30"
        else:
            pf, pt = f"{year}-03-05", f"{year}-05-17"
        self.c.write("report", "POST", "/api/v1/report-history",
                     {"org_id": o["org_id"], "report_type": kind, "period_from": pf,
                      "period_to": pt})

    def op_reexport(self, o):
        got = self.c.get(f"/api/v1/report-history?org_id={o['org_id']}&limit=100")
        if not got or got[0] != 200:
            return
        done = [r for r in got[1]["data"] if r.get("status") == "completed" and r.get("source_position")]
        if not done:
            return self.op_export(o)
        r = self.rng.choice(done)
        self.c.write("reexport", "POST", "/api/v1/report-reexports",
                     {"report_id": r["report_id"], "notify_on_completion": True,
                      "export_params": {"format": self.rng.choice(["xlsx", "csv", "pdf"]),
                                        "include_annexes": self.rng.random() < 0.3,
                                        "locale": self.rng.choice(["nb-NO", "en-GB"])}})

    def sign_off_path(self, o, period):
        return f"/api/v1/organizations/{o['org_id']}/sign-offs/{period}"

    def op_approve(self, o):
        """The approver approves what the signed organisation's figures make now."""
        if not o.get("signed") or not self.signer:
            return self.op_read(o)
        path = self.sign_off_path(o, self.rng.choice(["2025", "2025-Q1"]))
        got = self.signer.get(path, tries=3)
        if not got or got[0] != 200:
            return
        self.signer.write("approve", "POST", f"{path}/approvals",
                          {"role": "approver", "payload_digest": got[1]["payload_digest"],
                           "comment": "chaos"})

    def op_submit(self, o):
        with self.lock:
            self.report_counter += 1
            rid = f"rpt-{self.c.seed}-{self.report_counter}"
        if o.get("signed"):
            # The payload the figures make: submitted when approved, else refused (409).
            got = self.c.get(self.sign_off_path(o, self.rng.choice(["2025", "2025-Q1"])), tries=3)
            if not got or got[0] != 200:
                return
            self.c.write("submit", "POST", "/api/v1/bufdir-api/submit",
                         {"report_id": rid, "org_id": o["org_id"],
                          "payload_version": "bufdir_2025_v2", "payload": got[1]["payload"]})
            return
        acts = self.rng.sample(self.categories, 2)
        payload = {"organisasjonsnummer": o["orgnr"], "rapporteringsperiode": self.rng.choice(["2025", "2025-Q1"]),
                   "aktiviteter": [{"kategori": k, "antall": self.rng.randint(1, 50),
                                    "timer": self.rng.randint(1, 24)} for k in acts],
                   "kontaktperson": {"navn": "Kari Nordmann", "epost": "kari@example.no"}}
        status, data = self.c.write("submit", "POST", "/api/v1/bufdir-api/submit",
                                    {"report_id": rid, "org_id": o["org_id"],
                                     "payload_version": "bufdir_2025_v2", "payload": payload})
        if status == 409 and data and "authenticate" in json.dumps(data).lower():
            self.authenticate(o)

    def op_read(self, o):
        p = self.rng.choice([f"/api/v1/bufdir-exports?org_id={o['org_id']}",
                             f"/api/v1/aggregated-report-data?organization_id={o['org_id']}",
                             f"/api/v1/report-reexports?org_id={o['org_id']}",
                             "/api/v1/organizations"])
        self.c.get(p, tries=3)

    def _worker(self, idx):
        rng = random.Random(self.rng.random())
        ops = [(self.op_import, 30), (self.op_snapshot, 12), (self.op_export, 14),
               (self.op_report, 6), (self.op_reexport, 10), (self.op_submit, 10), (self.op_read, 8),
               (self.op_approve, 6)]
        total = sum(w for _, w in ops)
        end = time.time() + self.duration
        while not self.stop.is_set() and time.time() < end:
            with self.lock:
                if self.ops >= self.max_ops:
                    return
                self.ops += 1
            o = rng.choice(self.orgs)
            x = rng.uniform(0, total)
            for fn, w in ops:
                x -= w
                if x <= 0:
                    break
            try:
                fn(o)
            except Exception as e:  # the harness must go on; the ledger has the request
                self.log(f"load thread {idx}: {fn.__name__} raised {type(e).__name__}: {e}")
            time.sleep(rng.uniform(0.05, 0.3))

    def run(self):
        # Every format at least once, up front.
        for i, fmt in enumerate(["excel", "xlsx", "csv", "pdf", "json"]):
            self.op_export(self.orgs[i % len(self.orgs)], fmt)
        threads = [threading.Thread(target=self._worker, args=(i,), name=f"load{i}", daemon=True)
                   for i in range(self.threads)]
        for t in threads:
            t.start()
        return threads

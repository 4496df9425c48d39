"""The checks at the end. Each returns a Result: a name, whether it passed, a line of counts and
the evidence of any failure (ids, events)."""

import collections
import http.client
import json
import time
import urllib.parse
from datetime import datetime


class Result:
    def __init__(self, name, ok, counts, evidence=None, warn=None, lost=0, dup=0):
        self.name, self.ok, self.counts = name, ok, counts
        self.lost, self.dup = lost, dup
        self.evidence = evidence or []
        self.warn = warn or []

    def line(self):
        return f"[{'PASS' if self.ok else 'FAIL'}] {self.name}: {self.counts}"


def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def read_log(client, page=1000, limit_s=180):
    """The whole event log through GET /api/v1/audit/events, following next_after."""
    events, after = [], None
    end = time.time() + limit_s
    for _ in range(100000):
        if time.time() > end:
            raise RuntimeError("reading the log took too long")
        q = {"limit": page}
        if after is not None:
            q["after"] = after
        got = client.get("/api/v1/audit/events?" + urllib.parse.urlencode(q), timeout=60)
        if got is None or got[0] != 200:
            raise RuntimeError(f"audit read failed: {got}")
        events.extend(got[1]["data"])
        after = got[1].get("next_after")
        if after is None:
            break
    for i, e in enumerate(events):
        e["_i"] = i
    return events


def key_of(request_id):
    return request_id.rsplit(".", 1)[0] if request_id and "." in request_id else None


# --- drain ---------------------------------------------------------------------------------

FINAL_EXPORT = {"completed", "failed", "cancelled"}


def drain(client, ledger, limit_s, log):
    """Waits (bounded) until every acknowledged export and re-export is final (and notified
    when asked) and every submission has left `pending`. Returns what is still open."""
    exports = {r["ack"]["body"]["export_id"] for r in ledger.acked("export") if r["ack"]["body"]}
    reexports = {r["ack"]["body"]["reexport_id"] for r in ledger.acked("reexport") if r["ack"]["body"]}
    subs = {r["ack"]["body"]["submission_id"] for r in ledger.acked("submit") if r["ack"]["body"]}
    end = time.time() + limit_s
    while time.time() < end:
        for e in list(exports):
            got = client.get(f"/api/v1/bufdir-exports/{e}", tries=3)
            if got and got[0] == 200 and got[1]["status"] in FINAL_EXPORT:
                if got[1].get("submission_id"):
                    subs.add(got[1]["submission_id"])
                exports.discard(e)
            elif got and got[0] == 404:
                exports.discard(e)
        for e in list(reexports):
            got = client.get(f"/api/v1/report-reexports/{e}", tries=3)
            if got and got[0] == 200 and got[1]["status"] in FINAL_EXPORT and (
                    got[1]["notified"] or not got[1]["notify_on_completion"] or got[1]["status"] == "cancelled"):
                reexports.discard(e)
            elif got and got[0] == 404:
                reexports.discard(e)
        for s in list(subs):
            got = client.get(f"/api/v1/bufdir-api/submission-status/{s}", tries=3)
            if got and got[0] == 200 and got[1]["status"] != "pending":
                subs.discard(s)
        if not (exports or reexports or subs):
            break
        log(f"drain: waiting for {len(exports)} exports, {len(reexports)} re-exports, {len(subs)} submissions")
        time.sleep(2)
    return {"exports": sorted(exports), "reexports": sorted(reexports), "submissions": sorted(subs)}


# --- the checks ----------------------------------------------------------------------------

def check_acked_in_log(ledger, events):
    by_type = collections.defaultdict(list)
    for e in events:
        by_type[e["event_type"]].append(e)

    def count(etype, field, value):
        return sum(1 for e in by_type[etype] if e["payload"].get(field) == value)

    streams = collections.Counter(e["stream"] for e in events if e["version"] == 0)
    by_key = collections.defaultdict(list)
    for e in events:
        k = key_of(e["metadata"].get("request_id"))
        if k:
            by_key[k].append(e)
    missing, twice, n = [], [], collections.Counter()
    for r in ledger.acked():
        b = r["ack"]["body"] or {}
        kind = r["kind"]
        n[kind] += 1
        if kind == "organization":
            c = streams.get(f"organization-{b.get('org_id')}", 0)
            what = b.get("org_id")
        elif kind == "import":
            c, what = count("SourceRecordsImported", "import_id", b.get("import_id")), b.get("import_id")
        elif kind == "snapshot":
            c, what = count("SnapshotRequested", "snapshot_id", b.get("snapshot_id")), b.get("snapshot_id")
        elif kind == "export":
            c, what = count("ExportRequested", "export_id", b.get("export_id")), b.get("export_id")
        elif kind == "reexport":
            c, what = count("ExportRequested", "export_id", b.get("reexport_id")), b.get("reexport_id")
        elif kind == "report":
            c = sum(1 for e in by_type["ReportRecorded"] if e["stream"] == f"report-{b.get('report_id')}")
            what = b.get("report_id")
        elif kind == "submit":
            c, what = count("SubmissionRequested", "submission_id", b.get("submission_id")), b.get("submission_id")
        elif kind == "approve":
            c = count("ReportApproved", "approval_id", b.get("approval_id"))
            what = b.get("approval_id")
        elif kind == "authenticate":
            c = sum(1 for e in by_key.get(r["key"], []) if e["event_type"] == "BufdirAuthenticated")
            what = r["key"]
        else:
            continue  # webhook endpoints are not events (checked separately)
        if c == 0:
            missing.append(f"{kind} {what} (key {r['key']}, answered {r['ack']['status']} to {r['ack']['request_id']})")
        elif c > 1:
            twice.append(f"{kind} {what}: {c} events")
    ok = not missing and not twice
    return Result("acknowledged writes in the log", ok,
                  f"acknowledged={sum(n.values())} ({dict(n)}) missing={len(missing)} duplicated={len(twice)}",
                  missing[:20] + twice[:20], lost=len(missing), dup=len(twice))


def check_no_duplicates(ledger, events):
    ids = collections.Counter(e["event_id"] for e in events)
    dup_ids = [i for i, c in ids.items() if c > 1]
    by_key = collections.defaultdict(set)
    for e in events:
        rid = e["metadata"].get("request_id")
        k = key_of(rid)
        if k and k.startswith("ck-"):
            by_key[k].add(rid)
    multi = {k: sorted(v) for k, v in by_key.items() if len(v) > 1}
    evidence = [f"event id {i} appears {ids[i]} times" for i in dup_ids[:10]]
    for k, rids in list(multi.items())[:10]:
        evs = [f"{e['event_type']}@{e['position']} ({e['metadata'].get('request_id')})"
               for e in events if key_of(e["metadata"].get("request_id")) == k]
        evidence.append(f"key {k}: events from {len(rids)} attempts: {evs[:6]}")
    replayed = sum(1 for r in ledger.acked() if r["ack"]["replayed"])
    return Result("nothing twice (event id, idempotency key)", not dup_ids and not multi,
                  f"events={len(events)} keys_with_events={len(by_key)} duplicate_event_ids={len(dup_ids)} "
                  f"keys_with_two_event_sets={len(multi)} replayed_answers={replayed}", evidence,
                  dup=len(dup_ids) + len(multi))


def check_audit_replay(cluster):
    code, out = cluster.audit_replay()
    lines = [l for l in out.splitlines() if l.strip()]
    return Result("audit replay", code == 0, f"exit={code}", [] if code == 0 else lines[-30:])


def check_export_claims(events):
    by_stream = collections.defaultdict(list)
    for e in events:
        if e["stream"].startswith("export-"):
            by_stream[e["stream"]].append(e)
    overlaps, stale_results, attempts, takeovers, completed_twice = [], [], 0, 0, []
    for stream, evs in by_stream.items():
        cur = None  # the attempt holding or last holding the job
        completions = collections.Counter()
        for e in evs:
            p, t = e["payload"], e["event_type"]
            if t == "ExportClaimed":
                attempts += 1
                takeovers += 1 if p.get("taken_over") else 0
                c = ts(p["claimed_at"])
                if cur and not cur["ended"] and cur["lease_until"] > c + 0.001:
                    overlaps.append(f"{stream}: attempt {p['attempt']} ({p['worker']}) claimed at {p['claimed_at']} "
                                    f"while attempt {cur['attempt']} ({cur['worker']}) held it until "
                                    f"{datetime.fromtimestamp(cur['lease_until']).isoformat()}")
                if cur and p["attempt"] <= cur["attempt"]:
                    overlaps.append(f"{stream}: attempt number {p['attempt']} after {cur['attempt']}")
                cur = {"attempt": p["attempt"], "worker": p["worker"], "lease_until": ts(p["lease_until"]),
                       "ended": False}
            elif t == "ExportProgressed":
                if cur is None or p["attempt"] != cur["attempt"] or cur["ended"]:
                    stale_results.append(f"{stream}: progress of attempt {p['attempt']} at {e['position']}, current {cur and cur['attempt']}")
                else:
                    cur["lease_until"] = max(cur["lease_until"], ts(p["lease_until"]))
            elif t in ("ExportCompleted", "ExportFailed"):
                if cur is None or p["attempt"] != cur["attempt"] or cur["ended"]:
                    stale_results.append(f"{stream}: {t} of attempt {p['attempt']} at {e['position']}, current {cur and cur['attempt']}")
                if cur:
                    cur["ended"] = True
                if t == "ExportCompleted":
                    completions[p["attempt"]] += 1
            elif t in ("ExportCancelled", "ExportRetried", "ExportDeleted") and cur:
                cur["ended"] = True
        if sum(completions.values()) > 1 and any(v > 1 for v in completions.values()):
            completed_twice.append(f"{stream}: {dict(completions)}")
    ok = not overlaps and not stale_results and not completed_twice
    return Result("export claims never overlap", ok,
                  f"exports={len(by_stream)} claims={attempts} taken_over={takeovers} overlaps={len(overlaps)} "
                  f"results_of_lost_attempts={len(stale_results)}",
                  overlaps[:15] + stale_results[:15] + completed_twice[:10])


def download(url, timeout=60):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        conn.request("GET", u.path + ("?" + u.query if u.query else ""))
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def check_export_files(client, events, still_open):
    completed = {}
    gone = set()
    for e in events:
        if e["event_type"] == "ExportCompleted":
            completed[e["stream"][len("export-"):]] = e["payload"]["file"]
        elif e["event_type"] in ("ExportDeleted", "ExportFileExpired"):
            gone.add(e["stream"][len("export-"):])
    bad, checked, total_bytes = [], 0, 0
    for export_id, f in sorted(completed.items()):
        if export_id in gone:
            continue
        got = client.get(f"/api/v1/bufdir-exports/{export_id}", tries=5)
        if not got or got[0] != 200:
            bad.append(f"{export_id}: detail answered {got and got[0]}")
            continue
        d = got[1]
        if d["status"] != "completed" or not d.get("file_url"):
            bad.append(f"{export_id}: completed in the log but {d['status']} with file_url {d.get('file_url')}")
            continue
        status, body = 0, b""
        for _ in range(5):
            try:
                status, body = download(d["file_url"])
                break
            except (OSError, http.client.HTTPException):
                time.sleep(0.5)
        checked += 1
        total_bytes += len(body)
        if status != 200 or len(body) != d.get("file_size_bytes") or len(body) != f["size_bytes"]:
            bad.append(f"{export_id}: download {status}, {len(body)} bytes; recorded {d.get('file_size_bytes')} "
                       f"(log {f['size_bytes']})")
    not_final = still_open["exports"] + still_open["reexports"]
    ok = not bad and not not_final
    return Result("completed exports download at their size", ok,
                  f"completed={len(completed)} downloaded={checked} bytes={total_bytes} mismatched={len(bad)} "
                  f"not_final_after_drain={len(not_final)}",
                  bad[:20] + [f"not final after drain: {x}" for x in not_final[:20]])


def check_submissions(ledger, events, sandbox_state, still_open):
    req = {}
    requested_at, delivered_at = {}, {}
    delivered = collections.Counter()
    refs = {}
    refused = set()
    for e in events:
        p, t = e["payload"], e["event_type"]
        if t == "SubmissionRequested":
            req[p["submission_id"]] = (p["org_id"], p["report_id"], p["payload_digest"])
            requested_at[p["submission_id"]] = ts(e["metadata"]["recorded_at"])
        elif t == "SubmissionDelivered":
            delivered_at.setdefault(p["submission_id"], ts(e["metadata"]["recorded_at"]))
            delivered[p["submission_id"]] += 1
            refs.setdefault(p["submission_id"], set()).add(p["reference_id"])
        elif t == "SubmissionRefused":
            refused.add(p["submission_id"])
    filed = collections.Counter(s["idempotency_key"] for s in sandbox_state["submissions"])
    filed_ref = {s["idempotency_key"]: s["reference_id"] for s in sandbox_state["submissions"]}
    per_report = collections.Counter()
    for k in filed:
        if k in req:
            per_report[req[k][:2]] += 1
    ev = []
    dup_filed = [k for k, c in filed.items() if c > 1]
    ev += [f"filed {filed[k]} times at the sandbox: {k}" for k in dup_filed[:10]]
    stray = [k for k in filed if k not in req]
    ev += [f"filed at the sandbox but not in the log: {k}" for k in stray[:10]]
    twice_report = [r for r, c in per_report.items() if c > 1]
    ev += [f"report {r} filed {per_report[r]} times under different keys" for r in twice_report[:10]]
    not_filed = [s for s in req if s not in filed and s not in refused]
    ev += [f"requested but never filed: {s}" for s in not_filed[:10]]
    dup_delivered = [s for s, c in delivered.items() if c > 1]
    ev += [f"SubmissionDelivered {delivered[s]} times: {s} refs {sorted(refs[s])}" for s in dup_delivered[:10]]
    ref_mismatch = [s for s in delivered if s in filed_ref and refs[s] != {filed_ref[s]}]
    ev += [f"reference of {s} is {sorted(refs[s])} in the log, {filed_ref[s]} at the sandbox" for s in ref_mismatch[:10]]
    acked = {r["ack"]["body"]["submission_id"] for r in ledger.acked("submit") if r["ack"]["body"]}
    lost = [s for s in acked if s not in req]
    ev += [f"acknowledged submission not in the log: {s}" for s in lost]
    c = sandbox_state.get("counters", {})
    ok = not (dup_filed or stray or twice_report or not_filed or dup_delivered or ref_mismatch or lost)
    waits = sorted((delivered_at[k] - requested_at[k], k) for k in delivered_at if k in requested_at)
    warn = []
    if waits and waits[-1][0] > 30:
        warn.append(f"slowest delivery {waits[-1][0]:.0f}s after the request ({waits[-1][1]}); "
                    f"{sum(1 for w, _ in waits if w > 30)} took over 30 s")
    if dup_delivered:
        warn.append("two SubmissionDelivered for one submission: two workers delivered the same due submission")
    return Result("submissions filed exactly once at the sandbox", ok,
                  f"requested={len(req)} acknowledged={len(acked)} filed={sum(filed.values())} "
                  f"unique_keys={len(filed)} refused={len(refused)} duplicated={len(dup_filed) + len(twice_report)} "
                  f"not_filed={len(not_filed)} delivered_twice_in_log={len(dup_delivered)} "
                  f"sandbox_submit_calls={c.get('submit_calls')} status_calls={c.get('status_calls')} "
                  f"faults_injected={c.get('faults_injected')} still_pending={len(still_open['submissions'])} "
                  f"slowest_delivery_s={waits[-1][0] if waits else 0:.1f}",
                  ev, warn, lost=len(not_filed) + len(lost), dup=len(dup_filed) + len(twice_report))


def order(e):
    """An event's place in the log, comparable: positions are text (`commit/prepare` on
    EventStoreDB), ordered by their commit part."""
    return int(str(e["position"]).split("/")[0])


def check_sign_off(events):
    """Each person approves a payload once; a submission of an organisation with a policy
    relies only on approvals that stood when it was recorded."""
    policy = {}
    approved_at, ended_at = {}, {}
    people = collections.Counter()
    submissions, voided = [], 0
    for e in events:
        p, t = e["payload"], e["event_type"]
        if t == "ApprovalPolicySet":
            policy[p["org_id"]] = bool(p["policy"].get("requirements"))
        elif t == "ReportApproved":
            approved_at[p["approval_id"]] = order(e)
            signer = p["signer"]
            people[(e["stream"], signer["subject"], signer.get("issuer"), p["digest"])] += 1
        elif t == "ApprovalWithdrawn":
            ended_at.setdefault(p["approval_id"], order(e))
        elif t == "ApprovalsVoided":
            voided += 1
            for a in p["approval_ids"]:
                ended_at.setdefault(a, order(e))
        elif t == "SubmissionRequested" and policy.get(p["org_id"]):
            submissions.append(e)
    ev = [f"{who[1]} approved {who[3][:12]} in {who[0]} {c} times" for who, c in people.items() if c > 1]
    unapproved = []
    for e in submissions:
        relied = e["payload"].get("approvals") or []
        at = order(e)
        standing = [a for a in relied
                    if approved_at.get(a["approval_id"], at + 1) < at
                    and ended_at.get(a["approval_id"], at + 1) > at]
        if not relied or len(standing) != len(relied):
            unapproved.append(f"submission {e['payload']['submission_id']} at {e['position']} relied on "
                              f"{[a['approval_id'] for a in relied]}, standing {[a['approval_id'] for a in standing]}")
    ev += unapproved[:10]
    twice = sum(1 for c in people.values() if c > 1)
    return Result("sign-off: one approval per person, no submission without standing approvals",
                  not twice and not unapproved,
                  f"approvals={len(approved_at)} voidings={voided} withdrawn_or_voided={len(ended_at)} "
                  f"signed_submissions={len(submissions)} approved_twice={twice} unapproved={len(unapproved)}",
                  ev, dup=twice)


def check_webhooks(events, receiver):
    owed = {}
    notified = collections.Counter()
    for e in events:
        p, t = e["payload"], e["event_type"]
        eid = e["stream"][len("export-"):] if e["stream"].startswith("export-") else None
        if t == "ExportRequested" and (p.get("reexport") or {}).get("notify_on_completion"):
            owed[p["export_id"]] = None
        elif t in ("ExportCompleted", "ExportFailed") and eid in owed:
            owed[eid] = t
        elif t == "ExportNotified":
            notified[eid] += 1
    deliveries = collections.defaultdict(list)
    for d in receiver.deliveries:
        deliveries[d["webhook_id"]].append(d)
    invalid = [d for d in receiver.deliveries if not d["valid"]]
    ev = [f"invalid signature on webhook {d['webhook_id']} (org {d['org']})" for d in invalid[:10]]
    missing, twice_logged = [], []
    finished = [x for x, t in owed.items() if t]
    for x in finished:
        if not any(d["valid"] and d["answered"] == 200 for d in deliveries.get(x, [])):
            missing.append(x)
        if notified.get(x, 0) != 1:
            twice_logged.append(f"{x}: ExportNotified {notified.get(x, 0)} times")
    ev += [f"never delivered with a 2xx: {x}" for x in missing[:10]] + twice_logged[:10]
    stale = [d for d in receiver.deliveries if d["valid"] and not d["fresh"]]
    ok = not invalid and not missing and not twice_logged
    return Result("webhooks delivered, signed, recorded once", ok,
                  f"owed={len(finished)} (of {len(owed)} asked) deliveries={len(receiver.deliveries)} "
                  f"answered_500_on_purpose={sum(1 for d in receiver.deliveries if d['answered'] == 500)} "
                  f"invalid_signatures={len(invalid)} undelivered={len(missing)} "
                  f"recorded_not_once={len(twice_logged)} old_timestamps={len(stale)}", ev,
                  lost=len(missing), dup=len(twice_logged))


def sse_message_count(e):
    t = e["event_type"]
    if t == "SnapshotAggregated":
        # `superseded` is the one snapshot this one replaced, if any: a `historical` message.
        return (1 if e["payload"].get("superseded") else 0) + 1
    if t in ("SnapshotRequested", "SnapshotInvalidated", "SnapshotAggregationFailed", "SnapshotDeleted"):
        return 1
    return 0


def sse_expected(events, sub):
    index = {e["position"]: e["_i"] for e in events}
    start = index.get(sub.start_after, -1) if sub.start_after is not None else -1
    stream = f"snapshot-{sub.org}:{sub.period}"
    out = []
    for e in events:
        if e["stream"] == stream and e["_i"] > start:
            out += [e["position"]] * sse_message_count(e)
    return out


def check_sse(events, subs):
    bad, delivered, reconnects, expected_total = [], 0, 0, 0
    lost = dup = 0
    for s in subs:
        exp = sse_expected(events, s)
        got = [m[0] for m in s.messages]
        delivered += len(got)
        expected_total += len(exp)
        reconnects += max(0, s.connects - 1)
        if got != exp:
            missing = collections.Counter(exp) - collections.Counter(got)
            extra = collections.Counter(got) - collections.Counter(exp)
            order = "" if missing or extra else " (same messages, other order)"
            lost += sum(missing.values())
            dup += sum(extra.values())
            bad.append(f"subscriber {s.idx} {s.org}/{s.period}: expected {len(exp)} got {len(got)}, "
                       f"missing {dict(list(missing.items())[:5])} extra {dict(list(extra.items())[:5])}{order}; "
                       f"connects {s.connects}")
    return Result("SSE: every event once, in order, across reconnects", not bad,
                  f"subscribers={len(subs)} expected={expected_total} delivered={delivered} "
                  f"reconnects={reconnects} subscribers_wrong={len(bad)} missed={lost} extra={dup}", bad[:15],
                  lost=lost, dup=dup)


def check_readiness(outage):
    if not outage:
        return Result("/readyz through the PostgreSQL outage", False, "no outage happened", [])
    ev = []
    for name, st in outage["down_statuses"].items():
        if 503 not in st:
            ev.append(f"{name} never answered 503 while PostgreSQL was down (saw {st}; 0 = no answer in time)")
    if outage.get("t_ready") is None:
        ev.append(f"not ready 90 s after PostgreSQL came back: {outage['up_statuses']}")
    for name, r in outage["restarted"].items():
        if r:
            ev.append(f"{name} was restarted during the outage")
    warn = []
    if outage.get("slowest_503_seconds") and outage["slowest_503_seconds"] > 5:
        ev.append(f"/readyz took up to {outage['slowest_503_seconds']:.1f}s to answer 503 while PostgreSQL was down "
                    f"(a load balancer's health check usually times out sooner)")
    if ev:
        ev.append(f"observations (s after stop, status, s to answer): {outage.get('down_observations')}")
    return Result("/readyz through the PostgreSQL outage", not ev,
                  f"down={outage['t_back'] - outage['t_stop']:.1f}s statuses_while_down={outage['down_statuses']} "
                  f"slowest_503={outage.get('slowest_503_seconds') and round(outage['slowest_503_seconds'], 1)}s "
                  f"seconds_from_pg_back_to_ready={outage['seconds_to_ready'] and round(outage['seconds_to_ready'], 2)} "
                  f"restarted={outage['restarted']}", ev, warn)


def check_5xx(ledger):
    bad, in_outage, outside = [], 0, 0
    for r in ledger.server_errors:
        if r["status"] == 503 and r["retry_after"]:
            if any(s <= r["t"] <= (e or time.time()) + 2 for s, e in ledger.outages):
                in_outage += 1
            else:
                outside += 1
        else:
            bad.append(f"{r['status']} (Retry-After {r['retry_after']}) on {r['method']} {r['path']} "
                       f"request {r.get('request_id')} from {r['server']} at {r['t']:.1f}: {r.get('body')}")
    return Result("no 5xx but 503 with Retry-After", not bad,
                  f"5xx={len(ledger.server_errors)} 503_in_outage={in_outage} 503_outside_outage={outside} other={len(bad)}",
                  bad[:20])


def check_processes(cluster):
    ex = cluster.unexpected_exits
    return Result("no process exited by itself", not ex, f"unexpected_exits={len(ex)}",
                  [f"{n} exited with {c} at {t:.1f}" for n, c, t in ex[:10]])


def check_webhook_endpoints(client, ledger):
    bad = []
    for r in ledger.acked("webhook"):
        org = r["path"].split("/")[4]
        got = client.get(f"/api/v1/organizations/{org}/webhook", tries=5)
        if not got or got[0] != 200 or got[1].get("url") != r["body"]["url"]:
            bad.append(f"{org}: {got}")
    return Result("webhook endpoints kept", not bad, f"set={len(ledger.acked('webhook'))} wrong={len(bad)}", bad)


def check_aggregations(events):
    """One aggregation per snapshot change: two SnapshotAggregated of one snapshot at the same
    source position are the same work done twice (two workers on one snapshot)."""
    seen = collections.defaultdict(list)
    for e in events:
        if e["event_type"] == "SnapshotAggregated":
            p = e["payload"]
            seen[(p["snapshot_id"], p.get("source_position"))].append(e)
    twice = {k: v for k, v in seen.items() if len(v) > 1}
    ev = [f"snapshot {k[0]} aggregated {len(v)} times at source position {k[1]}: events at "
          f"{[x['position'] for x in v]} by {[x['metadata'].get('actor') for x in v]}"
          for k, v in list(twice.items())[:10]]
    return Result("one aggregation per snapshot change", not twice,
                  f"aggregations={sum(len(v) for v in seen.values())} repeated={sum(len(v) - 1 for v in twice.values())}",
                  ev, dup=sum(len(v) - 1 for v in twice.values()))

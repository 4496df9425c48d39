#!/usr/bin/env python3
"""The chaos run of issue 17: the scale-out deployment (a private PostgreSQL, two API replicas,
two workers, the Bufdir sandbox) under load while processes, the sandbox and the database are
killed; then checks that nothing was lost or duplicated. See tests/chaos/README.md."""

import argparse
import atexit
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checks  # noqa: E402
from cluster import Cluster, http_get, tail  # noqa: E402
from killer import Killer  # noqa: E402
from load import PERIODS, Client, Ledger, LoadGenerator, WebhookReceiver  # noqa: E402
from sse import Subscriber  # noqa: E402

MODES = {
    # load seconds, kill interval, outage at/for, drain limit, orgs, load threads, max ops
    "short": dict(load=85, interval=(4, 8), outage_at=35, outage_for=12, drain=100, orgs=5, threads=5, max_ops=2500,
                  stuck_wait=45),
    "long": dict(load=540, interval=(4, 9), outage_at=200, outage_for=40, drain=150, orgs=10, threads=6, max_ops=20000,
                 stuck_wait=140),
}

T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mode", choices=MODES, default="short")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--bin", default="target/debug/bufdir-reporting")
    ap.add_argument("--subscribers", type=int, default=50)
    ap.add_argument("--summary", default=None, help="where to write the JSON summary (default: in the run directory)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory (logs, ledger) even when it passes")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1, 10**6)
    m = MODES[args.mode]
    rng = random.Random(seed)
    if not os.path.exists(args.bin):
        print(f"no binary at {args.bin}: cargo build -p api --bin bufdir-reporting", file=sys.stderr)
        return 2

    root = tempfile.mkdtemp(prefix=f"bufdir-chaos-{seed}-")
    os.chmod(root, 0o755)
    log(f"chaos run, mode {args.mode}, seed {seed}, directory {root}")
    cluster = Cluster(args.bin, root)
    cleaned = threading.Event()
    stop_all = threading.Event()

    def cleanup():
        if cleaned.is_set():
            return
        cleaned.set()
        stop_all.set()
        cluster.cleanup()

    atexit.register(cleanup)

    def on_signal(signum, _frame):
        log(f"signal {signum}: cleaning up")
        cleanup()
        os._exit(130)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # A hard stop on the whole run, whatever happens: it stops by itself.
    hard_limit = m["load"] + m["drain"] + 300
    watchdog = threading.Timer(hard_limit, lambda: on_signal("watchdog", None))
    watchdog.daemon = True
    watchdog.start()

    results, summary = [], {"seed": seed, "mode": args.mode}
    try:
        cluster.start(log)
        token = cluster.token(sub="chaos-load")
        ledger = Ledger()
        bases = [p.base() for p in cluster.apis]
        client = Client(bases, token, ledger, seed)
        receiver = WebhookReceiver(random.Random(seed + 1))
        receiver.start()
        # The last organisation requires sign-off; its approver is someone else than the loader.
        signed_org = f"chaos-{seed}-{m['orgs'] - 1}"
        signer = Client(bases, cluster.token(role="approver", sub="chaos-approver", orgs=[signed_org]),
                        ledger, seed)
        gen = LoadGenerator(client, rng, receiver, m["orgs"], m["threads"], m["load"], m["max_ops"], log,
                            signer=signer)
        gen.setup()
        log(f"{len(gen.orgs)} organisations, authenticated at the sandbox, webhooks at {receiver.url()}")

        # SSE subscribers, each starting after the log head it read from /readyz.
        head = json.loads(http_get(bases[0] + "/readyz", 5)[1])["store"].get("head")
        pairs = [(o["org_id"], p) for o in gen.orgs for p in PERIODS]
        sse_deadline = time.time() + m["load"] + m["drain"] + 120
        subs = [Subscriber(i, bases, token, *pairs[i % len(pairs)], head, stop_all, sse_deadline)
                for i in range(args.subscribers)]
        for s in subs:
            s.thread.start()
        end = time.time() + 30
        for s in subs:
            s.connected.wait(timeout=max(0.1, end - time.time()))
        log(f"{sum(1 for s in subs if s.connected.is_set())} of {len(subs)} SSE subscribers connected")

        stuck_stop = threading.Event()
        retrier = threading.Thread(target=client.retry_stuck,
                                   args=(time.time() + m["load"] + m["stuck_wait"] + 10, stuck_stop),
                                   name="retrier", daemon=True)
        retrier.start()
        killer = Killer(cluster, ledger, rng, m["load"], m["interval"], m["outage_at"], m["outage_for"], log)
        threads = gen.run()
        killer.thread.start()
        t_load = time.time()
        for t in threads:
            t.join(timeout=max(1, m["load"] + 90 - (time.time() - t_load)))
        gen.stop.set()
        killer.stop.set()
        killer.thread.join(timeout=120)
        log(f"load stopped after {time.time() - t_load:.0f}s: {len(ledger.requests)} requests, "
            f"{len(ledger.acked())} acknowledged, {len(killer.kills)} kills")
        # Every process up for the drain and the checks.
        cluster.wait_ready(cluster.apis, 60)
        # Keys whose request died with its process are taken over after 2 minutes: retry them
        # (bounded; what is still open is reported).
        end = time.time() + m["stuck_wait"]
        while client.stuck_open() and time.time() < end:
            time.sleep(1)
        stuck_stop.set()
        retrier.join(timeout=70)
        stuck_left = client.stuck_open()
        stuck_all = [r for r in ledger.requests if r.get("stuck")]
        log(f"stuck idempotency keys: {len(stuck_all)}, resolved {sum(1 for r in stuck_all if r['ack'])}, "
            f"still open {len(stuck_left)}")

        still_open = checks.drain(client, ledger, m["drain"], log)
        events = checks.read_log(client)
        log(f"log read: {len(events)} events")
        # Let the subscribers catch up with the log (bounded), then close them.
        end = time.time() + 20
        while time.time() < end:
            if all(checks.sse_expected(events, s)[-1:] == [m_[0] for m_ in s.messages][-1:] for s in subs):
                break
            time.sleep(0.5)
        stop_all.set()
        for s in subs:
            s.close()
        for s in subs:
            s.thread.join(timeout=5)

        sandbox_state = cluster.sandbox_state()
        cluster.stop_monitor()
        results = [
            checks.check_acked_in_log(ledger, events),
            checks.check_no_duplicates(ledger, events),
            checks.check_audit_replay(cluster),
            checks.check_export_claims(events),
            checks.check_aggregations(events),
            checks.check_export_files(client, events, still_open),
            checks.check_submissions(ledger, events, sandbox_state, still_open),
            checks.check_sign_off(events),
            checks.check_webhooks(events, receiver),
            checks.check_webhook_endpoints(client, ledger),
            checks.check_sse(events, subs),
            checks.check_readiness(killer.outage),
            checks.check_5xx(ledger),
            checks.check_processes(cluster),
        ]
        receiver.stop()
        ledger.dump(os.path.join(root, "ledger.jsonl"))
        with open(os.path.join(root, "events.json"), "w") as f:
            json.dump(events, f)
        with open(os.path.join(root, "sse.json"), "w") as f:
            json.dump([{"idx": s.idx, "org": s.org, "period": s.period, "start_after": s.start_after,
                        "connects": s.connects, "errors": s.errors, "messages": s.messages} for s in subs], f)

        kinds = {}
        for r in ledger.acked():
            kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
        lost = sum(r.lost for r in results)
        summary.update({
            "processes_killed": len(killer.kills),
            "kills": [n for _, n in killer.kills],
            "sandbox_down_periods": killer.sandbox_downs,
            "pg_restarts": killer.pg_restarts,
            "requests_made": len(ledger.requests),
            "request_attempts": ledger.attempts,
            "requests_acknowledged": len(ledger.acked()),
            "acknowledged_by_kind": kinds,
            "events": len(events),
            "exports": sum(1 for e in events if e["event_type"] == "ExportRequested"),
            "exports_completed": sum(1 for e in events if e["event_type"] == "ExportCompleted"),
            "submissions": sum(1 for e in events if e["event_type"] == "SubmissionRequested"),
            "sse_events_delivered": sum(len(s.messages) for s in subs),
            "stuck_keys": len(stuck_all),
            "stuck_keys_resolved": sum(1 for r in stuck_all if r["ack"]),
            "stuck_keys_left_open": [r["key"] for r in stuck_left],
            "webhooks_received": len(receiver.deliveries),
            "seconds_pg_back_to_ready": killer.outage and killer.outage.get("seconds_to_ready"),
            "checks": {r.name: {"ok": r.ok, "counts": r.counts, "evidence": r.evidence, "warn": r.warn}
                       for r in results},
            "unexpected_exits": cluster.unexpected_exits,
            "wall_seconds": round(time.time() - T0, 1),
            "directory": root,
        })
        summary["lost"] = lost
        summary["duplicated"] = sum(r.dup for r in results)
    except Exception as e:
        import traceback
        traceback.print_exc()
        results.append(checks.Result("the run itself", False, f"{type(e).__name__}: {e}"))
        summary["error"] = f"{type(e).__name__}: {e}"

    ok = bool(results) and all(r.ok for r in results)
    print()
    for r in results:
        print(r.line(), flush=True)
        for w in r.warn:
            print(f"    note: {w}")
        if not r.ok:
            for ev in r.evidence[:12]:
                print(f"    - {ev}")
    summary["ok"] = ok
    path = args.summary or os.path.join(root, "summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=2, default=str)
    if not ok:
        print(f"\nFAILED: seed {seed} (rerun: tests/chaos/run.py --mode {args.mode} --seed {seed})")
        for name in ["api0", "api1", "worker0", "worker1", "sandbox"]:
            print(f"\n--- tail of {name}.log ---")
            print(tail(os.path.join(root, "logs", f"{name}.log"), 15))
        print(f"\n--- tail of postgres.log ---\n{tail(os.path.join(root, 'logs', 'postgres.log'), 10)}")
    cleanup()
    if ok and not args.keep:
        import shutil
        for d in ("files", "data", "pgsock"):
            shutil.rmtree(os.path.join(root, d), ignore_errors=True)
    print()
    print(f"seed={seed} mode={args.mode} wall={time.time() - T0:.0f}s directory={root} summary={path}")
    if "requests_made" in summary:
        print(f"processes killed={summary['processes_killed']} pg_restarts={summary['pg_restarts']} "
              f"sandbox_down={summary['sandbox_down_periods']}")
        print(f"requests made={summary['requests_made']} (attempts {summary['request_attempts']}) "
              f"acknowledged={summary['requests_acknowledged']} events={summary['events']} "
              f"exports={summary['exports']} (completed {summary['exports_completed']}) "
              f"submissions={summary['submissions']} sse_events_delivered={summary['sse_events_delivered']} "
              f"stuck_keys={summary['stuck_keys']} (resolved {summary['stuck_keys_resolved']})")
        print(f"lost={summary['lost']} duplicated={summary['duplicated']} "
              f"seconds_pg_back_to_ready={summary['seconds_pg_back_to_ready'] and round(summary['seconds_pg_back_to_ready'], 2)}")
    print("RESULT: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

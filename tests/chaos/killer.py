"""The killer: every few seconds SIGKILL one random API or worker process and start it again
(same port for API processes); now and then switch the sandbox `down` for a few seconds; once per
run stop the private PostgreSQL hard and start it again, watching /readyz on both API processes."""

import signal
import threading
import time

from cluster import http_get


class Killer:
    def __init__(self, cluster, ledger, rng, duration, interval, outage_at, outage_for, log):
        self.cl = cluster
        self.ledger = ledger
        self.rng = rng
        self.duration = duration
        self.interval = interval  # (min, max) seconds between kills
        self.outage_at = outage_at  # seconds into the run
        self.outage_for = outage_for
        self.log = log
        self.stop = threading.Event()
        self.kills = []  # (t, name)
        self.sandbox_downs = 0
        self.pg_restarts = 0
        self.outage = None  # dict with the readyz observations
        self.thread = threading.Thread(target=self.run, name="killer", daemon=True)

    def run(self):
        t0 = time.time()
        end = t0 + self.duration
        outage_done = False
        next_kill = t0 + self.rng.uniform(*self.interval)
        next_down = t0 + self.rng.uniform(10, 25)
        for _ in range(10000):
            if self.stop.is_set() or time.time() >= end:
                break
            now = time.time()
            if not outage_done and now - t0 >= self.outage_at:
                outage_done = True
                try:
                    self.pg_outage()
                except Exception as e:
                    self.log(f"killer: outage failed: {type(e).__name__}: {e}")
                    self.outage = (self.outage or {}) | {"error": str(e)}
                next_kill = time.time() + self.rng.uniform(*self.interval)
                continue
            if now >= next_kill:
                self.kill_one()
                next_kill = time.time() + self.rng.uniform(*self.interval)
            if now >= next_down:
                self.sandbox_down()
                next_down = time.time() + self.rng.uniform(15, 30)
            self.stop.wait(0.2)

    def kill_one(self):
        p = self.rng.choice(self.cl.apis + self.cl.workers)
        with self.cl.restart_lock:
            p.kill(signal.SIGKILL)
            self.kills.append((time.time(), p.name))
            time.sleep(self.rng.uniform(0.2, 1.0))
            p.start()
        self.log(f"killer: SIGKILL {p.name}, started again (pid {p.pid})")

    def sandbox_down(self):
        secs = self.rng.uniform(2, 5)
        try:
            self.cl.sandbox_faults(down=True)
            self.sandbox_downs += 1
            self.stop.wait(secs)
        finally:
            try:
                self.cl.sandbox_faults(down=False)
            except Exception as e:
                self.log(f"killer: could not turn the sandbox up again: {e}")
        self.log(f"killer: sandbox down for {secs:.1f}s")

    def _poll_ready(self, obs, until_pred, limit):
        """Polls /readyz of each API process from its own thread (so a hanging answer on one does
        not hide the other) until until_pred(obs) or limit s. Each observation is (time asked,
        status, seconds to answer); status 0 is no answer in time (at most 35 s, and not past
        the limit)."""
        end = time.time() + limit
        done = threading.Event()
        lock = threading.Lock()

        def poll(p):
            while not done.is_set() and time.time() < end:
                t = time.time()
                status, _, _ = http_get(p.base() + "/readyz", max(1.0, min(35.0, end - t)))
                with lock:
                    obs.setdefault(p.name, []).append((t, status, time.time() - t))
                    if until_pred(obs):
                        done.set()
                done.wait(0.25)

        threads = [threading.Thread(target=poll, args=(p,), daemon=True) for p in self.cl.apis]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=limit + 20)
        return done.is_set()

    def pg_outage(self):
        pids = {p.name: p.pid for p in self.cl.apis}
        starts = {p.name: p.starts for p in self.cl.apis}
        self.log("killer: PostgreSQL stop -m immediate")
        t_stop = time.time()
        self.ledger.outages.append([t_stop, None])
        self.cl.pg.stop_immediate()
        down_obs = {}
        self._poll_ready(down_obs, lambda o: False, self.outage_for)
        self.cl.pg.start()
        t_back = time.time()
        self.pg_restarts += 1
        self.log(f"killer: PostgreSQL started again after {t_back - t_stop:.1f}s down")
        up_obs = {}
        ready_at = {}

        def both_ready(obs):
            for name, seq in obs.items():
                if name not in ready_at and seq and seq[-1][1] == 200:
                    ready_at[name] = seq[-1][0] + seq[-1][2]
            return len(ready_at) == len(self.cl.apis)

        ok = self._poll_ready(up_obs, both_ready, 90)
        t_ready = time.time()
        self.ledger.outages[-1][1] = t_ready
        self.outage = {
            "t_stop": t_stop, "t_back": t_back, "t_ready": t_ready if ok else None,
            "seconds_to_ready": (max(ready_at.values()) - t_back) if ok else None,
            "per_api_seconds_to_ready": {k: v - t_back for k, v in ready_at.items()},
            "down_statuses": {k: sorted({s for _, s, _ in v}) for k, v in down_obs.items()},
            "up_statuses": {k: sorted({s for _, s, _ in v}) for k, v in up_obs.items()},
            "slowest_503_seconds": max([d for v in down_obs.values() for _, s, d in v if s == 503], default=None),
            "down_observations": {k: [(round(t - t_stop, 2), s, round(d, 2)) for t, s, d in v]
                                  for k, v in down_obs.items()},
            "restarted": {p.name: (p.pid != pids[p.name] or p.starts != starts[p.name])
                          for p in self.cl.apis},
        }
        self.log(f"killer: both API processes ready {self.outage['seconds_to_ready']}s after PostgreSQL came back")

"""The deployment under test: a private PostgreSQL, the Bufdir sandbox, two `serve --no-workers`
API processes and two `worker` processes, every one in its own process group so that a SIGKILL
takes exactly it and cleanup takes everything we started (and nothing else)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request

PG_BIN = "/usr/local/bin"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=3.0):
    """(status, body bytes, headers); status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)
    except Exception:
        return 0, b"", {}


def tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(data[-lines:])
    except OSError as e:
        return f"(no log: {e})"


class PrivatePostgres:
    """initdb into a temporary directory as the `postgres` OS user (initdb refuses root), its own
    port on 127.0.0.1, the socket in the data directory."""

    def __init__(self, root, log):
        self.dir = os.path.join(root, "pgdata")
        self.sock = os.path.join(root, "pgsock")
        self.log_path = os.path.join(root, "logs", "postgres.log")
        self.port = free_port()
        self.log = log
        self.started = False
        self.as_postgres = os.geteuid() == 0
        self.restarts = 0

    def _run(self, args, check=True, timeout=120):
        cmd = (["runuser", "-u", "postgres", "--"] if self.as_postgres else []) + args
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r

    def init(self):
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(self.sock, exist_ok=True)
        if self.as_postgres:
            for d in (self.dir, self.sock, os.path.dirname(self.log_path)):
                shutil.chown(d, "postgres", "postgres")
        self._run([f"{PG_BIN}/initdb", "-D", self.dir, "-A", "trust", "-U", "postgres",
                   "--no-sync", "-E", "UTF8"])
        with open(os.path.join(self.dir, "postgresql.conf"), "a") as f:
            # The machine never crashes here, only PostgreSQL does (`stop -m immediate`), so the
            # OS keeps what was written to it and fsync can be off. synchronous_commit must stay
            # on: off, a commit is answered before its WAL leaves PostgreSQL's own memory, and an
            # immediate stop loses acknowledged writes (a run with it off did).
            f.write("\nfsync = off\nfull_page_writes = off\n"
                    "max_connections = 300\nlisten_addresses = '127.0.0.1'\n")
        self.start()
        self._run(["psql", "-h", self.sock, "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                   "-q", "-c", "CREATE DATABASE bufdir"])

    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/bufdir"

    def start(self):
        self._run([f"{PG_BIN}/pg_ctl", "-D", self.dir, "-o",
                   f"-p {self.port} -k {self.sock} -h 127.0.0.1", "-l", self.log_path,
                   "-w", "-t", "60", "start"])
        self.started = True

    def stop_immediate(self):
        self._run([f"{PG_BIN}/pg_ctl", "-D", self.dir, "-m", "immediate", "-w", "stop"], check=False)
        self.started = False

    def cleanup(self):
        if os.path.isdir(self.dir):
            self._run([f"{PG_BIN}/pg_ctl", "-D", self.dir, "-m", "immediate", "-w", "stop"],
                      check=False, timeout=60)
        self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


class Proc:
    """One process of ours, in its own session (process group)."""

    def __init__(self, name, kind, args, env, log_path, port=None):
        self.name, self.kind, self.args, self.env = name, kind, args, env
        self.log_path, self.port = log_path, port
        self.popen = None
        self.starts = 0
        self.killed_by_us = False
        self.lock = threading.Lock()

    def start(self):
        with self.lock:
            log = open(self.log_path, "ab")
            log.write(f"\n=== chaos: start #{self.starts + 1} of {self.name} at {time.time():.3f}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=log,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()
            self.starts += 1
            self.killed_by_us = False

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig=signal.SIGKILL):
        with self.lock:
            if self.popen is None:
                return
            self.killed_by_us = True
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout=10)

    def base(self):
        return f"http://127.0.0.1:{self.port}" if self.port else None


class Cluster:
    def __init__(self, binary, root, poll_seconds=2, lease_seconds=6):
        self.bin = os.path.abspath(binary)
        self.root = root
        self.logs = os.path.join(root, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.files = os.path.join(root, "files")
        os.makedirs(self.files, exist_ok=True)
        self.pg = PrivatePostgres(root, self.logs)
        self.jwt_secret = "chaos-" + os.urandom(24).hex()
        self.sandbox_port = free_port()
        self.procs = []
        self.apis = []
        self.workers = []
        self.sandbox = None
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.unexpected_exits = []  # (name, returncode, time)
        self._monitor_stop = threading.Event()
        self._monitor = None
        self.restart_lock = threading.Lock()

    def env(self, data_dir):
        e = {k: v for k, v in os.environ.items()
             if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")}
        e.update({
            "DATABASE_URL": self.pg.url(),
            "JWT_SECRET": self.jwt_secret,
            "BUFDIR_API_URL": f"http://127.0.0.1:{self.sandbox_port}",
            "FILE_STORE_URL": "file://" + self.files,
            "BUFDIR_DATA_DIR": data_dir,
            "WEBHOOK_ALLOW_PRIVATE": "true",
            "WEBHOOK_RETRY_SECONDS": "1",
            "BUFDIR_STATUS_POLL_SECONDS": str(self.poll_seconds),
            "BUFDIR_SUBMIT_WAIT_MS": "1500",
            "BUFDIR_TIMEOUT_SECONDS": "3",
            "EXPORT_LEASE_SECONDS": str(self.lease_seconds),
            "LOG_FORMAT": "json",
            "RUST_LOG": "info,sqlx=warn",
            "NO_COLOR": "1",
        })
        return e

    def _data_dir(self, name):
        d = os.path.join(self.root, "data", name)
        os.makedirs(d, exist_ok=True)
        return d

    def start(self, log):
        t0 = time.time()
        self.pg.init()
        log(f"postgres ready on 127.0.0.1:{self.pg.port} in {time.time() - t0:.1f}s")
        self.sandbox = Proc("sandbox", "sandbox", [
            self.bin, "bufdir-sandbox", "--bind", f"127.0.0.1:{self.sandbox_port}",
            "--sandbox-fail-share", "0.1", "--sandbox-drop-share", "0.05",
            "--sandbox-processing-delay-ms", "2000"],
            self.env(self._data_dir("sandbox")), os.path.join(self.logs, "sandbox.log"),
            self.sandbox_port)
        self.sandbox.start()
        self.procs.append(self.sandbox)
        # Migrate once before the replicas race for it.
        r = subprocess.run([self.bin, "migrate"], env=self.env(self._data_dir("migrate")),
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            raise RuntimeError(f"migrate failed: {r.stdout}{r.stderr}")
        for i in range(2):
            port = free_port()
            p = Proc(f"api{i}", "api", [self.bin, "serve", "--no-workers", "--no-demo",
                                        "--bind", f"127.0.0.1:{port}"],
                     self.env(self._data_dir(f"api{i}")), os.path.join(self.logs, f"api{i}.log"), port)
            self.apis.append(p)
        for i in range(2):
            p = Proc(f"worker{i}", "worker", [self.bin, "worker"],
                     self.env(self._data_dir(f"worker{i}")), os.path.join(self.logs, f"worker{i}.log"))
            self.workers.append(p)
        for p in self.apis + self.workers:
            p.start()
            self.procs.append(p)
        self.wait_ready(self.apis, 120)
        wait_port(self.sandbox_port, 30)
        log(f"cluster up in {time.time() - t0:.1f}s: api {[p.port for p in self.apis]}, "
            f"sandbox {self.sandbox_port}")
        self._monitor = threading.Thread(target=self._watch_exits, name="monitor", daemon=True)
        self._monitor.start()

    def wait_ready(self, apis, timeout):
        deadline = time.time() + timeout
        pending = list(apis)
        while pending and time.time() < deadline:
            pending = [p for p in pending if http_get(p.base() + "/readyz", 2)[0] != 200]
            if pending:
                time.sleep(0.3)
        if pending:
            raise RuntimeError(f"not ready after {timeout}s: {[p.name for p in pending]}")

    def _watch_exits(self):
        """A process that dies without our SIGKILL is a finding: note it and start it again so
        the run goes on."""
        while not self._monitor_stop.wait(0.5):
            for p in self.apis + self.workers + [self.sandbox]:
                with self.restart_lock:
                    if p.popen is not None and not p.killed_by_us and p.popen.poll() is not None:
                        self.unexpected_exits.append((p.name, p.popen.returncode, time.time()))
                        if not self._monitor_stop.is_set():
                            p.start()

    def token(self, role="admin", sub="chaos-load", ttl=3600, orgs=()):
        orgs_args = [a for org in orgs for a in ("--org", org)]
        r = subprocess.run([self.bin, "token", "--role", role, "--ttl", str(ttl), "--sub", sub]
                           + orgs_args,
                           env=self.env(self._data_dir("token")), capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"token failed: {r.stderr}")
        return r.stdout.strip().splitlines()[-1].strip()

    def audit_replay(self):
        r = subprocess.run([self.bin, "audit", "replay"], env=self.env(self._data_dir("audit")),
                           capture_output=True, text=True, timeout=300)
        return r.returncode, r.stdout + r.stderr

    def sandbox_faults(self, **faults):
        req = urllib.request.Request(f"http://127.0.0.1:{self.sandbox_port}/sandbox/faults",
                                     data=json.dumps(faults).encode(), method="PUT",
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status

    def sandbox_state(self):
        status, body, _ = http_get(f"http://127.0.0.1:{self.sandbox_port}/sandbox/state", 10)
        if status != 200:
            raise RuntimeError(f"sandbox state: {status}")
        return json.loads(body)

    def stop_monitor(self):
        self._monitor_stop.set()
        if self._monitor:
            self._monitor.join(timeout=5)

    def cleanup(self):
        self.stop_monitor()
        for p in self.procs:
            if p.alive():
                p.kill(signal.SIGKILL)
        self.pg.cleanup()


def wait_port(port, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")

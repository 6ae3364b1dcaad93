#!/usr/bin/env python3
"""iotd benchmark driver (targets in BENCHMARKS.md, "Targets").

Run through bench/run.sh, which builds the release preset first. Every figure is the
median of --runs runs and stands next to a reference measured in the same run on the same
machine: mosquitto's own pub->sub rate between a libmosquitto publisher and a counting
libmosquitto subscriber (bench/mosq_pub.c, bench/mosq_sub.c), with the CPU per message of
iotd, mosquitto and that subscriber from the same runs (and steady-rate rows), a raw
insert loop with iotd's schema (iotd-bench-store), nginx serving a static JSON body of the
same size (wrk). Prints a markdown table (and writes it to --out). Timings are reported,
never asserted; the exit status is non-zero only when a tool fails or data goes missing
(a QoS 1 message not stored), so the quick mode (--quick, a few seconds) keeps the
benchmark working in CI.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


def wait_until(predicate, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout} s waiting for {what}")


def tcp_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Processes:
    """Every process the benchmark starts; all are stopped by PID at the end."""

    def __init__(self):
        self.live = []

    def start(self, cmd, log_path, env=None, **kw):
        logf = open(log_path, "ab")
        p = subprocess.Popen(cmd, stdout=kw.pop("stdout", logf), stderr=logf, env=env,
                             start_new_session=True, **kw)
        p.log_path = log_path
        self.live.append(p)
        return p

    def stop(self, p, timeout=30, sig=signal.SIGTERM):
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
            except ProcessLookupError:
                pass
        if p in self.live:
            self.live.remove(p)
        return p.returncode

    def stop_all(self):
        for p in list(reversed(self.live)):
            self.stop(p, timeout=10)


def run_tool(cmd, timeout, env=None, ok_codes=(0,)):
    """Runs a bench tool that prints one JSON object on stdout; returns it parsed."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode not in ok_codes or not lines:
        raise BenchError(f"{os.path.basename(cmd[0])} exited {r.returncode}: "
                         f"{(r.stderr or r.stdout).strip()[-800:]}")
    return json.loads(lines[-1])


def proc_stat(pid):
    """(cpu seconds, VmRSS KiB, VmHWM KiB) of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = hwm = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu, rss, hwm


def tree_cpu(root_pid):
    """CPU seconds of a process and its live descendants, each with the time of the children
    it has reaped: a PostgreSQL server's postmaster, backends and workers, those that exited
    during the measurement included (their time moved into the postmaster's cutime/cstime)."""
    children, times = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        children.setdefault(int(fields[1]), []).append(int(d))
        times[int(d)] = sum(int(x) for x in fields[11:15]) / CLK_TCK
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


class Bench:
    def __init__(self, args):
        self.a = args
        self.build = args.build_dir
        self.bin = {
            "iotd": os.path.join(self.build, "iotd"),
            "sim": os.path.join(self.build, "iotd-sim"),
            "http": os.path.join(self.build, "bench", "iotd-bench-http"),
            "wait": os.path.join(self.build, "bench", "iotd-bench-wait"),
            "store": os.path.join(self.build, "bench", "iotd-bench-store"),
            "startup": os.path.join(self.build, "bench", "iotd-bench-startup"),
            "live": os.path.join(self.build, "bench", "iotd-bench-live"),
            "conns": os.path.join(self.build, "bench", "iotd-bench-conns"),
            "mosq_pub": os.path.join(self.build, "bench", "iotd-bench-mosq-pub"),
            "mosq_sub": os.path.join(self.build, "bench", "iotd-bench-mosq-sub"),
        }
        for name, path in self.bin.items():
            if not os.access(path, os.X_OK):
                raise BenchError(f"missing {path}: build first (bench/run.sh does)")
        self.tmp = tempfile.mkdtemp(prefix="iotd-bench-")
        os.chmod(self.tmp, 0o755)  # nginx's worker (nobody) reads www/ below it
        self.procs = Processes()
        self.rows = []      # table rows
        self.notes = []
        self.counter = 0
        self.mqtt_port = None
        self.broker = None
        self.pg = None
        self.maria = None

    # ---- services ------------------------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def start_mosquitto(self):
        """A fresh broker. Called before every measurement: each iotd run leaves a persistent
        session behind (queued messages for a client that never returns), which would make
        the broker slower for every later run."""
        if self.broker is not None:
            self.procs.stop(self.broker)
        self.counter += 1
        port = free_port()
        data = self.path(f"mosquitto{self.counter}")
        os.makedirs(data)
        # The shipped broker config (docker/mosquitto.conf) with a local port and data dir.
        with open(os.path.join(ROOT, "docker", "mosquitto.conf")) as f:
            conf = f.read()
        conf = re.sub(r"(?m)^listener .*$", f"listener {port} 127.0.0.1", conf)
        conf = re.sub(r"(?m)^persistence_location .*$", f"persistence_location {data}/", conf)
        conf = re.sub(r"(?m)^log_dest .*$", "log_dest stderr", conf)
        if os.geteuid() == 0:
            conf += "\nuser root\n"
        with open(self.path("mosquitto.conf"), "w") as f:
            f.write(conf)
        self.broker = self.procs.start(["mosquitto", "-c", self.path("mosquitto.conf")],
                                       self.path("mosquitto.log"))
        wait_until(lambda: tcp_open(port), 10, "mosquitto to listen")
        self.mqtt_port = port
        return port

    def start_postgres(self):
        """PostgreSQL 15 with its default durability (fsync on), or None if not installed."""
        try:
            bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                    check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            self.notes.append("PostgreSQL not installed: its rows are skipped.")
            return None
        d = self.path("pg")
        os.makedirs(d)
        as_pg = []
        if os.geteuid() == 0:
            shutil.chown(d, "postgres", "postgres")
            as_pg = ["runuser", "-u", "postgres", "--"]
        port = free_port()
        subprocess.run(as_pg + [f"{bindir}/initdb", "-D", f"{d}/data", "-U", "postgres", "-A", "trust",
                                "-E", "UTF8", "--no-locale"], check=True, capture_output=True)
        subprocess.run(as_pg + [f"{bindir}/pg_ctl", "-D", f"{d}/data", "-l", f"{d}/server.log", "-w",
                                "-t", "30", "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {d}",
                                "start"], check=True, capture_output=True)
        self.pg = {"port": port, "bindir": bindir, "dir": d, "as": as_pg}
        settings = self.psql("postgres", "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) "
                             "FROM pg_settings WHERE name IN ('fsync','synchronous_commit',"
                             "'full_page_writes','shared_buffers','wal_sync_method')")
        self.pg["settings"] = settings
        self.pg["version"] = self.psql("postgres", "SHOW server_version")
        return self.pg

    def stop_mariadb(self):
        if self.maria:
            self.mariadb_sql("SHUTDOWN", check=False)
            self.procs.stop(self.maria["proc"], timeout=30)
            self.maria = None

    def stop_postgres(self):
        if self.pg:
            subprocess.run(self.pg["as"] + [f"{self.pg['bindir']}/pg_ctl", "-D", f"{self.pg['dir']}/data",
                                            "-m", "fast", "-w", "stop"], capture_output=True)
            self.pg = None

    def start_mariadb(self):
        """MariaDB as tests/support starts it (own datadir, loopback port, no binlog,
        innodb_flush_log_at_trx_commit=2), or None if not installed."""
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        if not shutil.which("mariadb-install-db") or not os.access(mariadbd, os.X_OK):
            self.notes.append("MariaDB not installed: its rows are skipped.")
            return None
        d = self.path("maria")
        os.makedirs(d)
        root = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={d}/data",
                        "--auth-root-authentication-method=normal", "--skip-test-db"] + root,
                       check=True, capture_output=True, cwd=d)
        port = free_port()
        p = self.procs.start([mariadbd, "--no-defaults", f"--datadir={d}/data", "--bind-address=127.0.0.1",
                              f"--port={port}", f"--socket={d}/mysqld.sock", f"--pid-file={d}/mysqld.pid",
                              f"--tmpdir={d}", f"--log-error={d}/error.log", "--skip-log-bin",
                              "--innodb-buffer-pool-size=256M", "--innodb-flush-log-at-trx-commit=2",
                              "--skip-name-resolve"] + root, self.path("mariadb.log"), cwd=d)
        self.maria = {"port": port, "proc": p}

        def up():
            if p.poll() is not None:
                raise BenchError(f"mariadbd exited {p.returncode}; see {d}/error.log")
            return tcp_open(port) and self.mariadb_sql("SELECT 1", check=False) == "1"
        wait_until(up, 60, "MariaDB to answer", interval=0.1)
        self.maria["version"] = self.mariadb_sql("SELECT VERSION()")
        return self.maria

    def mariadb_sql(self, sql, check=True):
        r = subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(self.maria["port"]), "-u",
                            "root", "-N", "-B", "-e", sql], capture_output=True, text=True)
        if r.returncode != 0:
            if check:
                raise BenchError(f"mariadb: {r.stderr.strip()}")
            return None
        return r.stdout.strip()

    def psql(self, db, sql):
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.pg["port"]), "-U", "postgres",
                            "-d", db, "-tAq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError(f"psql: {r.stderr.strip()}")
        return r.stdout.strip()

    def fresh_db(self, backend):
        self.counter += 1
        if backend == "sqlite":
            return f"sqlite:///{self.path(f'db{self.counter}.db')}"
        name = f"bench{self.counter}"
        if backend == "mariadb":
            self.mariadb_sql(f"CREATE DATABASE {name}")
            return f"mysql://root@127.0.0.1:{self.maria['port']}/{name}"
        self.psql("postgres", f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{self.pg['port']}/{name}"

    def iotd_env(self, db_url, http_port, mqtt=True):
        self.counter += 1
        env = dict(os.environ)
        env.update({
            "IOTD_HTTP_LISTEN": f"127.0.0.1:{http_port}",
            "IOTD_MQTT_URL": f"tcp://127.0.0.1:{self.mqtt_port}" if mqtt else "",
            "IOTD_MQTT_CLIENT_ID": f"iotd-bench-{os.getpid()}-{self.counter}",
            "IOTD_DATABASE_URL": db_url,
            "IOTD_JOURNAL_DIR": self.path(f"journal{self.counter}"),
            "IOTD_LOG_LEVEL": "warn",
        })
        return env

    def start_iotd(self, db_url):
        self.start_mosquitto()
        port = free_port()
        env = self.iotd_env(db_url, port)
        p = self.procs.start([self.bin["iotd"]], self.path(f"iotd{self.counter}.log"), env=env)
        p.http = f"http://127.0.0.1:{port}"

        def connected():
            if p.poll() is not None:
                raise BenchError(f"iotd exited {p.returncode}; see {p.log_path}")
            status, body = http_get(p.http + "/api/v1/health")
            return status == 200 and json.loads(body)["mqtt"]["connected"]
        wait_until(connected, 30, "iotd to be ready with MQTT connected", interval=0.05)
        return p

    def sim(self, qos, devices, messages=0, rate=0, duration=0, timeout=300):
        cmd = [self.bin["sim"], "--url", f"tcp://127.0.0.1:{self.mqtt_port}", "--qos", str(qos),
               "--devices", str(devices), "--style", "flat", "--json", "--window", "100",
               "--client-id", f"bench-sim-{os.getpid()}-{self.counter}"]
        if messages:
            cmd += ["--messages", str(messages)]
        if rate:
            cmd += ["--rate", str(rate)]
        if duration:
            cmd += ["--duration", str(duration)]
        return run_tool(cmd, timeout)

    # ---- ingest --------------------------------------------------------------------

    def broker_evidence(self):
        """What mosquitto still holds (its retained $SYS store counters) and the non-empty socket
        queues on its port: tells messages the broker kept from ones that were lost."""
        out = []
        try:
            r = subprocess.run(["mosquitto_sub", "-p", str(self.mqtt_port), "-v", "-W", "3",
                                "-t", "$SYS/broker/store/messages/#", "-t", "$SYS/broker/clients/connected",
                                "-t", "$SYS/broker/messages/stored"], capture_output=True, text=True, timeout=10)
            out.append(" ".join(r.stdout.split()))
        except (OSError, subprocess.SubprocessError) as e:
            out.append(f"mosquitto_sub: {e}")
        try:
            r = subprocess.run(["ss", "-tn", f"( sport = :{self.mqtt_port} or dport = :{self.mqtt_port} )"],
                               capture_output=True, text=True, timeout=10)
            queued = [" ".join(l.split()) for l in r.stdout.splitlines()[1:] if l.split()[1:3] != ["0", "0"]]
            out.append(f"socket queues: {'; '.join(queued) or 'all empty'}")
        except (OSError, subprocess.SubprocessError) as e:
            out.append(f"ss: {e}")
        return " | ".join(out)

    def mosq_pub(self, qos, devices, messages=0, rate=0, duration=0, connections=None, timeout=300):
        """iotd-bench-mosq-pub (bench/mosq_pub.c): the libmosquitto publisher of every ingest row."""
        self.counter += 1
        cmd = [self.bin["mosq_pub"], "--port", str(self.mqtt_port), "--qos", str(qos), "--devices", str(devices),
               "--connections", str(connections or self.a.pub_connections), "--window", "100",
               "--client-id", f"bench-pub-{os.getpid()}-{self.counter}"]
        cmd += ["--rate", str(rate), "--duration", str(duration)] if rate else ["--messages", str(messages)]
        return run_tool(cmd, timeout)

    def ingest_reference(self, qos, devices, n, connections=None):
        """The trivial pair: libmosquitto publisher -> mosquitto -> libmosquitto counting subscriber
        (bench/mosq_*.c), first publish to last receive, with the CPU the broker and the
        subscriber spent on the stream."""
        self.start_mosquitto()
        self.counter += 1
        out = self.path(f"msub{self.counter}.json")
        err = self.path(f"msub{self.counter}.err")
        with open(out, "w") as f:
            sub = self.procs.start([self.bin["mosq_sub"], "--port", str(self.mqtt_port), "--qos", str(qos),
                                    "--count", str(n), "--idle", "3", "--timeout", "300",
                                    "--client-id", f"bench-msub-{os.getpid()}-{self.counter}"], err, stdout=f)
        wait_until(lambda: "ready" in open(err).read() or sub.poll() is not None, 20, "the subscriber's SUBACK")
        broker_cpu0 = proc_stat(self.broker.pid)[0]
        pub = self.mosq_pub(qos, devices, messages=n, connections=connections)
        try:
            sub.wait(timeout=60 if qos == 1 else 10)
        except subprocess.TimeoutExpired:
            pass
        broker_cpu1 = proc_stat(self.broker.pid)[0]
        self.procs.stop(sub, sig=signal.SIGINT)
        with open(out) as f:
            lines = [l for l in f.read().splitlines() if l.startswith("{")]
        if not lines:
            raise BenchError(f"the subscriber printed no report; see {err}")
        rep = json.loads(lines[-1])
        received = rep["received"]
        if qos == 1 and received < n:
            raise BenchError(f"the subscriber received {received} of {n} QoS 1 messages")
        secs = (rep["last_receive_us"] - pub["first_publish_us"]) / 1e6
        per_k = lambda cpu: cpu * 1e3 / received * 1000 if received else None
        return {"rate": received / secs if secs > 0 else None, "received": received,
                "publish_rate": pub["rate"], "broker_cpu": per_k(broker_cpu1 - broker_cpu0),
                "sub_cpu": per_k(rep["cpu_s"])}  # its getrusage: it does nothing but the stream

    def db_server_cpu(self, backend):
        """CPU seconds the backend's database server has used so far (None for SQLite, which
        runs inside iotd and is in iotd's own figure)."""
        if backend == "postgresql" and self.pg:
            with open(os.path.join(self.pg["dir"], "data", "postmaster.pid")) as f:
                return tree_cpu(int(f.readline()))
        if backend == "mariadb" and self.maria:
            return proc_stat(self.maria["proc"].pid)[0]
        return None

    def ingest_iotd(self, backend, qos, devices, n, rate=0, duration=0, connections=None, subscribers=0):
        """MQTT -> committed rows: first publish (libmosquitto publisher) to the last commit that
        stored message n (iotd-bench-wait's last_commit_at: iotd's own clock, not the poll's),
        with the CPU iotd and the broker spent on the stream. subscribers: that many WebSocket
        clients attached throughout (iotd-bench-live --fleet: client i watches device i mod
        devices), reading their frames."""
        iotd = self.start_iotd(self.fresh_db(backend))
        holder, live = None, {}
        try:
            if subscribers:
                port = iotd.http.rsplit(":", 1)[1]
                holder = subprocess.Popen([self.bin["live"], "--port", port, "--clients", str(subscribers),
                                           "--fleet", str(devices), "--hold", "900"],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          start_new_session=True)
                line = holder.stdout.readline()
                if not line.startswith("{") or json.loads(line)["connected"] != subscribers:
                    raise BenchError(f"iotd-bench-live --hold: {line.strip()} {holder.stderr.read()[-800:]}")
                time.sleep(0.5)  # the hub sees every subscriber
            cpu0, _, _ = proc_stat(iotd.pid)
            broker0 = proc_stat(self.broker.pid)[0]
            db0 = self.db_server_cpu(backend)
            pub = self.mosq_pub(qos, devices, messages=n, rate=rate, duration=duration, connections=connections)
            n = pub["published"]
            # QoS 0 may lose messages (then the wait ends at its timeout): long enough for iotd
            # to work through a backlog at its own rate on a loaded machine.
            wait = run_tool([self.bin["wait"], "--url", iotd.http + "/api/v1/health", "--stored", str(n),
                             "--timeout", "120" if qos == 1 else "30", "--json"], 180, ok_codes=(0, 1))
            cpu1, _, hwm = proc_stat(iotd.pid)
            broker1 = proc_stat(self.broker.pid)[0]
            db1 = self.db_server_cpu(backend)
            short = ""
            if qos == 1 and (wait.get("stored") or 0) < n:
                # Evidence for the error below, taken before iotd stops: its view of MQTT and
                # ingest, and the end of its log.
                status, body = http_get(iotd.http + "/api/v1/health")
                with open(iotd.log_path, "rb") as f:
                    log_tail = f.read()[-1500:].decode(errors="replace")
                _, metrics = http_get(iotd.http + "/metrics")
                mqtt_lines = " ".join(l for l in metrics.decode(errors="replace").splitlines()
                                      if l.startswith("iotd_mqtt_"))
                short = (f"; health: {body.decode(errors='replace')[:1500]}; metrics: {mqtt_lines}; "
                         f"log tail: {log_tail}; broker: {self.broker_evidence()}")
            if holder:
                time.sleep(0.5)  # the last commit's frames on their way (hub pacing, socket)
                os.kill(holder.pid, signal.SIGTERM)
                out, _ = holder.communicate(timeout=30)
                live = json.loads(out.strip().splitlines()[-1])
                holder = None
        finally:
            if holder:
                os.kill(holder.pid, signal.SIGTERM)
                holder.wait()
            rc = self.procs.stop(iotd)
        if rc != 0:
            raise BenchError(f"iotd exited {rc} after SIGTERM; see {iotd.log_path}")
        stored = wait.get("stored") or 0
        if qos == 1 and stored < n:
            raise BenchError(f"iotd stored {stored} of {n} QoS 1 messages{short}")
        secs = (wait["last_commit_at_us"] - pub["first_publish_us"]) / 1e6 if wait.get("last_commit_at_us") else 0
        per_k = lambda cpu: cpu * 1e3 / stored * 1000 if stored else None
        return {"rate": stored / secs if secs > 0 else None, "stored": stored,
                "cpu_ms_per_1000": per_k(cpu1 - cpu0), "broker_cpu": per_k(broker1 - broker0),
                "db_cpu": per_k(db1 - db0) if db0 is not None else None,
                "hwm_mib": hwm / 1024, "publish_rate": pub["rate"], "live": live}

    def bench_ingest(self):
        """Full speed: iotd vs the libmosquitto pair, alternating, same broker config and publisher."""
        a = self.a
        scenarios = [("sqlite", 1, 100), ("sqlite", 0, 100), ("sqlite", 1, 10000), ("sqlite", 0, 10000)]
        if self.pg:
            scenarios += [("postgresql", 1, 100)]
        if self.maria:
            scenarios += [("mariadb", 1, 100)]
        scenarios = [sc for sc in scenarios if sc[0] in a.backends and str(sc[1]) in a.ingest_qos
                     and str(sc[2]) in a.ingest_devices.split(",")]
        for backend, qos, devices in scenarios:
            n = a.messages if qos == 1 else a.messages * 2
            refs, runs = [], []
            for i in range(a.runs):
                log(f"ingest {backend} QoS {qos} {devices} devices, run {i + 1}/{a.runs}: reference")
                refs.append(self.ingest_reference(qos, devices, n))
                log(f"ingest {backend} QoS {qos} {devices} devices, run {i + 1}/{a.runs}: iotd")
                runs.append(self.ingest_iotd(backend, qos, devices, n))
            iotd_rate = median([r["rate"] for r in runs])
            ref_rate = median([r["rate"] for r in refs])
            target = 0.9 if qos == 1 else 0.6
            if backend != "sqlite":
                target = None
            lost = ""
            if qos == 0:
                lost = (f"; stored {min(r['stored'] for r in runs)}-{max(r['stored'] for r in runs)} of {n},"
                        f" subscriber got {min(r['received'] for r in refs)}-{max(r['received'] for r in refs)}")
            self.row(f"Ingest MQTT→committed, {backend}, QoS {qos}, {devices} devices ({n} msgs, "
                     f"{a.pub_connections} publisher connections)",
                     iotd_rate, "msg/s", "libmosquitto pub→mosquitto→libmosquitto sub", ref_rate, "msg/s",
                     target, [r["rate"] for r in runs],
                     f"publisher {median([r['publish_rate'] for r in runs]):.0f} msg/s{lost}",
                     ratios=[i["rate"] / r["rate"] for i, r in zip(runs, refs) if i["rate"] and r["rate"]])
            self.cpu_rows(runs, refs)

    def bench_ingest_live(self):
        """Issue 10: the ingest rows with 100 WebSocket subscribers attached (each watching one
        device of the fleet and reading its frames) against the same rows without, alternating."""
        a = self.a
        subs = 10 if a.quick else 100
        for devices in [int(d) for d in a.ingest_devices.split(",")]:
            off, on = [], []
            for i in range(a.runs):
                log(f"ingest+live {devices} devices, run {i + 1}/{a.runs}: no subscribers")
                off.append(self.ingest_iotd("sqlite", 1, devices, a.messages))
                log(f"ingest+live {devices} devices, run {i + 1}/{a.runs}: {subs} subscribers")
                on.append(self.ingest_iotd("sqlite", 1, devices, a.messages, subscribers=subs))
            watched = min(subs, devices)
            per_run = "; ".join(
                f"{r['live'].get('frames', 0):,} frames of ~{r['stored'] * watched // devices:,} for the watched "
                f"devices, {r['live'].get('closed_1008', 0)} closed with 1008, client CPU "
                f"{r['live'].get('client_cpu_s', 0) * 1e3 / r['stored'] * 1000:.1f} ms per 1,000 msgs"
                for r in on)
            self.row(f"Ingest MQTT→committed, sqlite, QoS 1, {devices} devices ({a.messages} msgs), "
                     f"{subs} WebSocket subscribers attached", median([r["rate"] for r in on]), "msg/s",
                     "the same without subscribers", median([r["rate"] for r in off]), "msg/s", None,
                     [r["rate"] for r in on], f"per run: {per_run}",
                     ratios=[x["rate"] / y["rate"] for x, y in zip(on, off) if x["rate"] and y["rate"]])
            self.row(f"  CPU per 1,000 msgs (iotd), with / without subscribers",
                     median([r["cpu_ms_per_1000"] for r in on]), "ms", "without",
                     median([r["cpu_ms_per_1000"] for r in off]), "ms", None,
                     [r["cpu_ms_per_1000"] for r in on],
                     "without, per run: " + " / ".join(f"{r['cpu_ms_per_1000']:.1f}" for r in off),
                     ratios=[x["cpu_ms_per_1000"] / y["cpu_ms_per_1000"] for x, y in zip(on, off)])
            if a.quick:
                return

    def cpu_rows(self, runs, refs=None):
        """CPU ms per 1,000 messages from the same runs: iotd against mosquitto in the iotd run
        (target: iotd ≤ mosquitto), then mosquitto and the subscriber in the reference runs."""
        note = ""
        if refs:
            note = (f"reference runs: mosquitto {median([r['broker_cpu'] for r in refs]):.1f} ms, libmosquitto "
                    f"subscriber {median([r['sub_cpu'] for r in refs]):.1f} ms (runs "
                    + " / ".join(f"{r['sub_cpu']:.1f}" for r in refs) + ")")
        self.row("  CPU ms per 1,000 msgs: iotd vs mosquitto (same runs)",
                 median([r["cpu_ms_per_1000"] for r in runs]), "ms", "mosquitto",
                 median([r["broker_cpu"] for r in runs]), "ms", 1.0, [r["cpu_ms_per_1000"] for r in runs], note,
                 ratios=[r["cpu_ms_per_1000"] / r["broker_cpu"] for r in runs
                         if r["cpu_ms_per_1000"] and r["broker_cpu"]], ratio_max=True)
        if all(r.get("db_cpu") is not None for r in runs):
            # A server database does in its own process what SQLite does inside iotd: the
            # fair comparison with the SQLite rows counts both.
            both = [r["cpu_ms_per_1000"] + r["db_cpu"] for r in runs]
            self.row("  CPU ms per 1,000 msgs: iotd + its database server vs mosquitto (same runs)",
                     median(both), "ms", "mosquitto", median([r["broker_cpu"] for r in runs]), "ms", 1.0, both,
                     "database server alone " + " / ".join(f"{r['db_cpu']:.1f}" for r in runs) + " ms",
                     ratios=[b / r["broker_cpu"] for b, r in zip(both, runs) if r["broker_cpu"]], ratio_max=True)

    def bench_steady(self):
        """A fleet's steady rate over 100 connections, QoS 1: CPU per message of iotd vs mosquitto."""
        a = self.a
        for devices in (100, 10000):
            for rate in (2000, 10000):
                if a.quick:
                    devices, rate = min(devices, 1000), min(rate, 2000)
                runs = []
                for i in range(a.runs):
                    log(f"steady {devices} devices at {rate} msg/s, run {i + 1}/{a.runs}")
                    runs.append(self.ingest_iotd("sqlite", 1, devices, 0, rate=rate, duration=a.steady_seconds,
                                                 connections=100))
                self.row(f"Steady {rate:,} msg/s, {devices:,} devices, 100 connections, QoS 1, SQLite "
                         f"({a.steady_seconds} s): achieved rate", median([r["publish_rate"] for r in runs]), "msg/s",
                         None, None, None, None, [r["publish_rate"] for r in runs],
                         f"iotd commit rate {median([r['rate'] for r in runs]):,.0f} msg/s")
                self.cpu_rows(runs)
                if a.quick:
                    return

    # ---- scale-out (issue 13, docs/scaling.md §2) ----------------------------------------

    def scale_run(self, instances, devices, n):
        """n QoS 1 messages into `instances` iotd on one PostgreSQL database (a share group
        when more than one): first publish to the poll that sees all n rows stored."""
        db_url = self.fresh_db("postgresql")
        db_name = db_url.rsplit("/", 1)[1]
        run_id = self.counter
        procs = []
        try:
            for i in range(instances):
                port = free_port()
                env = self.iotd_env(db_url, port)
                env["IOTD_INSTANCE_ID"] = f"scale{self.counter}-{i}"
                if instances > 1:
                    # A group of its own per run: the stopped members of an earlier run keep
                    # their persistent sessions, and mosquitto still gives them a share.
                    env["IOTD_MQTT_SHARE_GROUP"] = f"iotd-run{run_id}"
                p = self.procs.start([self.bin["iotd"]], self.path(f"iotd{self.counter}.log"), env=env)
                p.http = f"http://127.0.0.1:{port}"
                procs.append(p)
            for p in procs:
                def connected(p=p):
                    if p.poll() is not None:
                        raise BenchError(f"iotd exited {p.returncode}; see {p.log_path}")
                    status, body = http_get(p.http + "/api/v1/health")
                    return status == 200 and json.loads(body)["mqtt"]["connected"]
                wait_until(connected, 30, "iotd to be ready with MQTT connected", interval=0.05)
            cpu0 = sum(proc_stat(p.pid)[0] for p in procs)
            pub = self.sim(1, devices, messages=n)
            deadline = time.time() + 300
            while True:
                stored = int(self.psql(db_name, "SELECT COUNT(*) FROM messages"))
                if stored >= n:
                    done = time.time()
                    break
                if time.time() > deadline:
                    raise BenchError(f"{instances} instance(s) stored {stored} of {n}")
                time.sleep(0.05)
            cpu1 = sum(proc_stat(p.pid)[0] for p in procs)
            shares = []
            for p in procs:
                status, body = http_get(p.http + "/metrics")
                m = re.search(r"^iotd_messages_stored_total (\d+)$", body.decode(), re.M) if status == 200 else None
                shares.append(int(m.group(1)) if m else -1)
        finally:
            for p in procs:
                self.procs.stop(p)
        secs = done - pub["first_publish_us"] / 1e6
        return {"rate": n / secs if secs > 0 else None, "shares": shares,
                "cpu_ms_per_1000": (cpu1 - cpu0) * 1e3 / n * 1000, "publish_rate": pub["rate"]}

    def bench_scale(self):
        if not self.pg:
            self.notes.append("scale: PostgreSQL not installed, skipped.")
            return
        a, devices = self.a, 100
        one, two = [], []
        for i in range(a.runs):  # interleaved, so both see the same machine load
            log(f"scale: 1 instance, run {i + 1}/{a.runs}")
            one.append(self.scale_run(1, devices, a.messages))
            log(f"scale: 2 instances in a share group, run {i + 1}/{a.runs}")
            two.append(self.scale_run(2, devices, a.messages))
        self.row(f"Scale-out: 1 iotd, PostgreSQL, QoS 1, {devices} devices ({a.messages} msgs)",
                 median([r["rate"] for r in one]), "msg/s", None, None, None, None, [r["rate"] for r in one],
                 f"publisher {median([r['publish_rate'] for r in one]):.0f} msg/s")
        self.row(f"Scale-out: 2 iotd, IOTD_MQTT_SHARE_GROUP, same database", median([r["rate"] for r in two]),
                 "msg/s", "1 iotd (same run)", median([r["rate"] for r in one]), "msg/s", None,
                 [r["rate"] for r in two],
                 "shares " + ", ".join("/".join(str(x) for x in r["shares"]) for r in two),
                 ratios=[t["rate"] / o["rate"] for t, o in zip(two, one) if t["rate"] and o["rate"]])
        self.row("  CPU per 1,000 msgs, 1 iotd", median([r["cpu_ms_per_1000"] for r in one]), "ms", None, None,
                 None, None, [r["cpu_ms_per_1000"] for r in one], "")
        self.row("  CPU per 1,000 msgs, 2 iotd (sum)", median([r["cpu_ms_per_1000"] for r in two]), "ms", None,
                 None, None, None, [r["cpu_ms_per_1000"] for r in two], "")

    # ---- database write path ----------------------------------------------------------

    def bench_store(self):
        a = self.a
        targets = [("sqlite", f"sqlite:///{self.path('store.db')}")]
        if self.pg:
            self.psql("postgres", "CREATE DATABASE benchstore")
            targets.append(("postgresql", f"postgresql://postgres@127.0.0.1:{self.pg['port']}/benchstore"))
        if self.maria:
            self.mariadb_sql("CREATE DATABASE benchstore")
            targets.append(("mariadb", f"mysql://root@127.0.0.1:{self.maria['port']}/benchstore"))
        for backend, url in targets:
            if backend == "postgresql":
                self.store_copy_row(url)
            log(f"store {backend}: raw insert vs writer drain, {a.runs} runs")
            rep = run_tool([self.bin["store"], "both", "--db", url, "--messages", str(a.messages),
                            "--devices", "100", "--metrics", "5", "--runs", str(a.runs), "--json"], 1800)
            m = rep["median"]
            server = ", ".join(f"{k}={v}" for k, v in rep.get("server", {}).items())
            self.row(f"Writer draining a pre-filled journal, {backend} ({a.messages} msgs × 5 metrics)",
                     m["drain_messages_per_s"], "msg/s", "raw insert of the same messages rows",
                     m["insert_rows_per_s"], "rows/s", 0.5 if backend == "postgresql" else None,
                     [r["drain"]["messages_per_s"] for r in rep["runs"]],
                     f"vs raw insert of every table's rows: {m['ratio_all_tables']:.2f}; {server}",
                     ratios=[r["ratio"] for r in rep["runs"]])

    def store_copy_row(self, url):
        """PostgreSQL writer drain against a raw COPY of the same messages rows, same run
        (iotd-bench-store copy: COPY, then drain, on fresh schemas, per run)."""
        a = self.a
        log(f"store postgresql: raw COPY vs writer drain, {a.runs} runs")
        rep = run_tool([self.bin["store"], "copy", "--db", url, "--messages", str(a.messages),
                        "--devices", "100", "--metrics", "5", "--runs", str(a.runs), "--json"], 1800)
        m = rep["median"]
        self.row(f"Writer draining a pre-filled journal, postgresql, vs COPY ({a.messages} msgs × 5 metrics)",
                 m["drain_messages_per_s"], "msg/s", "raw COPY of the same messages rows",
                 m["copy_rows_per_s"], "rows/s", 0.8, [r["drain"]["messages_per_s"] for r in rep["runs"]],
                 "COPY runs " + " / ".join(f"{r['copy']['rows_per_s']:,.0f}" for r in rep["runs"]),
                 ratios=[r["ratio_copy"] for r in rep["runs"]])

    # ---- HTTP ----------------------------------------------------------------------

    def wrk(self, url, duration, script=None):
        cmd = ["wrk", "-t1", "-c32", f"-d{duration}s", "--latency"] + (["-s", script] if script else []) + [url]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
        if r.returncode != 0:
            raise BenchError(f"wrk failed: {r.stderr.strip()}")
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", r.stdout).group(1))
        if re.search(r"Non-2xx or 3xx responses", r.stdout):
            raise BenchError(f"wrk saw non-2xx responses from {url}:\n{r.stdout}")

        def pct(p):
            m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", r.stdout, re.M)
            scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
            return float(m.group(1)) * scale
        done = int(re.search(r"(\d+) requests in", r.stdout).group(1))
        return {"rps": rps, "p50": pct(50), "p99": pct(99), "requests": done}

    def start_nginx(self, body):
        www = self.path("www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "latest.json"), "wb") as f:
            f.write(body)
        port = free_port()
        conf = self.path("nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
pid {self.path('nginx.pid')};
error_log {self.path('nginx.err')};
events {{ worker_connections 1024; }}
http {{
  access_log off;
  default_type application/json;
  keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{port}; root {www}; }}
}}
""")
        p = self.procs.start(["nginx", "-c", conf], self.path("nginx.log"))
        wait_until(lambda: tcp_open(port), 10, "nginx to listen")
        return p, f"http://127.0.0.1:{port}/latest.json"

    def bench_http(self):
        a = self.a
        iotd = self.start_iotd(self.fresh_db("sqlite"))
        devices, per_device = 100, 150 if not a.quick else 5
        log(f"http: loading {devices * per_device} messages")
        self.sim(1, devices, messages=devices * per_device)
        run_tool([self.bin["wait"], "--url", iotd.http + "/api/v1/health", "--stored",
                  str(devices * per_device), "--timeout", "60", "--json"], 90)
        dev = "sim-00007"
        status, body = http_get(f"{iotd.http}/api/v1/readings/latest?device_id={dev}")
        if status != 200:
            raise BenchError(f"latest answered {status}")
        nginx, static_url = self.start_nginx(body)
        paths = {
            "latest": f"/api/v1/readings/latest?device_id={dev}",
            "history (100 rows)": f"/api/v1/readings?device_id={dev}&limit=100",
            "stats": f"/api/v1/stats?device_id={dev}",
            "aggregate (1 min buckets)": f"/api/v1/aggregate?device_id={dev}&metric=temperature&interval=1m",
        }
        st, hist = http_get(iotd.http + paths["history (100 rows)"])
        if st != 200 or len(json.loads(hist).get("data", [])) != min(100, per_device):
            raise BenchError(f"history answered {st} without the expected rows")
        results = {name: [] for name in paths}
        ref = []
        for i in range(a.runs):
            log(f"http: wrk run {i + 1}/{a.runs}")
            ref.append(self.wrk(static_url, a.http_seconds))
            for name, p in paths.items():
                results[name].append(self.wrk(iotd.http + p, a.http_seconds))
        ref_rps = median([r["rps"] for r in ref])
        for name in paths:
            rs = results[name]
            self.row(f"HTTP {name}: wrk -c32 requests/s", median([r["rps"] for r in rs]), "req/s",
                     f"nginx, static {len(body)} B JSON", ref_rps if name == "latest" else None, "req/s",
                     0.75 if name == "latest" else None, [r["rps"] for r in rs],
                     f"p50 {median([r['p50'] for r in rs]):.2f} ms, p99 {median([r['p99'] for r in rs]):.2f} ms",
                     ratios=[x["rps"] / y["rps"] for x, y in zip(rs, ref)] if name == "latest" else None)
        # Open loop at a fixed rate over every device's history.
        with open(self.path("history.paths"), "w") as f:
            for d in range(devices):
                f.write(f"/api/v1/readings?device_id=sim-{d:05d}&limit=100\n")
        ol = []
        for i in range(a.runs):
            log(f"http: open-loop history run {i + 1}/{a.runs}")
            rep = run_tool([self.bin["http"], "--url", iotd.http + "/", "--paths-file", self.path("history.paths"),
                            "--rate", str(a.open_rate), "--duration", str(a.http_seconds * 2), "--warmup", "1",
                            "--connections", "32", "--json"], a.http_seconds * 2 + 60)
            if rep["non_2xx"] or rep["socket_errors"] or rep["timeouts"]:
                raise BenchError(f"open-loop history run had errors: {rep}")
            ol.append(rep)
        self.row(f"HTTP history (100 rows), open loop {a.open_rate} req/s: p99",
                 median([r["latency_ms"]["p99"] for r in ol]), "ms", None, None, None, 5.0,
                 [r["latency_ms"]["p99"] for r in ol],
                 f"p50 {median([r['latency_ms']['p50'] for r in ol]):.2f} ms, "
                 f"max {median([r['latency_ms']['max'] for r in ol]):.1f} ms, "
                 f"achieved {median([r['achieved_rate'] for r in ol]):.0f} req/s",
                 target_is_max=True)
        self.procs.stop(nginx)
        self.procs.stop(iotd)

    # ---- HTTP ingest (issue 9) --------------------------------------------------------

    INGEST_KEY = "bench-admin-key-0123456789"

    def ingest_script(self, items):
        """A wrk script POSTing unique messages, one per request (items=0) or a JSON array of
        `items`: each message has its own device time, and each script its own 100 devices,
        so no message of any run is a content duplicate of another."""
        self.counter += 1
        prefix = f"h{self.counter}"
        path = self.path(f"ingest{self.counter}.lua")
        base = int(time.time() * 1000) - 86400000  # a day ago: backfill, within the clock skew
        with open(path, "w") as f:
            f.write(f"""wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "{self.INGEST_KEY}"
local n = 0
local items = {items}
local function msg()
  n = n + 1
  return string.format('{{"device_id":"{prefix}-%03d","timestamp":%d,"temperature":%.1f,"humidity":%.1f}}',
                       n % 100, {base} + n, 20 + (n % 100) / 10, 40 + (n % 50) / 10)
end
request = function()
  if items == 0 then return wrk.format(nil, nil, nil, msg()) end
  local t = {{}}
  for i = 1, items do t[i] = msg() end
  return wrk.format(nil, nil, nil, "[" .. table.concat(t, ",") .. "]")
end
""")
        return path

    def start_nginx_post(self):
        """nginx answering every POST with a fixed 201 body and discarding the request body:
        the cost of HTTP alone, the reference for the ingest rows."""
        port = free_port()
        conf = self.path("nginx-post.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
pid {self.path('nginx-post.pid')};
error_log {self.path('nginx-post.err')};
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_max_body_size 1m;
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 201 '{{"stored":true}}'; }}
  }}
}}
""")
        p = self.procs.start(["nginx", "-c", conf], self.path("nginx-post.log"))
        wait_until(lambda: tcp_open(port), 10, "nginx to listen")
        return p, f"http://127.0.0.1:{port}/api/v1/ingest"

    def start_iotd_http_only(self, db_url, extra_env=None):
        port = free_port()
        env = self.iotd_env(db_url, port, mqtt=False)
        env["IOTD_ADMIN_KEY"] = self.INGEST_KEY
        env.update(extra_env or {})
        p = self.procs.start([self.bin["iotd"]], self.path(f"iotd{self.counter}.log"), env=env)
        p.http = f"http://127.0.0.1:{port}"

        def ready():
            if p.poll() is not None:
                raise BenchError(f"iotd exited {p.returncode}; see {p.log_path}")
            return http_get(p.http + "/api/v1/health")[0] == 200
        wait_until(ready, 30, "iotd to be ready", interval=0.05)
        return p

    def bench_http_ingest(self):
        """POST /api/v1/ingest (one message, 201 after its commit) and /ingest/batch (100
        messages), wrk -c32, on SQLite and PostgreSQL; every completed request is checked
        to be stored."""
        a = self.a
        batch = 100
        nginx, nginx_url = self.start_nginx_post()
        backends = ["sqlite"] + (["postgresql"] if self.pg else [])
        for backend in backends:
            label = "SQLite" if backend == "sqlite" else "PostgreSQL"
            iotd = self.start_iotd_http_only(self.fresh_db(backend))
            res = {"single": [], "batch": []}
            ref = {"single": [], "batch": []}
            completed = 0
            for i in range(a.runs):
                log(f"http ingest ({label}): wrk run {i + 1}/{a.runs}")
                for kind in ("single", "batch"):
                    script = self.ingest_script(batch if kind == "batch" else 0)
                    ref[kind].append(self.wrk(nginx_url + ("/batch" if kind == "batch" else ""),
                                              a.http_seconds, script))
                    r = self.wrk(iotd.http + "/api/v1/ingest" + ("/batch" if kind == "batch" else ""),
                                 a.http_seconds, script)
                    res[kind].append(r)
                    completed += r["requests"] * (batch if kind == "batch" else 1)
            st, body = http_get(iotd.http + "/api/v1/stats?metric=temperature")
            stored = json.loads(body)["metrics"].get("temperature", {}).get("count", 0) if st == 200 else -1
            if stored < completed:
                raise BenchError(f"http ingest ({label}): {completed} messages answered 2xx, {stored} stored")
            rs, refs = res["single"], ref["single"]
            self.row(f"HTTP ingest, one message per POST ({label}): wrk -c32 requests/s",
                     median([r["rps"] for r in rs]), "req/s", "nginx, POST answered 201, body discarded",
                     median([r["rps"] for r in refs]), "req/s", None, [r["rps"] for r in rs],
                     f"p50 {median([r['p50'] for r in rs]):.2f} ms, p99 {median([r['p99'] for r in rs]):.2f} ms",
                     ratios=[x["rps"] / y["rps"] for x, y in zip(rs, refs)])
            rs, refs = res["batch"], ref["batch"]
            self.row(f"HTTP ingest, batches of {batch} ({label}): wrk -c32 readings/s",
                     median([r["rps"] * batch for r in rs]), "readings/s",
                     f"nginx, the same POSTs discarded, x{batch}", median([r["rps"] * batch for r in refs]),
                     "readings/s", None, [r["rps"] * batch for r in rs],
                     f"{median([r['rps'] for r in rs]):,.0f} req/s, p50 {median([r['p50'] for r in rs]):.2f} ms, "
                     f"p99 {median([r['p99'] for r in rs]):.2f} ms",
                     ratios=[x["rps"] / y["rps"] for x, y in zip(rs, refs)])
            self.procs.stop(iotd)
        self.procs.stop(nginx)

    # ---- resources -----------------------------------------------------------------

    def bench_resources(self):
        a = self.a
        port = free_port()
        env = self.iotd_env(self.fresh_db("sqlite"), port)
        log(f"resources: start to ready, {max(a.runs, 5) if not a.quick else 1} runs")
        rep = run_tool([self.bin["startup"], "--runs", str(max(a.runs, 5) if not a.quick else 1), "--url",
                        f"http://127.0.0.1:{port}/api/v1/health/live", "--json", "--", self.bin["iotd"]],
                       120, env=env)
        for r in rep["runs"]:
            if r.get("exit") != "exit 0":
                raise BenchError(f"iotd did not exit cleanly after SIGTERM: {r}")
        self.row("Start to ready (HTTP answering, migrations done; fresh SQLite file on run 1)",
                 rep["median_ready_ms"], "ms", None, None, None, 200.0,
                 [r["ready_ms"] for r in rep["runs"]], "", target_is_max=True)

        idle, load_rss, load_cpu, keep = [], [], [], []
        for i in range(a.runs):
            iotd = self.start_iotd(self.fresh_db("sqlite"))
            time.sleep(1.0)
            idle.append(proc_stat(iotd.pid)[1] / 1024)
            log(f"resources: {a.load_devices} devices at {a.load_rate} msg/s for {a.load_seconds} s, "
                f"run {i + 1}/{a.runs}")
            samples = []
            done = threading.Event()

            def sample():
                while not done.is_set():
                    try:
                        samples.append(proc_stat(iotd.pid)[1] / 1024)
                    except OSError:
                        return
                    done.wait(0.1)
            t = threading.Thread(target=sample)
            t.start()
            cpu0 = proc_stat(iotd.pid)[0]
            pub = self.sim(1, a.load_devices, rate=a.load_rate, duration=a.load_seconds,
                           timeout=a.load_seconds + 120)
            wait = run_tool([self.bin["wait"], "--url", iotd.http + "/api/v1/health", "--stored",
                             str(pub["acknowledged"]), "--timeout", "60", "--json"], 90)
            cpu1, _, hwm = proc_stat(iotd.pid)
            done.set()
            t.join()
            self.procs.stop(iotd)
            load_rss.append(max(samples + [hwm / 1024]))
            load_cpu.append((cpu1 - cpu0) * 1e3 / wait["stored"] * 1000)
            keep.append(pub["rate"])
        self.row("RSS idle (MQTT connected, empty database)", median(idle), "MiB", None, None, None, None,
                 idle, "")
        self.row(f"RSS peak under load: {a.load_devices} devices at {a.load_rate} msg/s, QoS 1, SQLite",
                 median(load_rss), "MiB", None, None, None, 32.0, load_rss,
                 f"offered {median(keep):.0f} msg/s, all stored", target_is_max=True)
        self.row(f"CPU per 1,000 messages at {a.load_rate} msg/s (iotd user+sys)", median(load_cpu), "ms",
                 None, None, None, None, load_cpu, "")

    # ---- live stream (issue 10) -------------------------------------------------------

    def live_metric(self, iotd, name):
        """A counter or gauge from the health JSON's "counters"; None when the answer has
        none (e.g. the error body of a server at its connection limit)."""
        status, body = http_get(iotd.http + "/api/v1/health")
        return json.loads(body).get("counters", {}).get(name) if body else None

    def bench_live(self):
        """WebSocket stream: publish -> frame latency and fan-out (a.runs runs each), RSS of
        idle clients (one run). iotd-bench-live is one thread: epoll, large reads, only frame
        headers parsed; its own CPU per frame is in each row's notes (client µs/frame)."""
        import resource
        a = self.a
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # iotd inherits it
        n_lat, n_fan, n_idle = (10, 20, 200) if a.quick else (100, 1000, a.live_idle_clients)
        secs = 1 if a.quick else a.live_seconds
        iotd = self.start_iotd(self.fresh_db("sqlite"))
        port = iotd.http.rsplit(":", 1)[1]
        tool = [self.bin["live"], "--port", port, "--mqtt", f"tcp://127.0.0.1:{self.mqtt_port}",
                "--rate", "1000", "--seconds", str(secs)]
        # Medians of a.runs runs each; the latency runs also time the same messages from
        # mosquitto to a plain MQTT subscriber (--reference): the run's floor of broker and
        # scheduling delay on this (shared) machine, with no iotd in the path.
        lats, fans, drops = [], [], []
        for i in range(a.runs):
            log(f"live: latency, {n_lat} subscribers at 1,000 msg/s for {secs} s, run {i + 1}/{a.runs}")
            stages = ["--stages"] if a.live_stages else []
            lats.append(run_tool(tool + ["--clients", str(n_lat), "--device", "bench-lat", "--reference"] + stages,
                                 secs + 120))
        for i in range(a.runs):
            log(f"live: fan-out, {n_fan} subscribers at 1,000 msg/s for {secs} s, run {i + 1}/{a.runs}")
            dropped0 = self.live_metric(iotd, "ws_clients_dropped") or 0
            fans.append(run_tool(tool + ["--clients", str(n_fan), "--device", "bench-fan"], secs + 180))
            drops.append((self.live_metric(iotd, "ws_clients_dropped") or 0) - dropped0)
        p99s = [r["p99_ms"] for r in lats]
        per_run = "; ".join(f"p50 {r['p50_ms']:.2f} / p99 {r['p99_ms']:.2f} ms (mosquitto alone p99 "
                            f"{r.get('mqtt_p99_ms', 0):.2f} ms), {r['frames']:,} of {r['frames_expected']:,} frames, "
                            f"client {r.get('client_ns_per_frame', 0) / 1000:.2f} µs/frame"
                            + (f", publish → iotd received p99 {r['broker_p99_ms']:.2f} ms, received → frame "
                               f"p50 {r['iotd_p50_ms']:.2f} / p99 {r['iotd_p99_ms']:.2f} ms" if "iotd_p99_ms" in r else "")
                            for r in lats)
        self.row(f"Live: publish → WebSocket frame p99, {n_lat} subscribers at 1,000 msg/s "
                 f"(default IOTD_COMMIT_DELAY 10 ms; 2 ms for watched devices)", median(p99s), "ms",
                 None, None, None, 10.0, p99s, f"per run: {per_run}", target_is_max=True)
        fps = [r["frames_per_s"] for r in fans]
        per_run = "; ".join(f"{r['frames']:,} of {r['frames_expected']:,} frames, {d} dropped (1008), "
                            f"p99 {r['p99_ms']:.1f} ms, client {r.get('client_ns_per_frame', 0) / 1000:.2f} µs/frame"
                            for r, d in zip(fans, drops))
        self.row(f"Live fan-out: {n_fan} subscribers at 1,000 msg/s, frames delivered", median(fps),
                 "frames/s", None, None, None, None, fps, f"per run: {per_run}")
        self.procs.stop(iotd)

        log(f"live: RSS with {n_idle} idle WebSocket clients")
        iotd = self.start_iotd(self.fresh_db("sqlite"))
        port = iotd.http.rsplit(":", 1)[1]
        time.sleep(1.0)
        idle_kib = proc_stat(iotd.pid)[1]
        holder = subprocess.Popen([self.bin["live"], "--port", port, "--clients", str(n_idle), "--hold", "600"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            line = holder.stdout.readline()
            if not line.startswith("{"):
                raise BenchError(f"iotd-bench-live --hold: {holder.stderr.read()[-800:]}")
            connected = json.loads(line)["connected"]
            time.sleep(2.0)
            held_kib = proc_stat(iotd.pid)[1]
            clients = self.live_metric(iotd, "ws_clients")
        finally:
            os.kill(holder.pid, signal.SIGTERM)
            holder.wait()
        self.procs.stop(iotd)
        above = (held_kib - idle_kib) / 1024
        self.row(f"RSS above idle with {n_idle:,} idle WebSocket clients", above, "MiB", None, None, None, 30.0,
                 [above], f"{connected:,} connected, ws_clients "
                 f"{clients if clients is not None else 'unread (health refused: the server is at its connection limit)'}; "
                 f"{(held_kib - idle_kib) * 1024 / max(connected, 1):,.0f} B per client", target_is_max=True)

    # ---- retention (docs/architecture.md §17) ------------------------------------------

    def prefill_old(self, backend, db_url, rows):
        """A migrated database holding `rows` readings 40 days old (100 ms apart, one device,
        with their per-minute rollups) for retention to delete: inserted by SQL, far faster
        than ingesting them."""
        env = dict(os.environ, IOTD_DATABASE_URL=db_url, IOTD_LOG_LEVEL="warn")
        r = subprocess.run([self.bin["iotd"], "migrate"], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError(f"iotd migrate: {r.stderr.strip()}")
        old = int(time.time() * 1000) - 40 * 86400 * 1000
        old -= old % 60000
        minutes = rows // 600
        devices = "INSERT INTO devices(device_id, created_at, updated_at) VALUES ('old-backlog', 0, 0)"
        metric = "INSERT INTO metric_names(id, name) VALUES (1000, 'backlog')"
        if backend == "sqlite":
            con = sqlite3.connect(db_url[len("sqlite:///"):])
            con.execute(devices)
            con.execute(metric)
            pk = con.execute("SELECT pk FROM devices WHERE device_id = 'old-backlog'").fetchone()[0]
            con.execute("WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g < ?) "
                        "INSERT INTO messages(device_pk, ts, received_at, metrics) "
                        "SELECT ?, ? + g * 100, ? + g * 100, '{\"backlog\":1}' FROM s",
                        (rows - 1, pk, old, old))
            con.execute("WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g < ?) "
                        "INSERT INTO rollup_1m(device_pk, bucket, metric_id, n, sum, min, max) "
                        "SELECT ?, ? + g * 60000, 1000, 600, 600, 1, 1 FROM s", (minutes - 1, pk, old))
            con.commit()
            con.close()
        else:
            name = db_url.rsplit("/", 1)[1]
            self.psql(name, devices)
            self.psql(name, metric)
            self.psql(name, "INSERT INTO messages(device_pk, ts, received_at, metrics) "
                            f"SELECT d.pk, {old} + g * 100, {old} + g * 100, '{{\"backlog\":1}}' "
                            f"FROM devices d, generate_series(0, {rows - 1}) g WHERE d.device_id = 'old-backlog'")
            self.psql(name, "INSERT INTO rollup_1m(device_pk, bucket, metric_id, n, sum, min, max) "
                            f"SELECT d.pk, {old} + g * 60000, 1000, 600, 600, 1, 1 "
                            f"FROM devices d, generate_series(0, {minutes - 1}) g WHERE d.device_id = 'old-backlog'")
            self.psql(name, "ANALYZE")

    def ingest_with_backlog(self, backend, retention, devices, n, backlog):
        """MQTT QoS 1 -> committed, as ingest_iotd, on a database holding an old backlog, with
        retention deleting it (retention="30d") or off; returns the rate and rows deleted."""
        db_url = self.fresh_db(backend)
        self.prefill_old(backend, db_url, backlog)
        self.start_mosquitto()
        port = free_port()
        env = self.iotd_env(db_url, port)
        env.update({"IOTD_RETENTION": retention, "IOTD_RETENTION_INTERVAL": "1h"})
        iotd = self.procs.start([self.bin["iotd"]], self.path(f"iotd{self.counter}.log"), env=env)
        iotd.http = f"http://127.0.0.1:{port}"

        def connected():
            if iotd.poll() is not None:
                raise BenchError(f"iotd exited {iotd.returncode}; see {iotd.log_path}")
            status, body = http_get(iotd.http + "/api/v1/health")
            return status == 200 and json.loads(body)["mqtt"]["connected"]
        try:
            wait_until(connected, 30, "iotd to be ready with MQTT connected", interval=0.05)
            pub = self.sim(1, devices, messages=n)
            wait = run_tool([self.bin["wait"], "--url", iotd.http + "/api/v1/health", "--stored", str(n),
                             "--timeout", "120", "--json"], 180, ok_codes=(0, 1))
            _, metrics = http_get(iotd.http + "/metrics")
            metrics = metrics.decode("utf-8", "replace")
        finally:
            rc = self.procs.stop(iotd)
        if rc != 0:
            raise BenchError(f"iotd exited {rc} after SIGTERM; see {iotd.log_path}")
        stored = wait.get("stored") or 0
        if stored < n:
            raise BenchError(f"iotd stored {stored} of {n} QoS 1 messages{short}")
        secs = (wait["last_commit_at_us"] - pub["first_publish_us"]) / 1e6
        m = re.search(r'iotd_retention_deleted_rows_total\{table="messages"\} (\d+)', metrics or "")
        deleted = int(m.group(1)) if m else 0
        return {"rate": stored / secs if secs > 0 else None, "deleted": deleted, "secs": secs}

    def bench_retention(self):
        """Ingest with retention deleting a large backlog vs off: same binary, same run,
        alternating, medians. The backlog is sized so deletion is still going when the
        ingest ends (checked: fewer rows deleted than the backlog)."""
        a = self.a
        backlog = a.retention_backlog
        backends = ["sqlite"] + (["postgresql"] if self.pg else [])
        for backend in backends:
            off, on = [], []
            for i in range(a.runs):
                log(f"retention {backend}, run {i + 1}/{a.runs}: off")
                off.append(self.ingest_with_backlog(backend, "off", 100, a.messages, backlog))
                log(f"retention {backend}, run {i + 1}/{a.runs}: on (deleting a {backlog}-row backlog)")
                on.append(self.ingest_with_backlog(backend, "30d", 100, a.messages, backlog))
            finished = [r for r in on if r["deleted"] >= backlog]
            note = (f"deleted {min(r['deleted'] for r in on)}-{max(r['deleted'] for r in on)} old rows during the "
                    f"ingest, {median([r['deleted'] / r['secs'] for r in on]):,.0f} rows/s")
            if finished:
                note += f"; {len(finished)} run(s) finished the backlog before the ingest ended"
            self.row(f"Ingest MQTT→committed with retention deleting, {backend}, QoS 1, 100 devices ({a.messages} msgs)",
                     median([r["rate"] for r in on]), "msg/s", "same, retention off",
                     median([r["rate"] for r in off]), "msg/s", None, [r["rate"] for r in on], note,
                     ratios=[x["rate"] / y["rate"] for x, y in zip(on, off) if x["rate"] and y["rate"]])
    # ---- HTTP connection hardening (issue 12) ------------------------------------------

    def bench_conns(self):
        """A normal client's latency beside slowloris connections (each sends half a request
        head, then a byte every 100 ms), and iotd's RSS with idle keep-alive connections."""
        import resource
        a = self.a
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # iotd inherits it
        n_slow, n_hold, reqs = (50, 100, 50) if a.quick else (a.slow_clients, a.conns_idle, 500)
        target = "/api/v1/devices"
        iotd = self.start_iotd_http_only(self.fresh_db("sqlite"))
        port = iotd.http.rsplit(":", 1)[1]
        runs = []
        for i in range(a.runs):
            log(f"conns: GET {target} without and beside {n_slow} slowloris connections, run {i + 1}/{a.runs}")
            runs.append(run_tool([self.bin["conns"], "--port", port, "--slow", str(n_slow), "--target", target,
                                  "--requests", str(reqs)], 300))
        self.procs.stop(iotd)
        for kind, label in (("new_connection", "a new connection per request"), ("keep_alive", "keep-alive")):
            with_p99 = [r["with_slow"][kind]["p99_ms"] for r in runs]
            without_p99 = [r["without"][kind]["p99_ms"] for r in runs]
            self.row(f"Slowloris: GET {target} p99 beside {n_slow:,} slow connections ({label})",
                     median(with_p99), "ms", "the same client without them", median(without_p99), "ms", None,
                     with_p99, f"p50 {median([r['with_slow'][kind]['p50_ms'] for r in runs]):.2f} ms vs "
                     f"{median([r['without'][kind]['p50_ms'] for r in runs]):.2f} ms without; "
                     f"{reqs} requests per run")

        log(f"conns: RSS with {n_hold} idle keep-alive HTTP connections")
        iotd = self.start_iotd_http_only(self.fresh_db("sqlite"), {"IOTD_HTTP_IDLE_TIMEOUT": "600s"})
        port = iotd.http.rsplit(":", 1)[1]
        time.sleep(1.0)
        idle_kib = proc_stat(iotd.pid)[1]
        holder = subprocess.Popen([self.bin["conns"], "--port", port, "--hold", str(n_hold)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            line = holder.stdout.readline()
            if not line.startswith("{"):
                raise BenchError(f"iotd-bench-conns --hold: {holder.stderr.read()[-800:]}")
            connected = json.loads(line)["connected"]
            time.sleep(2.0)
            held_kib = proc_stat(iotd.pid)[1]
        finally:
            os.kill(holder.pid, signal.SIGTERM)
            holder.wait()
        self.procs.stop(iotd)
        above = (held_kib - idle_kib) / 1024
        self.row(f"RSS above idle with {n_hold:,} idle keep-alive HTTP connections", above, "MiB", None, None, None,
                 None, [above], f"{connected:,} connected, {(held_kib - idle_kib) * 1024 / max(connected, 1):,.0f} B "
                 f"per connection")

    # ---- table ---------------------------------------------------------------------

    def row(self, name, value, unit, ref_name, ref_value, ref_unit, target, runs, note,
            target_is_max=False, ratios=None, ratio_max=False):
        """ratios: iotd/reference of each run (both measured in that run); the ratio shown
        and checked against the target is their median (at least the target, or at most it
        with ratio_max)."""
        self.rows.append(dict(name=name, value=value, unit=unit, ref_name=ref_name, ref_value=ref_value,
                              ref_unit=ref_unit, target=target, runs=runs or [], note=note,
                              target_is_max=target_is_max, ratios=ratios,
                              ratio_max=ratio_max))

    def table(self):
        def fmt(v):
            if v is None:
                return "–"
            if abs(v) >= 100:
                return f"{v:,.0f}"
            return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"
        out = ["| measurement | iotd (median) | runs | reference (same run) | ratio | target | met |",
               "|---|---|---|---|---|---|---|"]
        for r in self.rows:
            ratio = median(r["ratios"]) if r["ratios"] else None
            met = "–"
            target = "–"
            if r["target"] is not None and self.a.quick:
                met = "not judged (quick)"
            elif r["target"] is not None and r["value"] is not None:
                if r["target_is_max"]:
                    target = f"≤ {fmt(r['target'])} {r['unit']}" if r["unit"] == "MiB" else f"< {fmt(r['target'])} {r['unit']}"
                    met = "yes" if r["value"] <= r["target"] else "**no**"
                elif r["ratio_max"]:
                    target = f"≤ {r['target']:.1f}× ref"
                    met = "yes" if ratio is not None and ratio <= r["target"] else "**no**"
                else:
                    target = f"≥ {r['target'] * 100:.0f} % of ref"
                    met = "yes" if ratio is not None and ratio >= r["target"] else "**no**"
            ref = f"{r['ref_name']}: {fmt(r['ref_value'])} {r['ref_unit']}" if r["ref_value"] is not None else (
                "–" if not r["ref_name"] or r["ref_value"] is None else r["ref_name"])
            runs = " / ".join(fmt(v) for v in r["runs"])
            value = f"{fmt(r['value'])} {r['unit']}"
            if r["note"]:
                value += f" ({r['note']})"
            ratio_text = "–"
            if ratio is not None:
                ratio_text = f"{ratio:.2f}"
                if len(r["ratios"]) > 1:
                    ratio_text += " (" + " / ".join(f"{x:.2f}" for x in r["ratios"]) + ")"
            out.append(f"| {r['name']} | {value} | {runs} | {ref} | {ratio_text} | {target} | {met} |")
        return "\n".join(out)

    def machine(self):
        def first_line(cmd):
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
                return (r.stdout + r.stderr).strip().splitlines()[0]
            except (OSError, IndexError, subprocess.TimeoutExpired):
                return "?"
        cpu = "?"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) / 1024 / 1024
        lines = [
            f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, "
            f"load average at start {os.getloadavg()[0]:.2f}",
            f"- machine: {os.cpu_count()} vCPU ({cpu}), {mem:.0f} GiB RAM, Linux {os.uname().release}",
            f"- mosquitto: {first_line(['mosquitto', '-h'])} (docker/mosquitto.conf)",
            f"- nginx: {first_line(['nginx', '-v'])}, 1 worker; wrk: {first_line(['wrk', '-v'])}",
            f"- iotd: {first_line([self.bin['iotd'], '--version'])}, build {self.build}",
        ]
        if self.pg:
            lines.append(f"- PostgreSQL {self.pg['version']}: {self.pg['settings']}")
        if self.maria:
            lines.append(f"- MariaDB {self.maria['version']}: innodb_flush_log_at_trx_commit=2, no binlog "
                         "(as tests/support starts it)")
        return "\n".join(lines)

    def run(self):
        a = self.a
        try:
            self.start_mosquitto()
            if "store" in a.only or "scale" in a.only or (({"ingest", "http_ingest", "retention"} & a.only) and not a.quick):
                self.start_postgres() if not a.no_postgres else None
            if ({"store", "ingest"} & a.only) and not a.quick and not a.no_mariadb:
                self.start_mariadb()
            header = self.machine()
            for part in ["ingest", "ingest_live", "steady", "store", "http", "http_ingest", "resources", "live", "conns", "retention", "scale"]:
                if part in a.only:
                    getattr(self, f"bench_{part}")()
        finally:
            self.stop_mariadb()
            self.procs.stop_all()
            self.stop_postgres()
        cmd = "bench/run.sh " + " ".join(sys.argv[1:])
        text = (f"### iotd benchmark{' (quick mode: sizes too small for the figures to mean anything)' if a.quick else ''}\n\n"
                f"Command: `{cmd.strip()}`, medians of {a.runs} run(s).\n\n{header}\n\n{self.table()}\n\n"
                + "\n".join(f"- {n}" for n in self.notes) + "\n")
        print(text)
        if a.out:
            with open(a.out, "w") as f:
                f.write(text)
        if not a.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build", "release"))
    p.add_argument("--quick", action="store_true", help="tiny sizes, one run: checks that it works")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--messages", type=int, default=100000, help="messages per ingest/store run (QoS 0: twice)")
    p.add_argument("--only", default="ingest,ingest_live,steady,store,http,http_ingest,resources,live,conns")
    p.add_argument("--pub-connections", type=int, default=10,
                   help="ingest: the libmosquitto publisher's connections at full speed")
    p.add_argument("--steady-seconds", type=int, default=8, help="steady: publishing time of each row")
    p.add_argument("--slow-clients", type=int, default=1000, help="conns: slowloris connections")
    p.add_argument("--conns-idle", type=int, default=10000, help="conns: idle keep-alive connections held")
    p.add_argument("--live-seconds", type=int, default=5, help="publishing time of each live row")
    p.add_argument("--live-idle-clients", type=int, default=10000)
    p.add_argument("--live-stages", action="store_true",
                   help="live: split the latency runs at iotd's MQTT receive time (iotd-bench-live --stages)")
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--no-mariadb", action="store_true")
    p.add_argument("--backends", default="sqlite,postgresql,mariadb", help="ingest: the backends of its rows")
    p.add_argument("--ingest-qos", default="0,1", help="ingest: the QoS levels of its rows")
    p.add_argument("--ingest-devices", default="100,10000", help="ingest: the fleet sizes of its rows")
    p.add_argument("--http-seconds", type=int, default=5)
    p.add_argument("--open-rate", type=int, default=1000)
    p.add_argument("--load-devices", type=int, default=10000)
    p.add_argument("--load-rate", type=int, default=10000)
    p.add_argument("--load-seconds", type=int, default=20)
    p.add_argument("--retention-backlog", type=int, default=1000000,
                   help="old rows for --only retention to delete while it ingests")
    p.add_argument("--out", help="also write the markdown report here")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    a = p.parse_args()
    a.only = set(a.only.split(","))
    a.backends = set(a.backends.split(","))
    a.ingest_qos = set(a.ingest_qos.split(","))
    if a.quick:
        a.runs, a.messages, a.http_seconds, a.open_rate = 1, 2000, 1, 200
        a.load_devices, a.load_rate, a.load_seconds = 1000, 1000, 2
        a.steady_seconds = 1
        a.no_postgres = True
        a.retention_backlog = 20000
    try:
        Bench(a).run()
    except BenchError as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

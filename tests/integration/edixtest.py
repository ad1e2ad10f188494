"""edixtest - shared helpers for edix integration tests.

Tests start the real executables (from $EDIX_BIN, the CMake build tree)
with a temporary home, talk to them over real ZeroMQ sockets on loopback
and wait on events (a reply, a file, a state in the store) with bounded
timeouts, never on sleeps.  Every process a test starts is stopped when
the test ends.
"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

BIN = os.environ.get("EDIX_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
CORPUS = os.environ.get("EDIX_CORPUS", os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                                    "shared", "corpus"))
SOURCE = os.environ.get("EDIX_SOURCE", os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMAS = os.path.join(CORPUS, "oasis-ubl-2.1", "xsdrt")


def exe(name):
    return os.path.join(BIN, name)


def free_port():
    """A loopback port that was free a moment ago (the hub binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def corpus(path):
    return os.path.join(CORPUS, path)


def wait_for(predicate, timeout=20.0, what="condition"):
    """Poll predicate until true; fail after timeout.  Polling a state is
    how we wait for an event we cannot subscribe to (a row in the store)."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


class Home:
    """A hub home in a temporary directory, with helpers to drive it."""

    def __init__(self, tmp, intake_port=None, delivery_port=None):
        self.dir = os.path.join(tmp, "home")
        self.tmp = tmp
        self.intake_port = intake_port or free_port()
        self.delivery_port = delivery_port or free_port()
        self.procs = []

    def admin(self, *args, check=True, expect=None):
        cmd = [exe("edix-admin"), "--home", self.dir] + [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if expect is not None and r.returncode != expect:
            raise AssertionError("%s: exit %d, want %d\nstdout: %s\nstderr: %s" % (
                " ".join(cmd), r.returncode, expect, r.stdout, r.stderr))
        if expect is None and check and r.returncode != 0:
            raise AssertionError("%s: exit %d\nstdout: %s\nstderr: %s" % (
                " ".join(cmd), r.returncode, r.stdout, r.stderr))
        return r

    def admin_json(self, *args):
        return json.loads(self.admin(*args, "--json").stdout)

    def init(self):
        return self.admin("init", "--intake", "tcp://127.0.0.1:%d" % self.intake_port,
                          "--delivery", "tcp://127.0.0.1:%d" % self.delivery_port,
                          "--schemas", SCHEMAS)

    def bundle(self, partner):
        return os.path.join(self.tmp, "%s.bundle" % partner)

    def add_partner(self, pid, ids, send="all", receive="all", name=None):
        args = ["partner", "add", pid, "--name", name or ("Partner " + pid)]
        for i in ids:
            args += ["--id", i]
        args += ["--send", send, "--receive", receive, "--bundle", self.bundle(pid)]
        return self.admin(*args)

    def db(self):
        return sqlite3.connect(os.path.join(self.dir, "edix.db"), timeout=30)

    def query(self, sql, args=()):
        con = self.db()
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def start(self, name, *args, env=None):
        cmd = [exe(name), "--home", self.dir] + list(args)
        with open(os.path.join(self.tmp, "%s.%d.log" % (name, len(self.procs))), "w") as log:
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                 env=dict(os.environ, **(env or {})), start_new_session=True)
        p.logfile = log.name
        self.procs.append(p)
        return p

    def describe(self, out, procs):
        """What a failed test leaves behind to read: each process's log and
        the audit trail with its times (the logs carry none)."""
        for p in procs:
            if not getattr(p, "logfile", None):
                continue
            try:
                lines = read(p.logfile).splitlines()
            except OSError:
                continue
            out.write("--- %s (last %d of %d lines)\n" % (
                os.path.basename(p.logfile), min(len(lines), 80), len(lines)))
            out.write("".join(line + "\n" for line in lines[-80:]))
        if not os.path.exists(os.path.join(self.dir, "edix.db")):
            return
        try:
            rows = self.query("SELECT at_ms, actor, event, msg_id, details FROM audit"
                              " ORDER BY seq DESC LIMIT 60")
        except sqlite3.Error as e:
            out.write("--- audit: %s\n" % e)
            return
        out.write("--- audit (newest last)\n")
        for at, actor, event, msg, details in reversed(rows):
            out.write("%d %s %s %s %s\n" % (at, actor, event, msg or "-", details))

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []

    def partner(self, pid, *args, timeout=60, expect=None):
        cmd = [exe("edix-partner"), "--bundle", self.bundle(pid)] + [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if expect is not None and r.returncode != expect:
            raise AssertionError("%s: exit %d, want %d\nstdout: %s\nstderr: %s" % (
                " ".join(cmd), r.returncode, expect, r.stdout, r.stderr))
        return r


class EdixTest(unittest.TestCase):
    """Base class: a fresh temporary home per test, processes stopped after."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="edix-it-")
        self.home = Home(self.tmp)

    def tearDown(self):
        # a failure is explained by what the hub logged and audited
        result = getattr(getattr(self, "_outcome", None), "result", None)
        failed = any(test is self for test, _ in getattr(result, "failures", []) +
                     getattr(result, "errors", []))
        started = list(self.home.procs)
        self.home.stop_all()
        if failed:
            self.home.describe(sys.stderr, started)
        if os.environ.get("EDIX_KEEP_TMP"):
            sys.stderr.write("kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    unittest.main(verbosity=2)

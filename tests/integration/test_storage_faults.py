"""Storage faults: the store locked by another process for longer than the
busy timeout, and the home on a nearly full filesystem.  Either way the
partner gets a clear temporary error (503) and no receipt for anything not
committed; the store stays intact (integrity_check, audit verify); and
once the lock or the space is released the same client id goes through
and is delivered, once."""
import hashlib
import os
import sqlite3
import subprocess
import time

import edixtest
import edixfault
from edixfault import Hub, RawClient
from edixtest import EdixTest, wait_for

zmq = edixfault.require_zmq()

BUYER, SELLER = "7300072310001", "7302347230001"
BUSY_TIMEOUT = 5.0  # the store's busy timeout (common/store.c)


class StorageFaultTest(EdixTest):

    def setUp(self):
        super().setUp()
        self.clients = []
        self.mounted = None

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.home.stop_all()
        if self.mounted and subprocess.run(["umount", self.mounted]).returncode != 0:
            subprocess.run(["umount", "-l", self.mounted], check=False)
        super().tearDown()

    def start(self):
        self.home.init()
        self.home.add_partner("buyer", ["GLN:" + BUYER], send="Order", receive="all")
        self.home.add_partner("seller", ["GLN:" + SELLER], send="Invoice", receive="all")
        self.hub = Hub(self.home).wait_ready()
        b = edixfault.read_bundle(self.home.bundle("buyer"))
        self.raw = RawClient(zmq, b["intake_endpoint"], b)
        self.clients.append(self.raw)
        # the connection works before the fault
        self.assertEqual(self.raw.request([b"PING"]), [b"PONG"])

    def write(self, name, body):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(body)
        return path

    def stored(self, client_id):
        return self.home.query("SELECT id, state FROM messages WHERE sender = 'buyer' AND "
                               "client_id = ?", (client_id,))

    def assert_intact(self):
        self.assertEqual(self.home.query("PRAGMA integrity_check")[0][0], "ok")
        self.home.admin("audit", "verify")

    def assert_delivered_once(self, hub_ids, bodies):
        """The seller receives each document once, byte for byte."""
        into = os.path.join(self.tmp, "seller-in")
        wait_for(lambda: all(self.stored_state(h) == "routed" for h in hub_ids),
                 what="the documents to be routed")
        self.home.partner("seller", "receive", "--into", into, "--timeout", "60", expect=0,
                          timeout=120)
        got = {f[:-4]: edixtest.read(os.path.join(into, f), "rb") for f in os.listdir(into)
               if f.endswith(".xml")}
        self.assertEqual(got, dict(zip(hub_ids, bodies)))
        wait_for(lambda: all(self.stored_state(h) == "delivered" for h in hub_ids),
                 what="the deliveries to be recorded")

    def stored_state(self, hub_id):
        rows = self.home.query("SELECT state FROM messages WHERE id = ?", (hub_id,))
        return rows[0][0] if rows else None

    def submit_expect_503(self, client_id, body, timeout):
        t0 = time.monotonic()
        reply = self.raw.request([b"SUBMIT", client_id.encode(), body], timeout=timeout)
        took = time.monotonic() - t0
        self.assertIsNotNone(reply, "no answer within %.0f s" % timeout)
        self.assertEqual(reply[:3], [b"ERROR", client_id.encode(), b"503"], reply)
        self.assertIn(b"resubmit with the same client id", reply[3])
        return took, reply[3].decode()

    def submit_expect_receipt(self, client_id, body):
        reply = self.raw.request([b"SUBMIT", client_id.encode(), body], timeout=30)
        self.assertIsNotNone(reply, "no answer after the fault was released")
        self.assertEqual(reply[0], b"RECEIPT", reply)
        self.assertEqual(reply[1], client_id.encode())
        statement = reply[3].decode()
        self.assertIn("sha256: %s\n" % hashlib.sha256(body).hexdigest(), statement)
        return reply[2].decode()

    # ---- the store locked ---------------------------------------------

    def test_store_locked_longer_than_busy_timeout(self):
        self.start()
        body = edixfault.order(BUYER, SELLER, "LOCK-1")
        late = edixfault.order(BUYER, SELLER, "LOCK-2")
        lock = sqlite3.connect(os.path.join(self.home.dir, "edix.db"), timeout=30,
                               isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            t_locked = time.monotonic()
            # a CLI submission while the store is locked: it retries on 503
            # with the same client id and gets through once the lock is gone
            cli = subprocess.Popen(
                [edixtest.exe("edix-partner"), "--bundle", self.home.bundle("buyer"), "send",
                 self.write("late.xml", late), "--timeout", "60"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            took, reason = self.submit_expect_503("LOCK-1", body, timeout=BUSY_TIMEOUT * 4)
            # held past the busy timeout, and answered only after waiting it out
            self.assertGreaterEqual(time.monotonic() - t_locked, BUSY_TIMEOUT)
            self.assertGreater(took, BUSY_TIMEOUT * 0.8)
            # nothing was committed for it, so no receipt exists for it
            self.assertEqual(self.stored("LOCK-1"), [])
            self.assertEqual(self.stored("sha256-" + hashlib.sha256(late).hexdigest()[:32]), [])
            # every service is still there, waiting
            self.assertEqual(set(self.hub.services()), set(edixfault.SERVICES))
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        out, err = cli.communicate(timeout=120)
        self.assertEqual(cli.returncode, 0, out + err)
        late_id = out.split()[0]
        hub_id = self.submit_expect_receipt("LOCK-1", body)
        # the same client id again: the same document, not a second one
        self.assertEqual(self.submit_expect_receipt("LOCK-1", body), hub_id)
        self.assertEqual(len(self.stored("LOCK-1")), 1)
        self.assert_delivered_once([hub_id, late_id], [body, late])
        self.assertIn("temporary=1", self.hub.log())
        self.assertNotIn("event=crashed", self.hub.log())
        self.assert_intact()

    # ---- the disk full ------------------------------------------------

    def test_home_on_a_nearly_full_filesystem(self):
        home = self.home.dir
        os.makedirs(home)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "edix-test",
                            home], capture_output=True, text=True)
        if r.returncode != 0:
            os.rmdir(home)
            self.skipTest("cannot mount a small tmpfs for the home (needs root and "
                          "CAP_SYS_ADMIN): %s" % r.stderr.strip())
        self.mounted = home
        self.start()
        # one document through first, so the store and its WAL are warm
        first = edixfault.order(BUYER, SELLER, "FULL-0")
        first_id = self.submit_expect_receipt("FULL-0", first)
        wait_for(lambda: self.stored_state(first_id) == "routed", what="the first document")

        # fill the filesystem up to 64 kB; the document needs 256 kB
        filler = os.path.join(home, "filler")
        st = os.statvfs(home)
        free = st.f_bavail * st.f_frsize
        with open(filler, "wb") as f:
            f.write(b"\0" * (free - 64 * 1024))
        body = edixfault.order(BUYER, SELLER, "FULL-1", pad=256 * 1024)
        try:
            took, reason = self.submit_expect_503("FULL-1", body, timeout=30)
            self.assertIn("cannot store", reason)
            self.assertEqual(self.stored("FULL-1"), [])
            # the CLI says it plainly too, and gets no receipt
            path = self.write("full.xml", body)
            r = self.home.partner("buyer", "send", path, "--timeout", "3", "--client-id",
                                  "FULL-1", "--receipts", os.path.join(self.tmp, "rc"),
                                  expect=1)
            self.assertIn("busy", r.stderr)
            self.assertIn("cannot store documents right now", r.stderr)
            self.assertEqual(os.listdir(os.path.join(self.tmp, "rc")), [])
            self.assertEqual(self.stored("FULL-1"), [])
            self.assertEqual(set(self.hub.services()), set(edixfault.SERVICES))
        finally:
            os.unlink(filler)
        hub_id = self.submit_expect_receipt("FULL-1", body)
        self.assertEqual(len(self.stored("FULL-1")), 1)
        self.assert_delivered_once([first_id, hub_id], [first, body])
        self.assertIn("event=commit-failed", self.hub.log())
        self.assertNotIn("event=crashed", self.hub.log())
        self.assert_intact()


if __name__ == "__main__":
    edixtest.main()

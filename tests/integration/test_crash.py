"""Crash test: a stream of documents from several partners while every
service is SIGKILLed at random moments, several times each; edix-hub
restarts them.  Afterwards every receipted document is delivered exactly
once, no receipt names a document the store does not hold, the senders'
retries covered everything that got no receipt, and the audit chain
verifies.

The stream: SENDERS buyers each send their own Orders (edix-partner send,
pipelined, default client id = content hash, receipts kept) to RECEIVERS
sellers, who run `edix-partner receive --follow` throughout.  It runs in
rounds, one per kill: intake, validator and router KILLS times each, in a
random order.  In each round every sender sends its next slice; once a
random share of the round's documents is in the store the round's victim
is SIGKILLed, and one sender's edix-partner with it (so some submissions
end without a receipt, committed or not); the round ends when the senders
are done and the supervisor has the victim back.  Then every sender
re-sends all its documents: what got a receipt must get the same hub id
again, what did not must get one now.

EDIX_CRASH_DOCS and EDIX_CRASH_SEED override the size and the random seed
(the seed is printed, so a failure can be replayed)."""
import hashlib
import os
import random
import signal
import subprocess
import time

import edixtest
import edixfault
from edixfault import SERVICES, Hub
from edixtest import EdixTest, wait_for

SENDERS = 3
RECEIVERS = 3
DOCS = int(os.environ.get("EDIX_CRASH_DOCS", "2100"))
KILLS = 4  # per service


def buyer_gln(i):
    return "73000723100%02d" % i


def seller_gln(j):
    return "73023472300%02d" % j


class CrashTest(EdixTest):

    def setUp(self):
        super().setUp()
        self.seed = int(os.environ.get("EDIX_CRASH_SEED", str(int(time.time()))))
        self.rng = random.Random(self.seed)
        self.home.init()
        for i in range(SENDERS):
            self.home.add_partner("b%d" % i, ["GLN:" + buyer_gln(i)], send="Order",
                                  receive="ApplicationResponse")
        for j in range(RECEIVERS):
            self.home.add_partner("s%d" % j, ["GLN:" + seller_gln(j)], send="Invoice",
                                  receive="Order")
        # the documents: sender i's n-th order goes to seller (i + n) % RECEIVERS
        self.docs = {}  # sender -> [(path, client id, sha256, receiver)]
        per = DOCS // SENDERS
        for i in range(SENDERS):
            d = os.path.join(self.tmp, "docs", "b%d" % i)
            os.makedirs(d)
            out = []
            for n in range(per):
                j = (i + n) % RECEIVERS
                body = edixfault.order(buyer_gln(i), seller_gln(j), "CR-%d-%05d" % (i, n))
                path = os.path.join(d, "%05d.xml" % n)
                with open(path, "wb") as f:
                    f.write(body)
                sha = hashlib.sha256(body).hexdigest()
                out.append((path, "sha256-" + sha[:32], sha, "s%d" % j))
            self.docs["b%d" % i] = out
        self.total = per * SENDERS

    # ---- the stream ---------------------------------------------------

    def send_chunk(self, sender, paths, timeout):
        """Start one `edix-partner send` run; receipts are kept as files."""
        cmd = [edixtest.exe("edix-partner"), "--bundle", self.home.bundle(sender), "send"] + \
            paths + ["--timeout", timeout, "--receipts", self.receipts(sender)]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        self.home.procs.append(p)  # stopped by tearDown whatever happens
        return p

    def receipts(self, sender):
        return os.path.join(self.tmp, "receipts", sender)

    def inbox(self, receiver):
        return os.path.join(self.tmp, "inbox", receiver)

    def stored(self):
        return self.home.query("SELECT count(*) FROM messages WHERE kind = 'document'")[0][0]

    def rounds(self, hub, kills):
        """One round per kill: every sender sends its next slice of
        documents; once a random share of the round's documents is in the
        store, the round's victim is SIGKILLed mid-stream, and so is one
        sender's edix-partner (a partner crashing too: its submissions in
        flight end without a receipt, committed or not).  The round ends
        when the senders are done and the victim is back."""
        victims = [s for s in SERVICES for _ in range(KILLS)]
        self.rng.shuffle(victims)
        n = len(victims)
        for k, svc in enumerate(victims):
            slices = {}
            for sender, docs in self.docs.items():
                lo, hi = len(docs) * k // n, len(docs) * (k + 1) // n
                slices[sender] = [d[0] for d in docs[lo:hi]]
            size = sum(len(v) for v in slices.values())
            trigger = self.stored() + self.rng.randint(0, size * 9 // 10)
            procs = [self.send_chunk(s, p, "20") for s, p in sorted(slices.items())]
            wait_for(lambda: self.stored() >= trigger or all(p.poll() is not None for p in procs),
                     timeout=120, what="round %d to reach %d stored documents" % (k, trigger))
            self.assertNoCrash(hub)
            pid = hub.services().get(svc)
            self.assertIsNotNone(pid, "%s is not running" % svc)
            ready = hub.count(edixfault.READY[svc])
            os.kill(pid, signal.SIGKILL)
            kills[svc] += 1
            victim = self.rng.choice(procs)
            if victim.poll() is None:
                victim.send_signal(signal.SIGKILL)
                kills["sender"] += 1
            for p in procs:
                p.wait(300)
            # the supervisor restarts it (with its backoff)
            wait_for(lambda: hub.count(edixfault.READY[svc]) > ready, timeout=60,
                     what="edix-hub to restart %s" % svc)

    def assertNoCrash(self, hub):
        """Only our SIGKILLs end a service: no crash of its own, no exit."""
        bad = [line for line in hub.log().splitlines()
               if ("event=crashed" in line and "signal=9 " not in line) or "event=exited" in line]
        self.assertEqual(bad, [], "a service died by itself:\n%s" % hub.log()[-5000:])

    def start_receivers(self):
        procs = []
        for j in range(RECEIVERS):
            pid = "s%d" % j
            os.makedirs(self.inbox(pid), exist_ok=True)
            cmd = [edixtest.exe("edix-partner"), "--bundle", self.home.bundle(pid), "receive",
                   "--into", self.inbox(pid), "--follow", "--timeout", "600"]
            with open(os.path.join(self.tmp, "receive-%s.log" % pid), "w") as log:
                p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
            self.home.procs.append(p)  # stopped by tearDown whatever happens
            procs.append(p)
        return procs

    def delivered(self):
        return self.home.query("SELECT count(*) FROM messages WHERE kind = 'document' AND "
                               "state = 'delivered'")[0][0]

    # ---- the test -----------------------------------------------------

    def test_kill_every_service_while_streaming(self):
        t0 = time.monotonic()
        hub = Hub(self.home).wait_ready()
        receivers = self.start_receivers()
        kills = {s: 0 for s in SERVICES + ("sender",)}
        self.rounds(hub, kills)
        for s in SERVICES:
            self.assertEqual(kills[s], KILLS, "kills: %s" % kills)
        hub.wait_ready(counts={s: kills[s] for s in SERVICES})
        t_stream = time.monotonic() - t0

        # what got a receipt the first time round
        first = {}
        for sender in self.docs:
            d = self.receipts(sender)
            for f in os.listdir(d) if os.path.isdir(d) else []:
                if not f.endswith(".receipt"):
                    continue  # the temp file of a write a SIGKILL interrupted
                text = edixtest.read(os.path.join(d, f))
                cid = text.split("client-id: ")[1].split()[0]
                first[(sender, cid)] = f[:-len(".receipt")]
                self.assertIn("sha256: ", text)
        unreceipted = self.total - len(first)
        stored_unreceipted = len({(s, c) for s, c in self.home.query(
            "SELECT sender, client_id FROM messages WHERE kind = 'document'")} - set(first))

        # no receipt for a document the store does not hold (same bytes)
        stored = {h: (s, c, sha) for h, s, c, sha in self.home.query(
            "SELECT id, sender, client_id, sha256 FROM messages WHERE kind = 'document'")}
        by_cid = {}
        for (sender, cid), hub_id in first.items():
            self.assertIn(hub_id, stored, "receipt for %s (%s %s) not in the store" % (
                hub_id, sender, cid))
            self.assertEqual(stored[hub_id][:2], (sender, cid))
            by_cid[(sender, cid)] = hub_id

        t1 = time.monotonic()
        # the senders retry everything: a receipted document keeps its hub
        # id, an unreceipted one gets its receipt now
        for sender, docs in self.docs.items():
            paths = [d[0] for d in docs]
            for k in range(0, len(paths), 500):
                r = self.home.partner(sender, "send", *paths[k:k + 500], "--timeout", "60",
                                      "--receipts", self.receipts(sender), timeout=600,
                                      expect=0)
                got = [line.split()[0] for line in r.stdout.splitlines()]
                self.assertEqual(len(got), len(paths[k:k + 500]), r.stdout + r.stderr)
                for (path, cid, sha, _), hub_id in zip(docs[k:k + 500], got):
                    if (sender, cid) in first:
                        self.assertEqual(hub_id, first[(sender, cid)],
                                         "%s got a second hub id on retry" % path)
                    by_cid[(sender, cid)] = hub_id
        self.assertEqual(len(by_cid), self.total)

        # everything reaches its receiver; the receivers may have stopped
        # between a write and its ack, so collect until the store agrees
        def all_delivered():
            if self.delivered() == self.total:
                return True
            for j, p in enumerate(receivers):
                if p.poll() is not None:
                    raise AssertionError("receiver s%d exited %d: %s" % (j, p.returncode,
                                         edixtest.read(os.path.join(self.tmp,
                                                                    "receive-s%d.log" % j))))
            return False
        t2 = time.monotonic()
        wait_for(all_delivered, timeout=300, what="every document to be recorded delivered")
        t3 = time.monotonic()
        for p in receivers:
            p.send_signal(signal.SIGTERM)
        for p in receivers:
            self.assertEqual(p.wait(30), 0)

        # exactly once: the receivers' directories hold each receipted hub
        # id once, at its own receiver, byte for byte, and no other
        want = {}  # hub id -> (receiver, sha256)
        for sender, docs in self.docs.items():
            for path, cid, sha, receiver in docs:
                want[by_cid[(sender, cid)]] = (receiver, sha)
        seen = {}
        dup_content = 0
        for j in range(RECEIVERS):
            pid = "s%d" % j
            shas = set()
            for f in os.listdir(self.inbox(pid)):
                if not f.endswith(".xml"):
                    continue  # a temp file of an interrupted write
                hub_id = f[:-4]
                body = edixtest.read(os.path.join(self.inbox(pid), f), "rb")
                sha = hashlib.sha256(body).hexdigest()
                self.assertNotIn(hub_id, seen, "%s at two receivers" % hub_id)
                seen[hub_id] = (pid, sha)
                dup_content += sha in shas
                shas.add(sha)
        lost = sorted(set(want) - set(seen))
        extra = sorted(set(seen) - set(want))
        # duplicated: one client id under two hub ids, in the store or at a receiver
        dups = self.home.query(
            "SELECT count(*) FROM (SELECT sender, client_id FROM messages WHERE kind = "
            "'document' GROUP BY sender, client_id HAVING count(*) > 1)")[0][0]
        dups += dup_content
        multi = self.home.query(
            "SELECT count(*) FROM (SELECT msg_id FROM deliveries GROUP BY msg_id "
            "HAVING count(*) > 1)")[0][0]
        print("\ncrash: seed %d, %d documents from %d partners to %d (stream %.0f s, retries "
              "%.0f s, last deliveries %.0f s); kills %s; %d without a receipt the first time "
              "(%d of them stored); lost %d, duplicated %d, extra %d"
              % (self.seed, self.total, SENDERS, RECEIVERS, t_stream, t2 - t1, t3 - t2,
                 " ".join("%s=%d" % kv for kv in sorted(kills.items())), unreceipted,
                 stored_unreceipted, len(lost), dups, len(extra)), flush=True)
        self.assertEqual(lost, [], "receipted but not delivered")
        self.assertEqual(extra, [], "delivered without a receipt")
        self.assertEqual(dups, 0, "duplicated documents")
        self.assertEqual(multi, 0, "a message with two delivery rows")
        for hub_id, (receiver, sha) in want.items():
            self.assertEqual(seen[hub_id], (receiver, sha), hub_id)
        self.assertEqual(len(stored.keys() | set(want)), self.total)
        self.assertEqual(self.home.query(
            "SELECT count(*) FROM messages WHERE kind = 'document'")[0][0], self.total)
        self.assertEqual(self.home.query(
            "SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.msg_id "
            "WHERE m.kind = 'document' AND d.state = 'delivered'")[0][0], self.total)
        self.assertNoCrash(hub)
        self.assertEqual(hub.count("event=crashed"), sum(kills[s] for s in SERVICES))
        self.assertEqual(self.home.query("PRAGMA integrity_check")[0][0], "ok")
        self.home.admin("audit", "verify")
        # the supervisor is still the same process, and it stops cleanly
        self.assertTrue(hub.alive())
        self.home.stop_all()
        self.assertEqual(hub.proc.returncode, 0)


if __name__ == "__main__":
    edixtest.main()

"""Operating the hub: tracking by business number, the whole trail, resend,
stats (table, JSON, Prometheus), retention (purge), key rollover with an
overlap, the services' log lines, --help and man pages, the sample config
and the schema fetcher.  Real executables, a temporary home, loopback."""
import gzip
import hashlib
import os
import re
import shutil
import stat
import subprocess
import time
import zipfile

import edixtest
from edixtest import EdixTest, corpus, read, wait_for

ORDER = "oasis-ubl-2.1/xml/UBL-Order-2.1-Example.xml"                  # ID 34
ORDER_RESPONSE = "oasis-ubl-2.1/xml/UBL-OrderResponse-2.1-Example.xml"  # refers to order 34
INVOICE = "oasis-ubl-2.1/xml/UBL-Invoice-2.1-Example.xml"              # ID TOSL108, order 123
BUYER_IDS = ["GLN:7300072311115", "GLN:1234567987654"]
SELLER_IDS = ["GLN:7302347231111", "GLN:1234567890123"]
EXECUTABLES = ["edix-admin", "edix-partner", "edix-hub", "edix-intake", "edix-validator",
               "edix-router"]
LOG_LINE = re.compile(r'^msg=(\S+) level=(debug|info|warn|error) svc=([a-z]+) event=([a-z-]+)'
                      r'( [a-z_]+=("[^"]*"|\S*))*$')


class OpsBase(EdixTest):

    def setUp(self):
        super().setUp()
        self.home.init()
        self.home.add_partner("buyer", BUYER_IDS, send="Order", receive="all")
        self.home.add_partner("seller", SELLER_IDS, send="Invoice,OrderResponse", receive="all")

    def start_hub(self, env=None):
        p = self.home.start("edix-hub", "--foreground", env=env)
        wait_for(lambda: all(s in read(p.logfile) for s in (
            "svc=router event=listening", "svc=intake event=listening",
            "svc=validator event=ready")), what="the hub to start")
        return p

    def send(self, partner, doc, *extra, expect=0, bundle=None):
        """edix-partner send; the hub's message id, or the result when
        the send is expected to fail (exit 1)."""
        cmd = [edixtest.exe("edix-partner"), "--bundle", bundle or self.home.bundle(partner),
               "send", doc, "--timeout", "60"] + list(extra)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode != expect:
            raise AssertionError("%s: exit %d, want %d\nstdout: %s\nstderr: %s" % (
                " ".join(cmd), r.returncode, expect, r.stdout, r.stderr))
        return r if expect == 1 else r.stdout.split()[0]

    def receive(self, partner, into, *want):
        """edix-partner receive, which stops once the hub has been quiet for
        a moment: the documents it must bring are routed first, so a slow
        moment in validation cannot end it early, and they must come."""
        for msgid in want:
            wait_for(lambda: self.state(msgid) in ("routed", "delivered"),
                     what="%s to be routed" % msgid)
        os.makedirs(into, exist_ok=True)
        r = self.home.partner(partner, "receive", "--into", into, "--timeout", "60",
                              timeout=120, expect=0)
        got = {line.split()[0] for line in r.stdout.splitlines() if line.strip()}
        for msgid in want:
            self.assertIn(msgid, got, "%s receive: %r" % (partner, r.stdout))
        return r

    def state(self, msgid):
        return self.home.query("SELECT state FROM messages WHERE id = ?", (msgid,))[0][0]

    def wait_state(self, msgid, want):
        wait_for(lambda: self.state(msgid) == want, what="%s to be %s" % (msgid, want))

    def events(self, msgid=None):
        return [e["event"] for e in self.home.admin_json("audit", "list")
                if msgid is None or e["message"] == msgid]

    def one_line_error(self, r, want):
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("edix-admin: "), lines[0])
        self.assertIn(want, lines[0])


class TrackingTest(OpsBase):

    def test_find_show_resend(self):
        self.start_hub()
        order = self.send("buyer", corpus(ORDER))
        self.receive("seller", os.path.join(self.tmp, "seller-1"), order)
        self.wait_state(order, "delivered")
        response = self.send("seller", corpus(ORDER_RESPONSE))
        invoice = self.send("seller", corpus(INVOICE))
        rejected = self.send("buyer", corpus(INVOICE), "--wait", expect=2)
        self.wait_state(response, "routed")  # the buyer is away
        self.wait_state(invoice, "routed")

        # find: by the document's own number and by the order it refers to
        self.assertEqual({m["id"] for m in self.home.admin_json("message", "find", "34")},
                         {order, response})
        self.assertEqual({m["id"] for m in self.home.admin_json("message", "find", "TOSL108")},
                         {invoice, rejected})  # the same invoice, sent by two partners
        found = self.home.admin_json("message", "find", "123")
        self.assertEqual(sorted(m["id"] for m in found), sorted([invoice, rejected]))
        self.assertEqual({m["order_ref"] for m in found}, {"123"})
        r = self.home.admin("message", "find", "NO-SUCH-PO")
        self.assertIn("no message with document or order id 'NO-SUCH-PO'", r.stdout)

        # show: states with times, delivery and attempts, receipt, notices, trail
        shown = self.home.admin_json("message", "show", order)
        self.assertEqual(shown["state"], "delivered")
        self.assertEqual(shown["document_id"], "34")
        self.assertEqual(shown["body"], "stored")
        self.assertEqual(shown["delivery"]["receiver"], "seller")
        self.assertEqual(shown["delivery"]["state"], "delivered")
        self.assertGreaterEqual(shown["delivery"]["attempts"], 1)
        self.assertTrue(shown["delivery"]["delivered"])
        self.assertIn("edix-receipt/1", shown["receipt"])
        self.assertIn("hub-id: %s" % order, shown["receipt"])
        self.assertEqual([t["event"] for t in shown["trail"]],
                         ["message.accepted", "message.validated", "message.routed",
                          "message.delivered"])
        self.assertTrue(all(t["time"].endswith("Z") for t in shown["trail"]))
        self.assertEqual([n["to"] for n in shown["notices"]], ["buyer"])
        text = self.home.admin("message", "show", order).stdout
        for want in ("state       delivered", "delivery    delivered to seller after",
                     "receipt:\n  edix-receipt/1", "notices     ", "message.delivered"):
            self.assertIn(want, text)
        shown = self.home.admin_json("message", "show", rejected)
        self.assertEqual(shown["state"], "rejected")
        self.assertTrue(any(r["rule"] == "EDIX-PERMISSION" for r in shown["reasons"]))
        self.assertIsNone(shown["delivery"])

        # resend a delivered document: audited, delivered again, recorded again
        before = self.home.admin_json("message", "show", order)["delivery"]["attempts"]
        r = self.home.admin("message", "resend", order)
        self.assertIn("message %s queued again for seller (was delivered)" % order, r.stdout)
        again = os.path.join(self.tmp, "seller-2")
        self.receive("seller", again, order)
        self.assertEqual(read(os.path.join(again, order + ".xml"), "rb"),
                         read(corpus(ORDER), "rb"))
        self.wait_state(order, "delivered")
        shown = self.home.admin_json("message", "show", order)
        self.assertGreater(shown["delivery"]["attempts"], before)
        trail = [t["event"] for t in shown["trail"]]
        self.assertEqual(trail[-2:], ["message.resend", "message.delivered"])
        resend = [t for t in shown["trail"] if t["event"] == "message.resend"][0]
        self.assertIn("receiver=seller previous_state=delivered", resend["details"])
        self.assertEqual(resend["actor"], self.home.admin_json("audit", "list")[1]["actor"])

        # a routed one (its receiver is away) is offered again at once
        r = self.home.admin("message", "resend", response)
        self.assertIn("queued again for buyer (was routed)", r.stdout)
        self.assertEqual(self.state(response), "routed")
        self.assertEqual(self.home.query("SELECT state, next_ms FROM deliveries WHERE msg_id = ?",
                                         (response,)), [("pending", 0)])

        # refusals: one line, exit 1, nothing changes
        audit_before = len(self.events())
        r = self.home.admin("message", "resend", rejected, expect=1)
        self.one_line_error(r, "never routed")
        r = self.home.admin("message", "resend", "0123456789abcdefghij", expect=1)
        self.one_line_error(r, "no message '0123456789abcdefghij'")
        r = self.home.admin("message", "resend", expect=1)
        self.one_line_error(r, "usage: message resend MSGID")
        self.assertEqual(len(self.events()), audit_before)
        self.assertEqual(self.state(rejected), "rejected")
        self.home.admin("audit", "verify")

    def test_stats_json_and_prometheus(self):
        self.start_hub()
        order = self.send("buyer", corpus(ORDER))
        self.receive("seller", os.path.join(self.tmp, "seller"), order)
        self.wait_state(order, "delivered")
        self.send("buyer", corpus(INVOICE), "--wait", expect=2)       # rejected
        pending = self.send("seller", corpus(INVOICE))
        self.wait_state(pending, "routed")                             # buyer is away
        # it has waited a minute (so the age is not rounded away)
        con = self.home.db()
        with con:
            con.execute("UPDATE messages SET received_ms = received_ms - 60000 WHERE id = ?",
                        (pending,))
        con.close()

        rows = {(r["partner"], r["doctype"]): r for r in self.home.admin_json("stats")}
        self.assertEqual(rows[("buyer", "Order")]["sent"], 1)
        self.assertEqual(rows[("seller", "Order")]["received"], 1)
        self.assertEqual(rows[("buyer", "Invoice")]["rejected"], 1)
        self.assertEqual(rows[("seller", "Invoice")]["pending"], 1)
        self.assertGreaterEqual(rows[("seller", "Invoice")]["oldest_pending_s"], 60)
        self.assertEqual(rows[("buyer", "Order")]["pending"], 0)

        r = self.home.admin("stats", "--prometheus")
        families = self.parse_prometheus(r.stdout)
        self.assertEqual(set(families), {
            "edix_documents_sent_total", "edix_documents_received_total",
            "edix_documents_rejected_total", "edix_documents_pending",
            "edix_oldest_pending_age_seconds"})
        keys = {"sent": "edix_documents_sent_total", "received": "edix_documents_received_total",
                "rejected": "edix_documents_rejected_total", "pending": "edix_documents_pending"}
        for (partner, doctype), row in rows.items():
            labels = (("doctype", doctype), ("partner", partner))
            for field, metric in keys.items():
                self.assertEqual(families[metric]["samples"][labels], row[field],
                                 "%s %s: got %s, want %s" % (metric, labels,
                                                             families[metric]["samples"][labels],
                                                             row[field]))
        age = families["edix_oldest_pending_age_seconds"]["samples"]
        self.assertGreaterEqual(age[(("doctype", "Invoice"), ("partner", "seller"))], 60)
        self.assertEqual(age[(("doctype", "Order"), ("partner", "buyer"))], 0)
        self.assertEqual(families["edix_documents_pending"]["type"], "gauge")
        self.assertEqual(families["edix_documents_sent_total"]["type"], "counter")

        # --output: written atomically for the textfile collector, readable by it
        prom = os.path.join(self.tmp, "collector", "edix.prom")
        os.makedirs(os.path.dirname(prom))
        self.home.admin("stats", "--prometheus", "--output", prom)
        self.assertEqual(self.parse_prometheus(read(prom)).keys(), families.keys())
        self.assertEqual(stat.S_IMODE(os.stat(prom).st_mode), 0o644)
        self.assertEqual(os.listdir(os.path.dirname(prom)), ["edix.prom"])
        r = self.home.admin("stats", "--json", "--prometheus", expect=1)
        self.one_line_error(r, "not both")
        # the table names every row
        table = self.home.admin("stats").stdout.splitlines()
        self.assertTrue(table[0].startswith("PARTNER"))
        self.assertEqual(len(table) - 1, len(rows))

    def parse_prometheus(self, text):
        """Check the text exposition format strictly; families by name."""
        families = {}
        sample = re.compile(r'^([a-z_]+)\{((?:[a-z_]+="(?:[^"\\]|\\.)*",?)*)\} (\S+)$')
        for line in text.splitlines():
            m = re.match(r"^# (HELP|TYPE) ([a-z_]+) (.+)$", line)
            if m:
                fam = families.setdefault(m.group(2), {"samples": {}})
                self.assertFalse(fam["samples"], "%s after samples" % line)
                fam[m.group(1).lower()] = m.group(3)
                continue
            m = sample.match(line)
            self.assertTrue(m, "not a sample line: %r" % line)
            name, labels, value = m.groups()
            self.assertIn(name, families, "sample before its # TYPE: %r" % line)
            self.assertIn(families[name].get("type"), ("counter", "gauge"))
            self.assertTrue(families[name].get("help"))
            pairs = tuple(sorted(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', labels)))
            self.assertNotIn(pairs, families[name]["samples"], "duplicate %r" % line)
            families[name]["samples"][pairs] = float(value)
        return families


class RetentionTest(OpsBase):

    def test_purge_keeps_records_and_chain(self):
        self.start_hub()
        order = self.send("buyer", corpus(ORDER))
        self.receive("seller", os.path.join(self.tmp, "seller"), order)
        self.wait_state(order, "delivered")
        rejected = self.send("buyer", corpus(INVOICE), "--wait", expect=2)
        pending = self.send("seller", corpus(INVOICE))
        self.wait_state(pending, "routed")                             # the buyer is away
        notices = [r[0] for r in self.home.query(
            "SELECT id FROM messages WHERE kind = 'status'")]
        self.assertEqual(len(notices), 2)  # order delivered, invoice rejected; both pending

        def bodies():
            return {r[0] for r in self.home.query("SELECT id FROM bodies")}

        everything = bodies()
        self.assertEqual(everything, {order, rejected, pending} | set(notices))
        conf = os.path.join(self.home.dir, "edix.conf")

        # retention_days = 0 (the default): nothing is purged, nothing audited
        r = self.home.admin("purge")
        self.assertIn("nothing purged", r.stdout)
        self.assertNotIn("store.purge", self.events())
        # a day of retention: every document here is younger
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("retention_days = 0", "retention_days = 1"))
        r = self.home.admin("purge")
        self.assertIn("purged 0 document bodies", r.stdout)
        self.assertEqual(bodies(), everything)
        # the order finished two days ago (its record says so): only it goes
        two_days_ago = int(time.time() * 1000) - 2 * 86400000
        con = self.home.db()
        with con:
            con.execute("UPDATE messages SET updated_ms = ? WHERE id = ?", (two_days_ago, order))
        con.close()
        r = self.home.admin("purge", "--dry-run")
        self.assertIn("would purge 1 document bodies", r.stdout)
        self.assertEqual(bodies(), everything)
        r = self.home.admin("purge")
        self.assertIn("purged 1 document bodies", r.stdout)
        self.assertEqual(bodies(), everything - {order})
        # --older-than overrides the config: final states only, never pending work
        r = self.home.admin("purge", "--older-than", "0s")
        self.assertIn("purged 1 document bodies", r.stdout)   # the rejected one
        self.assertEqual(bodies(), {pending} | set(notices))

        purges = [e for e in self.home.admin_json("audit", "list") if e["event"] == "store.purge"]
        self.assertEqual(len(purges), 3)
        self.assertRegex(purges[0]["details"],
                         r"^cutoff=\S+Z older_than=1d bodies=0 bytes=0$")
        self.assertRegex(purges[1]["details"],
                         r"^cutoff=\S+Z older_than=1d bodies=1 bytes=%d$" %
                         os.path.getsize(corpus(ORDER)))
        self.assertIn("older_than=0s bodies=1", purges[2]["details"])
        # the records stay, with their hashes; the chain still verifies
        shown = self.home.admin_json("message", "show", order)
        self.assertEqual(shown["body"], "purged")
        self.assertEqual(shown["state"], "delivered")
        self.assertEqual(shown["size"], os.path.getsize(corpus(ORDER)))
        self.assertEqual(len(shown["trail"]), 4)
        self.assertIn("body        purged", self.home.admin("message", "show", order).stdout)
        self.assertIn("audit chain intact", self.home.admin("audit", "verify").stdout)
        r = self.home.admin("message", "resend", order, expect=1)
        self.one_line_error(r, "purged")
        # what is still pending is delivered as before
        into = os.path.join(self.tmp, "buyer")
        self.receive("buyer", into, pending)
        self.assertEqual(read(os.path.join(into, pending + ".xml"), "rb"),
                         read(corpus(INVOICE), "rb"))
        for bad in (["--older-than", "soon"], ["--older-than", "-1d"], ["extra"]):
            r = self.home.admin("purge", *bad, expect=1)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


class RolloverTest(OpsBase):

    OVERLAP = 4  # seconds

    def admitted(self, bundle, msgid):
        """True when the hub admits bundle's key (a status round trip);
        False when it refuses the handshake."""
        r = subprocess.run([edixtest.exe("edix-partner"), "--bundle", bundle, "status", msgid,
                            "--timeout", "10"], capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            return True
        self.assertIn("refused", r.stderr, r.stdout + r.stderr)
        return False

    def test_rekey_overlap(self):
        self.start_hub()
        old = self.home.bundle("buyer")
        order = self.send("buyer", corpus(ORDER), "--client-id", "before")
        key_before = self.home.admin_json("partner", "show", "buyer")["curve_public"]
        new = os.path.join(self.tmp, "buyer-2.bundle")
        t0 = time.monotonic()
        r = self.home.admin("partner", "rekey", "buyer", "--bundle", new, "--overlap",
                            "%ds" % self.OVERLAP)
        self.assertIn("admitted for %ds more" % self.OVERLAP, r.stdout)
        # inside the overlap both keys work
        inside = self.send("buyer", corpus(ORDER), "--client-id", "inside", bundle=old)
        self.assertLess(time.monotonic() - t0, self.OVERLAP,
                        "the machine was too slow to test inside the overlap")
        self.send("buyer", corpus(ORDER), "--client-id", "new-key", bundle=new)
        # after it the old key is refused (poll the state, bounded)
        wait_for(lambda: not self.admitted(old, order), timeout=self.OVERLAP + 30,
                 what="the old key to be refused")
        self.assertGreaterEqual(time.monotonic() - t0, self.OVERLAP)
        r = self.send("buyer", corpus(ORDER), "--client-id", "after", bundle=old, expect=1)
        self.assertIn("refused", r.stderr)
        self.assertTrue(self.admitted(new, inside))

        shown = self.home.admin_json("partner", "show", "buyer")
        self.assertNotEqual(shown["curve_public"], key_before)
        self.assertEqual(shown["key_age_days"], 0)
        listed = self.home.admin("partner", "list").stdout.splitlines()
        self.assertIn("KEY-AGE", listed[0])
        self.assertRegex([l for l in listed if l.startswith("buyer ")][0], r"\s0d\s")
        audit = self.home.admin_json("audit", "list")
        rekey = [e for e in audit if e["event"] == "partner.rekey"]
        self.assertEqual(len(rekey), 1)
        self.assertIn("overlap_ms=%d" % (self.OVERLAP * 1000), rekey[0]["details"])
        self.assertIn("old_key=%s" % key_before, rekey[0]["details"])
        self.assertTrue(any(e["event"] == "connection.refused" and key_before in e["details"]
                            for e in audit))
        self.assertEqual(self.home.query(
            "SELECT count(*) FROM messages WHERE sender = 'buyer'")[0][0], 3)
        self.home.admin("audit", "verify")


class LogTest(OpsBase):

    def test_log_lines_key_value_no_contents_or_secrets(self):
        hub = self.start_hub(env={"EDIX_LOG_LEVEL": "debug"})
        order = self.send("buyer", corpus(ORDER))
        self.receive("seller", os.path.join(self.tmp, "seller"), order)
        self.wait_state(order, "delivered")
        self.send("buyer", corpus(ORDER))                      # a resubmission
        self.send("buyer", corpus(INVOICE), "--wait", expect=2)  # a rejection
        self.home.admin("partner", "suspend", "seller")
        self.home.partner("seller", "send", corpus(INVOICE), "--timeout", "10", expect=1)
        self.home.admin("partner", "resume", "seller")
        self.home.admin("message", "resend", order)
        self.receive("seller", os.path.join(self.tmp, "seller-2"), order)
        self.wait_state(order, "delivered")
        self.home.stop_all()
        self.assertEqual(hub.returncode, 0)

        lines = read(hub.logfile).splitlines()
        self.assertGreater(len(lines), 10)
        for line in lines:
            self.assertRegex(line, LOG_LINE)
        # one grep follows the document through every service
        trail = [LOG_LINE.match(l).group(3, 4) for l in lines if l.startswith("msg=%s " % order)]
        for want in [("intake", "accepted"), ("validator", "validated"), ("router", "routed"),
                     ("router", "delivered")]:
            self.assertIn(want, trail)
        # never a document's contents or a secret
        secrets = []
        for pid in ("buyer", "seller"):
            secrets += [l.split(" = ", 1)[1] for l in read(self.home.bundle(pid)).splitlines()
                        if l.startswith("curve_secret")]
        secrets += [l.split(" = ", 1)[1] for l in read(os.path.join(
            self.home.dir, "keys", "hub.curve")).splitlines() if l.startswith("secret")]
        pem = read(os.path.join(self.home.dir, "keys", "hub-sign.pem")).splitlines()[1:-1]
        self.assertEqual(len(secrets), 3)
        # (a lone "<" may be part of a Z85 key in refused-key lines: look for markup)
        contents = ["<?xml", "<cbc:", "<cac:", "</", "Johnssons byggvaror",
                    "Computing for dummies", "Ebeneser Scrooge"]
        text = read(hub.logfile)
        for s in secrets + pem + contents:
            self.assertNotIn(s, text)

    def test_log_level_from_environment(self):
        # no "listening" lines at warn: the send waits for the hub itself
        hub = self.home.start("edix-hub", "--foreground", env={"EDIX_LOG_LEVEL": "warn"})
        order = self.send("buyer", corpus(ORDER))
        self.receive("seller", os.path.join(self.tmp, "seller"), order)
        self.wait_state(order, "delivered")
        self.home.stop_all()
        self.assertEqual(hub.returncode, 0)
        for line in read(hub.logfile).splitlines():
            self.assertRegex(line, LOG_LINE)
            self.assertNotRegex(line, r" level=(debug|info) ")


class SelfDescriptionTest(EdixTest):

    def test_help_on_every_executable(self):
        for name in EXECUTABLES:
            r = subprocess.run([edixtest.exe(name), "--help"], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 0, name)
            self.assertTrue(r.stdout.startswith("usage: %s" % name), r.stdout)
            self.assertEqual(r.stderr, "")
        r = subprocess.run(["sh", os.path.join(edixtest.SOURCE, "deploy", "fetch-ubl-schemas"),
                            "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("usage: edix-fetch-ubl-schemas"), r.stdout)

    def test_man_pages_made_from_help(self):
        mandir = os.path.join(edixtest.BIN, "man")
        if not os.path.isdir(mandir):
            self.skipTest("no man pages in this build (python3 missing at configure time)")
        pages = sorted(os.listdir(mandir))
        want = sorted(["edix-admin.1.gz", "edix-partner.1.gz", "edix-hub.8.gz",
                       "edix-intake.8.gz", "edix-validator.8.gz", "edix-router.8.gz",
                       "edix-fetch-ubl-schemas.8.gz", "edix.conf.5.gz"])
        self.assertEqual(pages, want)
        for page in pages:
            with gzip.open(os.path.join(mandir, page), "rt") as f:
                roff = f.read()
            name = page.rsplit(".", 2)[0]
            self.assertIn('.TH "%s"' % name.upper(), roff)
            self.assertIn(".SH NAME\n%s \\- " % name.replace("-", "\\-"), roff)
            if name in EXECUTABLES:
                # every command word of --help is in the page
                help_text = subprocess.run([edixtest.exe(name), "--help"], capture_output=True,
                                           text=True).stdout
                for word in re.findall(r"--[a-z-]+", help_text):
                    self.assertIn(word.replace("-", "\\-"), roff, "%s: %s" % (page, word))
            if shutil.which("man"):
                r = subprocess.run(["man", "--warnings", "-l", os.path.join(mandir, page)],
                                   capture_output=True, text=True,
                                   env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING=""))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr.strip(), "", "%s: %s" % (page, r.stderr))

    def test_config_sample_agrees_with_the_code(self):
        out = subprocess.run([edixtest.exe("edix-admin"), "config", "sample"],
                             capture_output=True, text=True, check=True).stdout
        # the checked-in sample is the same text with a Debian package's paths
        datadir = re.search(r"^catalogue = (.*)/doctypes.conf$", out, re.M).group(1)
        checked_in = read(os.path.join(edixtest.SOURCE, "deploy", "edix.conf.sample"))
        self.assertEqual(out.replace(datadir, "/usr/share/edix"), checked_in,
                         "deploy/edix.conf.sample differs from 'edix-admin config sample': "
                         "regenerate it (see deploy/package.cmake)")
        built = os.path.join(edixtest.BIN, "deploy", "edix.conf.sample")
        if os.path.exists(built):
            self.assertEqual(read(built), out)
        # every key the code accepts is documented, and nothing else
        code = read(os.path.join(edixtest.SOURCE, "common", "config.c"))
        array = re.search(r"s_config_keys\[\] = \{(.*?)\};", code, re.S).group(1)
        accepted = set(re.findall(r'"([a-z_]+)"', array))
        documented = set(re.findall(r"^#? ?([a-z_]+) = ", out, re.M))
        self.assertEqual(documented, accepted)
        # init writes the same text, and every documented key, uncommented, loads
        self.home.init()
        conf = os.path.join(self.home.dir, "edix.conf")
        mine = read(conf)
        strip = re.compile(r"^(schema_dir|catalogue|intake_endpoint|delivery_endpoint) = .*$",
                           re.M)
        self.assertEqual(strip.sub(r"\1", mine), strip.sub(r"\1", out))
        with open(conf, "w") as f:
            f.write(re.sub(r"^# ([a-z_]+ = )", r"\1", mine, flags=re.M).replace("HOME",
                                                                              self.home.dir))
        self.home.admin("partner", "list")
        with open(conf, "w") as f:
            f.write(mine.replace("retention_days = 0", "retention_days = -1"))
        r = self.home.admin("partner", "list", expect=1)
        self.assertIn("retention_days = -1: expected a whole number from 0 to 36500", r.stderr)

    def test_fetch_ubl_schemas_checks_the_sha256(self):
        script = os.path.join(edixtest.SOURCE, "deploy", "fetch-ubl-schemas")
        target = os.path.join(self.tmp, "share", "ubl-2.1")
        os.makedirs(os.path.dirname(target))
        fake = os.path.join(self.tmp, "UBL-2.1.zip")
        with zipfile.ZipFile(fake, "w") as z:
            for root, _, files in os.walk(edixtest.SCHEMAS):
                for f in files:
                    path = os.path.join(root, f)
                    z.write(path, os.path.join("xsdrt", os.path.relpath(path, edixtest.SCHEMAS)))
        r = subprocess.run(["sh", script, "--from-file", fake, target], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("is not the recorded", r.stderr)
        self.assertIn("refusing it", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertEqual(os.listdir(os.path.dirname(target)), [])  # nothing left behind
        r = subprocess.run(["sh", script, "--from-file", os.path.join(self.tmp, "none.zip"),
                            target], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(os.listdir(os.path.dirname(target)), [])

        # the same script with the fake's hash recorded installs it, atomically
        if not shutil.which("unzip"):
            self.skipTest("unzip is not installed")
        digest = hashlib.sha256(read(fake, "rb")).hexdigest()
        patched = os.path.join(self.tmp, "fetch-patched")
        with open(patched, "w") as f:
            f.write(re.sub(r'^UBL_SHA256=".*"$', 'UBL_SHA256="%s"' % digest, read(script),
                           flags=re.M))
        for _ in range(2):  # a second run replaces the first copy
            r = subprocess.run(["sh", patched, "--from-file", fake, target],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(os.listdir(os.path.dirname(target)), ["ubl-2.1"])
        self.assertEqual(sorted(os.listdir(os.path.join(target, "xsdrt"))),
                         ["common", "maindoc"])
        home = edixtest.Home(os.path.join(self.tmp, "h"))
        os.makedirs(home.tmp)
        r = home.admin("init", "--schemas", os.path.join(target, "xsdrt"))
        self.assertIn(os.path.join(target, "xsdrt"), r.stdout)


if __name__ == "__main__":
    edixtest.main()

"""Documents flow: intake -> validator -> router over ZeroMQ, with the real
edix-hub and edix-partner executables, on loopback."""
import csv
import os
import subprocess
import xml.etree.ElementTree as ET

import edixtest
from edixtest import EdixTest, corpus, read, wait_for

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
ROLES = {
    "Order": ("BuyerCustomerParty", "SellerSupplierParty"),
    "OrderChange": ("BuyerCustomerParty", "SellerSupplierParty"),
    "OrderCancellation": ("BuyerCustomerParty", "SellerSupplierParty"),
    "OrderResponse": ("SellerSupplierParty", "BuyerCustomerParty"),
    "DespatchAdvice": ("DespatchSupplierParty", "DeliveryCustomerParty"),
    "Invoice": ("AccountingSupplierParty", "AccountingCustomerParty"),
    "CreditNote": ("AccountingSupplierParty", "AccountingCustomerParty"),
}

ORDER = "oasis-ubl-2.1/xml/UBL-Order-2.1-Example.xml"
INVOICE = "oasis-ubl-2.1/xml/UBL-Invoice-2.1-Example.xml"
BUYER_IDS = ["GLN:7300072311115", "GLN:1234567987654"]
SELLER_IDS = ["GLN:7302347231111", "GLN:1234567890123"]


def party_ids(path, role):
    """The identifiers of a role's party, as the hub reads them: EndpointID
    first, then each PartyIdentification/ID; "scheme:value"."""
    root = ET.parse(path).getroot()
    out = []
    for rp in root.findall("{%s}%s" % (CAC, role)):
        for party in rp.findall("{%s}Party" % CAC):
            ep = party.find("{%s}EndpointID" % CBC)
            if ep is not None and (ep.text or "").strip():
                out.append("%s:%s" % (ep.get("schemeID", ""), ep.text.strip()))
            for pi in party.findall("{%s}PartyIdentification" % CAC):
                i = pi.find("{%s}ID" % CBC)
                if i is not None and (i.text or "").strip():
                    out.append("%s:%s" % (i.get("schemeID", ""), i.text.strip()))
    seen = []
    for i in out:
        if i not in seen:
            seen.append(i)
    return seen


def corpus_documents():
    """(path, doctype, xsd_valid, sender_ids, receiver_ids) of every UBL
    document of the routed types that the MANIFEST calls valid and that
    names both parties with distinct identifiers."""
    docs = []
    with open(corpus("MANIFEST.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["syntax"] != "UBL" or row["doctype"] not in ROLES:
                continue
            if not row["expected"].startswith("valid"):
                continue
            path = corpus(row["path"])
            s_role, r_role = ROLES[row["doctype"]]
            s, r = party_ids(path, s_role), party_ids(path, r_role)
            if not s or not r or set(s) & set(r):
                continue
            docs.append((path, row["doctype"], row["xsd_ubl21"] == "valid", s, r))
    return docs


class FlowTest(EdixTest):

    def setUp(self):
        super().setUp()
        self.home.init()

    def start_hub(self):
        p = self.home.start("edix-hub", "--foreground")
        # ready when the partner-facing endpoints answer: a PING-less check
        # is the admin seeing the services' start records in their log
        wait_for(lambda: self.log_has(p, "svc=router event=listening") and
                 self.log_has(p, "svc=intake event=listening") and
                 self.log_has(p, "svc=validator event=ready"), what="the hub to start")
        return p

    @staticmethod
    def log_has(p, text):
        return text in read(p.logfile)

    def send(self, partner, *docs, wait=False, expect=0, extra=()):
        args = ["send"] + list(docs) + list(extra)
        if wait:
            args.append("--wait")
        args += ["--timeout", "60"]
        r = self.home.partner(partner, *args, timeout=120, expect=expect)
        return r

    def receive(self, partner, into):
        os.makedirs(into, exist_ok=True)
        return self.home.partner(partner, "receive", "--into", into, "--timeout", "60",
                                 timeout=120, expect=0)

    def ids_of(self, out):
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    def onboard_demo(self, buyer_send="Order", seller_send="Invoice,OrderResponse"):
        self.home.add_partner("buyer", BUYER_IDS, send=buyer_send, receive="all")
        self.home.add_partner("seller", SELLER_IDS, send=seller_send, receive="all")

    def test_order_and_invoice_byte_identical(self):
        self.onboard_demo()
        self.start_hub()
        r = self.send("buyer", corpus(ORDER))
        order_id = self.ids_of(r.stdout)[0]
        self.assertIn("%s accepted" % order_id, r.stdout)
        seller_dir = os.path.join(self.tmp, "seller")
        self.receive("seller", seller_dir)
        self.assertEqual(read(os.path.join(seller_dir, order_id + ".xml"), "rb"),
                         read(corpus(ORDER), "rb"))
        # the receiver's ack is recorded a few milliseconds later
        wait_for(lambda: "%s delivered" % order_id in self.home.partner(
            "buyer", "status", order_id, expect=0).stdout, what="the order recorded delivered")

        r = self.send("seller", corpus(INVOICE))
        inv_id = self.ids_of(r.stdout)[0]
        buyer_dir = os.path.join(self.tmp, "buyer")
        self.receive("buyer", buyer_dir)
        self.assertEqual(read(os.path.join(buyer_dir, inv_id + ".xml"), "rb"),
                         read(corpus(INVOICE), "rb"))
        # the buyer also got the signed "delivered" notice for its order
        notices = [f for f in os.listdir(buyer_dir) if f != inv_id + ".xml"]
        self.assertEqual(len(notices), 1, notices)
        text = read(os.path.join(buyer_dir, notices[0]))
        self.assertIn("<ApplicationResponse", text)
        self.assertIn("<cbc:ResponseCode>AP</cbc:ResponseCode>", text)
        self.assertIn(order_id, text)
        # the notice is a valid UBL ApplicationResponse
        v = self.home.admin("validate", os.path.join(buyer_dir, notices[0]), "--json")
        self.assertTrue(__import__("json").loads(v.stdout)["valid"], v.stdout)

        states = {m["id"]: m["state"] for m in self.home.admin_json("message", "list")}
        self.assertEqual(states[order_id], "delivered")
        wait_for(lambda: {m["id"]: m["state"] for m in
                          self.home.admin_json("message", "list")}[inv_id] == "delivered",
                 what="the invoice to be recorded delivered")
        self.home.admin("audit", "verify")
        trail = self.home.admin_json("message", "show", order_id)["trail"]
        self.assertEqual([t["event"] for t in trail],
                         ["message.accepted", "message.validated", "message.routed",
                          "message.delivered"])
        found = self.home.admin_json("message", "find", "34")
        self.assertEqual([m["id"] for m in found], [order_id])
        found = self.home.admin_json("message", "find", "TOSL108")
        self.assertEqual([m["id"] for m in found], [inv_id])

    def test_corpus_documents_delivered_or_rejected(self):
        docs = corpus_documents()
        self.assertGreater(len(docs), 40)
        # partners from the documents' own identifiers: ids that stand
        # together on one party belong to one partner
        parent = {}

        def find(x):
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for _, _, _, s, r in docs:
            for group in (s, r):
                for i in group:
                    parent[find(i)] = find(group[0])
        members = {}
        for i in list(parent):
            members.setdefault(find(i), []).append(i)
        partner_of = {}
        for n, (root, ids) in enumerate(sorted(members.items())):
            pid = "p%02d" % n
            self.home.add_partner(pid, sorted(ids))
            for i in ids:
                partner_of[i] = pid
        self.start_hub()

        by_sender = {}
        for d in docs:
            by_sender.setdefault(partner_of[d[3][0]], []).append(d)
        sent = []  # (hub id, doc)
        for sender, group in sorted(by_sender.items()):
            valid = [d for d in group if d[2]]
            for d in [d for d in group if not d[2]]:
                r = self.send(sender, d[0], wait=True, expect=2)
                self.assertIn("rejected", r.stdout)
                self.assertIn("XSD", r.stdout, "%s: %s" % (d[0], r.stdout))
            if valid:
                r = self.send(sender, *[d[0] for d in valid])
                ids = self.ids_of(r.stdout)
                self.assertEqual(len(ids), len(valid), r.stdout + r.stderr)
                sent += list(zip(ids, valid))
        receivers = sorted({partner_of[d[4][0]] for _, d in sent})
        got = {}
        for pid in receivers:
            into = os.path.join(self.tmp, "rx", pid)
            self.receive(pid, into)
            got[pid] = set(os.listdir(into))
        # a receive that ended before everything was validated: collect the rest
        missing = [(h, d) for h, d in sent if h + ".xml" not in got[partner_of[d[4][0]]]]
        for pid in sorted({partner_of[d[4][0]] for _, d in missing}):
            into = os.path.join(self.tmp, "rx", pid)
            self.receive(pid, into)
            got[pid] = set(os.listdir(into))
        for hub_id, d in sent:
            pid = partner_of[d[4][0]]
            path = os.path.join(self.tmp, "rx", pid, hub_id + ".xml")
            self.assertTrue(os.path.exists(path), "%s (%s) not delivered to %s" % (
                d[0], hub_id, pid))
            self.assertEqual(read(path, "rb"), read(d[0], "rb"), d[0])
        self.home.admin("audit", "verify")

    def test_refusals(self):
        self.onboard_demo(buyer_send="Order", seller_send="Invoice")
        self.home.add_partner("other", ["0088:5790000435975"], send="all", receive="all")
        self.start_hub()
        seller_dir = os.path.join(self.tmp, "seller")

        # an unknown CURVE key: a partner of another hub, pointed at this one
        other = edixtest.Home(os.path.join(self.tmp, "elsewhere"))
        os.makedirs(other.tmp, exist_ok=True)
        other.init()
        other.add_partner("stranger", ["0088:1"])
        ours = dict(l.split(" = ", 1) for l in read(self.home.bundle("buyer")).splitlines()
                    if " = " in l)
        text = read(other.bundle("stranger"))
        lines = []
        for line in text.splitlines():
            key = line.split(" = ", 1)[0]
            if key in ("hub_curve_public", "intake_endpoint", "delivery_endpoint",
                       "hub_sign_public"):
                line = "%s = %s" % (key, ours[key])
            lines.append(line)
        stranger = os.path.join(self.tmp, "stranger.bundle")
        with open(stranger, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(stranger, 0o600)
        r = subprocess.run([edixtest.exe("edix-partner"), "--bundle", stranger, "send",
                            corpus(ORDER), "--timeout", "20"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("refused", r.stderr)

        # a document whose sender party belongs to another partner (spoof)
        r = self.send("other", corpus(ORDER), wait=True, expect=2)
        self.assertIn("EDIX-SENDER", r.stdout)
        # an unregistered receiver
        r = self.send("seller", corpus("oasis-ubl-2.1/xml/UBL-CreditNote-2.1-Example.xml"),
                      wait=True, expect=2)
        self.assertIn("EDIX-PERMISSION", r.stdout)  # seller may not send CreditNote
        r = self.send("buyer", corpus(INVOICE), wait=True, expect=2)
        self.assertIn("EDIX-PERMISSION", r.stdout)  # buyer may not send Invoice
        self.assertIn("EDIX-SENDER", r.stdout)      # and is not the invoice's supplier
        inv = read(corpus(INVOICE)).replace("1234567987654", "9999999999999")
        spoof = os.path.join(self.tmp, "unrouted.xml")
        with open(spoof, "w") as f:
            f.write(inv)
        r = self.send("seller", spoof, wait=True, expect=2)
        self.assertIn("EDIX-RECEIVER", r.stdout)

        # a suspended partner is refused at once
        self.home.admin("partner", "suspend", "buyer")
        r = self.home.partner("buyer", "send", corpus(ORDER), "--timeout", "20", expect=1)
        self.assertIn("refused", r.stderr)
        self.home.admin("partner", "resume", "buyer")

        # nothing was delivered to the seller: only notices to the senders
        os.makedirs(seller_dir)
        self.receive("seller", seller_dir)
        for f in os.listdir(seller_dir):
            self.assertIn("<ApplicationResponse", read(os.path.join(seller_dir, f)))
        rejected = [m for m in self.home.admin_json("message", "list")
                    if m["state"] == "rejected"]
        self.assertEqual(len(rejected), 4)
        events = [e["event"] for e in self.home.admin_json("audit", "list")]
        self.assertEqual(events.count("message.rejected"), 4)
        self.assertGreaterEqual(events.count("connection.refused"), 2)
        self.home.admin("audit", "verify")

    def test_same_client_id_twice_one_document(self):
        self.onboard_demo()
        self.start_hub()
        rdir = os.path.join(self.tmp, "receipts")
        a = self.send("buyer", corpus(ORDER), extra=("--client-id", "PO-1", "--receipts", rdir))
        first = read(os.path.join(rdir, self.ids_of(a.stdout)[0] + ".receipt"))
        b = self.send("buyer", corpus(ORDER), extra=("--client-id", "PO-1", "--receipts", rdir))
        self.assertEqual(self.ids_of(a.stdout), self.ids_of(b.stdout))
        self.assertEqual(read(os.path.join(rdir, self.ids_of(b.stdout)[0] + ".receipt")), first)
        self.assertEqual(self.home.query("SELECT count(*) FROM messages")[0][0], 1)
        # the same id for different bytes is refused
        r = self.send("buyer", corpus("oasis-ubl-2.1/xml/UBL-Order-2.0-Example.xml"),
                      extra=("--client-id", "PO-1"), expect=2)
        self.assertIn("different document", r.stdout + r.stderr)

    def test_receipt_verifies_and_a_changed_byte_fails(self):
        self.onboard_demo()
        self.start_hub()
        rdir = os.path.join(self.tmp, "receipts")
        r = self.send("buyer", corpus(ORDER), extra=("--receipts", rdir))
        receipt = os.path.join(rdir, self.ids_of(r.stdout)[0] + ".receipt")
        self.home.partner("buyer", "verify", receipt, corpus(ORDER), expect=0)
        changed = bytearray(read(corpus(ORDER), "rb"))
        changed[100] ^= 1
        path = os.path.join(self.tmp, "changed.xml")
        with open(path, "wb") as f:
            f.write(changed)
        r = self.home.partner("buyer", "verify", receipt, path, expect=1)
        tampered = os.path.join(self.tmp, "tampered.receipt")
        with open(tampered, "w") as f:
            f.write(read(receipt).replace("sender: buyer", "sender: buyes"))
        self.home.partner("buyer", "verify", tampered, corpus(ORDER), expect=1)

    def test_offline_receiver_and_hub_restart(self):
        self.onboard_demo()
        hub = self.start_hub()
        orders = [corpus(ORDER), corpus("oasis-ubl-2.1/xml/UBL-Order-2.0-Example.xml")]
        # the 2.0 example names no parties: only the 2.1 one routes; add
        # copies of the 2.1 one with other client ids instead
        ids = []
        for n in range(5):
            r = self.send("buyer", orders[0], extra=("--client-id", "PO-%d" % n))
            ids += self.ids_of(r.stdout)
        wait_for(lambda: all(s == "routed" for (s,) in self.home.query(
            "SELECT state FROM messages WHERE kind = 'document'")), what="routing")
        # restart the whole hub while the receiver is away
        self.home.stop_all()
        self.assertEqual(hub.returncode, 0)
        self.start_hub()
        into = os.path.join(self.tmp, "seller")
        self.receive("seller", into)
        self.assertEqual(sorted(f[:-4] for f in os.listdir(into)), sorted(ids))
        wait_for(lambda: self.home.query(
            "SELECT count(*) FROM messages WHERE kind = 'document' AND state = 'delivered'"
        )[0][0] == 5, what="5 deliveries recorded")
        self.assertEqual(self.home.query(
            "SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.msg_id"
            " WHERE m.kind = 'document' AND d.state = 'delivered'")[0][0], 5)


if __name__ == "__main__":
    edixtest.main()

"""Partner isolation: a partner receives and queries only its own
documents.  Asking the state of another partner's message is answered
exactly as asking for one that does not exist, and acknowledging another
partner's delivery changes nothing."""
import os

import edixtest
import edixfault
from edixfault import Hub, RawClient
from edixtest import EdixTest, wait_for

zmq = edixfault.require_zmq()

A, B, C = "7300072310001", "7302347230001", "7300072310003"


class IsolationTest(EdixTest):

    def setUp(self):
        super().setUp()
        self.home.init()
        self.home.add_partner("a", ["GLN:" + A], send="Order", receive="all")
        self.home.add_partner("b", ["GLN:" + B], send="Order", receive="all")
        self.home.add_partner("c", ["GLN:" + C], send="Order", receive="all")
        self.hub = Hub(self.home).wait_ready()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        super().tearDown()

    def raw(self, partner, endpoint="intake_endpoint"):
        b = edixfault.read_bundle(self.home.bundle(partner))
        c = RawClient(zmq, b[endpoint], b)
        self.clients.append(c)
        return c

    def send(self, partner, body, name):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(body)
        r = self.home.partner(partner, "send", path, "--timeout", "30", expect=0)
        return r.stdout.split()[0]

    def state(self, hub_id):
        rows = self.home.query("SELECT state FROM messages WHERE id = ?", (hub_id,))
        return rows[0][0] if rows else None

    def receive(self, partner):
        into = os.path.join(self.tmp, "in-" + partner)
        self.home.partner(partner, "receive", "--into", into, "--timeout", "30", expect=0,
                          timeout=120)
        return {f[:-4]: edixtest.read(os.path.join(into, f), "rb")
                for f in os.listdir(into) if f.endswith(".xml")}

    def test_partners_see_only_their_own(self):
        ab = edixfault.order(A, B, "ISO-AB")
        ac = edixfault.order(A, C, "ISO-AC")
        cb = edixfault.order(C, B, "ISO-CB")
        x = self.send("a", ab, "ab.xml")
        y = self.send("a", ac, "ac.xml")
        z = self.send("c", cb, "cb.xml")
        wait_for(lambda: all(self.state(i) == "routed" for i in (x, y, z)),
                 what="the three orders to be routed")
        missing = "01a2000000000000000000ff"
        self.assertIsNone(self.state(missing))

        # STATUS of another partner's message = STATUS of no message at all
        c = self.raw("c")
        for ref in (x, missing):
            got = c.request([b"STATUS", ref.encode()])
            self.assertEqual(got, [b"ERROR", ref.encode(), b"404", b"no such message"], ref)
        self.assertEqual(c.request([b"STATUS", z.encode()])[:3],
                         [b"STATE", z.encode(), b"routed"])
        # the CLI says the same for both, word for word
        r1 = self.home.partner("c", "status", x, expect=1)
        r2 = self.home.partner("c", "status", missing, expect=1)
        self.assertEqual((r1.stdout, r1.stderr.replace(x, "ID")),
                         (r2.stdout, r2.stderr.replace(missing, "ID")))
        self.assertIn("no such message", r1.stderr)
        # the sender and the receiver may ask; the third partner may not
        self.assertIn("%s routed" % x, self.home.partner("a", "status", x, expect=0).stdout)
        self.assertIn("%s routed" % x, self.home.partner("b", "status", x, expect=0).stdout)
        self.home.partner("b", "status", y, expect=1)

        # c acknowledges b's delivery: nothing is recorded for it
        d = self.raw("c", "delivery_endpoint")
        d.send([b"ACK", x.encode()])
        self.assertEqual(d.request([b"PING"]), [b"PONG"])
        self.assertEqual(self.home.query(
            "SELECT receiver, state FROM deliveries WHERE msg_id = ?", (x,)), [("b", "pending")])

        # each receives only what is addressed to it
        self.assertEqual(self.receive("b"), {x: ab, z: cb})
        wait_for(lambda: self.state(x) == "delivered" and self.state(z) == "delivered",
                 what="b's two orders to be recorded delivered")
        got_c = self.receive("c")
        self.assertEqual(got_c[y], ac)
        notices = [k for k in got_c if k != y]
        self.assertEqual(len(notices), 1)
        self.assertIn(z.encode(), got_c[notices[0]])
        self.assertNotIn(x.encode(), got_c[notices[0]])
        wait_for(lambda: self.state(y) == "delivered", what="the a->c order to be delivered")
        got_a = self.receive("a")
        # a receives only the notices about its own two orders
        self.assertEqual(len(got_a), 2)
        for body in got_a.values():
            self.assertIn(b"<ApplicationResponse", body)
            self.assertNotIn(z.encode(), body)
        refs = sorted(i for i in (x, y) for body in got_a.values() if i.encode() in body)
        self.assertEqual(refs, sorted((x, y)))

        # the trail: one delivery each, by its own receiver
        for hub_id, receiver in ((x, "b"), (y, "c"), (z, "b")):
            trail = self.home.admin_json("message", "show", hub_id)["trail"]
            delivered = [t for t in trail if t["event"] == "message.delivered"]
            self.assertEqual(len(delivered), 1, trail)
            self.assertIn("receiver=%s" % receiver, delivered[0]["details"])
        self.home.admin("audit", "verify")


if __name__ == "__main__":
    edixtest.main()

"""Hostile input: every attack of the suite is refused with a clear reason
in bounded time and memory, the services stay up (same pids), another
partner's documents in flight are delivered untouched, and the hub opens
no file outside its home and attempts no connection while it handles them
(strace -f on edix-hub and its services, and a canary TCP listener that
every external reference in the documents points at).

The hub runs with max_document_size = 1 MiB, which the partner bundles
state, so the partner CLI refuses a larger document locally; the raw
frames test the hub's own cap (ERROR 413 just over it; ZeroMQ drops the
connection far over it)."""
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import edixtest
import edixfault
from edixfault import Hub, RawClient
from edixtest import EdixTest, corpus, read, wait_for

zmq = edixfault.require_zmq()

CAP = 1 << 20
GOOD_BUYER, SELLER, ATTACKER = "7300072310001", "7302347230001", "7300072319999"
NOTE = "<cbc:Note>Information text for the whole order</cbc:Note>"
DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
UBL_ORDER = "urn:oasis:names:specification:ubl:schema:xsd:Order-2"
# glibc's malloc reads this once per process, the first time a thread's
# arena shrinks (after a large message, say): a fixed path inside libc,
# never one a document or a frame can name
LIBC_INTERNAL = {"/proc/sys/vm/overcommit_memory"}
CASE_SECONDS = 20  # the longest any one refusal may take (ASan builds included)


def asan(pid):
    """True when the process runs under AddressSanitizer (its allocator
    keeps freed memory in quarantine, so peaks are higher)."""
    return "libasan" in read("/proc/%d/maps" % pid)


class Canary:
    """A loopback TCP listener every external reference points at: any
    connection to it is an attempt the hub must never make."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.hits += 1
                conn.close()
            except socket.timeout:
                pass
            except OSError:
                return

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


class HostileTest(EdixTest):

    def setUp(self):
        super().setUp()
        self.clients = []
        self.home.init()
        conf = os.path.join(self.home.dir, "edix.conf")
        text = read(conf)
        self.assertIn("max_document_size = 10485760", text)
        with open(conf, "w") as f:
            f.write(text.replace("max_document_size = 10485760", "max_document_size = %d" % CAP))
        self.home.add_partner("good", ["GLN:" + GOOD_BUYER], send="Order", receive="all")
        self.home.add_partner("seller", ["GLN:" + SELLER], send="Invoice", receive="all")
        self.home.add_partner("mallory", ["GLN:" + ATTACKER], send="Order", receive="all")
        self.template = read(corpus(edixfault.ORDER))
        self.assertTrue(self.template.startswith(DECL))

    def tearDown(self):
        for c in self.clients:
            c.close()
        super().tearDown()

    def client(self, partner="mallory", endpoint="intake_endpoint", keys=None, secure=True):
        b = edixfault.read_bundle(self.home.bundle(partner))
        c = RawClient(zmq, b[endpoint], b if secure else None, keys=keys)
        self.clients.append(c)
        return c

    # ---- documents ----------------------------------------------------

    def order(self, n, buyer=ATTACKER):
        return edixfault.order(buyer, SELLER, "HOSTILE-%d" % n).decode()

    def with_doctype(self, subset, note=None):
        doc = self.order(0)
        if note:
            doc = doc.replace(NOTE, "<cbc:Note>%s</cbc:Note>" % note, 1)
        return DECL + subset + "\n" + doc[len(DECL):]

    def documents(self, canary):
        """(name, bytes, rule the refusal must name)"""
        url = "http://127.0.0.1:%d" % canary
        laughs = '<!ENTITY a0 "lol">' + "".join(
            '<!ENTITY a%d "%s">' % (i, ("&a%d;" % (i - 1)) * 10) for i in range(1, 10))
        quadratic = '<!ENTITY q "%s">' % ("a" * 100000)
        xinclude = ('<cbc:Note>x</cbc:Note><xi:include xmlns:xi="http://www.w3.org/2001/XInclude"'
                    ' href="file:///etc/passwd" parse="text"/><xi:include xmlns:xi='
                    '"http://www.w3.org/2001/XInclude" href="%s/xi"/>' % url)
        evil_ns = ('<Order xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                   'xsi:schemaLocation="%s %s/evil.xsd" xmlns=' % (UBL_ORDER, url))
        rng = random.Random(4)
        base = self.order(0)
        cases = [
            ("xxe-file-entity", self.with_doctype(
                '<!DOCTYPE Order [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"),
             "EDIX-XML-DOCTYPE"),
            ("xxe-http-entity", self.with_doctype(
                '<!DOCTYPE Order [<!ENTITY xxe SYSTEM "%s/xxe">]>' % url, "&xxe;"),
             "EDIX-XML-DOCTYPE"),
            ("xxe-parameter-entity", self.with_doctype(
                '<!DOCTYPE Order [<!ENTITY %% p SYSTEM "%s/p.dtd"> %%p;]>' % url),
             "EDIX-XML-DOCTYPE"),
            ("billion-laughs", self.with_doctype("<!DOCTYPE Order [%s]>" % laughs, "&a9;"),
             "EDIX-XML-DOCTYPE"),
            ("quadratic-blowup", self.with_doctype("<!DOCTYPE Order [%s]>" % quadratic,
                                                   "&q;" * 8000), "EDIX-XML-DOCTYPE"),
            ("doctype-internal", self.with_doctype("<!DOCTYPE Order>"), "EDIX-XML-DOCTYPE"),
            ("doctype-external", self.with_doctype(
                '<!DOCTYPE Order SYSTEM "%s/order.dtd">' % url), "EDIX-XML-DOCTYPE"),
            ("xinclude", base.replace(NOTE, xinclude, 1), "XSD"),
            ("deep-nesting", DECL + '<Order xmlns="%s">' % UBL_ORDER + "<a>" * 10000 +
             "</a>" * 10000 + "</Order>", "EDIX-XML-PARSE"),
            ("truncated", base[:len(base) // 2], "EDIX-XML-PARSE"),
            ("binary", rng.randbytes(8192), "EDIX-XML-PARSE"),
            ("invalid-utf8", base.replace("Information text", "Info \udcff\udcfe text", 1)
             .encode("utf-8", "surrogateescape"), "EDIX-XML-PARSE"),
            ("wrong-namespace", base.replace('xmlns="%s"' % UBL_ORDER,
                                             'xmlns="urn:example:not-ubl:Order-2"', 1),
             "EDIX-DOCTYPE"),
            ("remote-schemaLocation", base.replace("<Order xmlns=", evil_ns, 1).replace(
                NOTE, '<cbc:Note>x</cbc:Note><Extra xmlns="urn:evil">1</Extra>', 1), "XSD"),
            ("spoofed-sender", self.order(1, buyer=GOOD_BUYER), "EDIX-SENDER"),
        ]
        out = []
        for name, doc, rule in cases:
            body = doc if isinstance(doc, bytes) else doc.encode()
            self.assertLess(len(body), CAP, name)
            out.append((name, body, rule))
        return out

    # ---- the good partner's traffic ----------------------------------

    def good_traffic(self, stop, sent, errors):
        """Submit one good order after the other until told to stop."""
        try:
            c = self.client("good")
            n = 0
            while not stop.is_set() or n < 20:
                body = edixfault.order(GOOD_BUYER, SELLER, "GOOD-%d" % n)
                reply = c.request([b"SUBMIT", b"good-%d" % n, body], timeout=30)
                if not reply or reply[0] != b"RECEIPT":
                    errors.append("good document %d: %r" % (n, reply and reply[:4]))
                    return
                sent[reply[2].decode()] = body
                n += 1
        except Exception as e:  # reported by the test
            errors.append(repr(e))

    # ---- strace ---------------------------------------------------------

    def outside_home(self, trace, since, until):
        """Files opened outside the home and connections attempted by the
        hub between since and until (wall-clock seconds), and how many
        connections it accepted meanwhile."""
        home = os.path.realpath(self.home.dir)
        bad, accepted = [], 0
        line_re = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(\w+)\((.*)$")
        for line in read(trace).splitlines():
            m = line_re.match(line)
            if not m or not since <= float(m.group(2)) <= until:
                continue
            call, args = m.group(3), m.group(4)
            if call in ("open", "openat", "openat2", "creat"):
                path = re.search(r'"((?:[^"\\]|\\.)*)"', args)
                path = path.group(1) if path else "?"
                if not (path == home or path.startswith(home + "/") or path in LIBC_INTERNAL):
                    bad.append(line)
            elif call == "connect":
                unix = re.search(r'sun_path="([^"]*)"', args)
                if not (unix and unix.group(1).startswith(home + "/")):
                    bad.append(line)
            elif call == "socket":
                if "AF_UNIX" not in args:
                    bad.append(line)
            elif call.startswith("exec"):
                bad.append(line)
            elif call.startswith("accept"):
                accepted += 1
        return bad, accepted

    # ---- the test -------------------------------------------------------

    def expect_error(self, reply, code, why):
        self.assertIsNotNone(reply, "no answer (want %d %s)" % (code, why))
        self.assertEqual(reply[0], b"ERROR", reply[:4])
        self.assertEqual(reply[2], str(code).encode(), reply)
        self.assertRegex(reply[3].decode(errors="replace"), why)

    def alive(self):
        """The hub answers a fresh, good connection at both endpoints."""
        for ep in ("intake_endpoint", "delivery_endpoint"):
            c = self.client("good", ep)
            self.assertEqual(c.request([b"PING"], timeout=10), [b"PONG"], ep)

    def test_hostile_inputs_refused(self):
        trace = os.path.join(self.tmp, "strace.log")
        strace = shutil.which("strace")
        if not strace:
            self.fail("strace is not installed (scripts/deps.sh installs it)")
        wrapper = [strace, "-f", "-qq", "-ttt", "-s", "4096", "-o", trace, "--seccomp-bpf",
                   "-e", "trace=open,openat,openat2,creat,connect,socket,execve,execveat,"
                   "accept,accept4"]
        # LeakSanitizer cannot run under ptrace (it would abort at exit); the
        # other tests check the same programs for leaks
        asan_opts = os.environ.get("ASAN_OPTIONS", "")
        asan_opts = (asan_opts + ":" if asan_opts else "") + "detect_leaks=0"
        hub = Hub(self.home, wrapper=wrapper, env={"ASAN_OPTIONS": asan_opts}).wait_ready(
            timeout=120)
        canary = Canary()
        self.addCleanup(canary.close)
        seller_in = os.path.join(self.tmp, "seller-in")
        receiver = subprocess.Popen(
            [edixtest.exe("edix-partner"), "--bundle", self.home.bundle("seller"), "receive",
             "--into", seller_in, "--follow", "--timeout", "600"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.home.procs.append(receiver)
        # warm up: one good document end to end and one rejected, so every
        # service has done its one-time lazy set-up (time zone, random
        # seeding) before the measured phase begins
        warm, warmed = self.client("good"), {}
        for n, body in enumerate((edixfault.order(GOOD_BUYER, SELLER, "WARM"), b"<oops")):
            reply = warm.request([b"SUBMIT", b"warm-%d" % n, body], timeout=30)
            self.assertEqual(reply[0], b"RECEIPT", reply)
            warmed[reply[2].decode()] = body
        wait_for(lambda: self.home.query(
            "SELECT count(*) FROM messages WHERE sender = 'good' AND state IN "
            "('delivered', 'rejected')")[0][0] == 2, what="the warm-up documents")
        pids = hub.services()
        self.assertEqual(set(pids), set(edixfault.SERVICES))
        hwm = {s: edixfault.vm_hwm_kb(p) for s, p in pids.items()}
        since = time.time()

        stop, good, errors = threading.Event(), {}, []
        warm_id = list(warmed)[0]
        traffic = threading.Thread(target=self.good_traffic, args=(stop, good, errors))
        traffic.start()
        refused = []

        # documents: each answered with a receipt, then rejected with its reason
        mallory = self.client()
        for name, body, rule in self.documents(canary.port):
            t0 = time.monotonic()
            reply = mallory.request([b"SUBMIT", name.encode(), body], timeout=CASE_SECONDS)
            self.assertIsNotNone(reply, name)
            self.assertEqual(reply[0], b"RECEIPT", (name, reply[:4]))
            hub_id = reply[2]

            def verdict():
                r = mallory.request([b"STATUS", hub_id], timeout=CASE_SECONDS)
                final = (b"rejected", b"routed", b"delivered")
                return r if r and r[0] == b"STATE" and r[2] in final else None
            state = wait_for(verdict, timeout=CASE_SECONDS, what=name + " to be decided")
            took = time.monotonic() - t0
            self.assertEqual(state[2], b"rejected", name)
            self.assertIn(b'"rule":"%s"' % rule.encode(), state[3], (name, state[3][:300]))
            self.assertIn(b'"message":"', state[3])
            refused.append((name, rule, took))

        # the CLI refuses an oversized document without sending it
        big = os.path.join(self.tmp, "big.xml")
        with open(big, "wb") as f:
            f.write(edixfault.order(ATTACKER, SELLER, "BIG", pad=CAP))
        t0 = time.monotonic()
        r = self.home.partner("mallory", "send", big, "--timeout", "10", expect=2)
        self.assertRegex(r.stderr, r"rejected: .*(larger|limit|over)")
        refused.append(("oversized-cli", "local 413", time.monotonic() - t0))

        # raw frames, just over and far over the hub's cap
        t0 = time.monotonic()
        reply = mallory.request([b"SUBMIT", b"just-over", b"<" + b"x" * CAP], timeout=CASE_SECONDS)
        self.expect_error(reply, 413, "over the limit of %d" % CAP)
        refused.append(("oversized-just-over", "413", time.monotonic() - t0))
        far = self.client()
        self.assertTrue(far.wait_event(zmq.EVENT_HANDSHAKE_SUCCEEDED, CASE_SECONDS))
        t0 = time.monotonic()
        far.send([b"SUBMIT", b"far-over", b"<" + b"x" * (3 * CAP)])
        self.assertTrue(far.wait_event(zmq.EVENT_DISCONNECTED, CASE_SECONDS),
                        "ZeroMQ did not drop a connection sending %d bytes" % (3 * CAP))
        # it reconnects; nothing came back for the oversized message
        self.assertEqual(far.request([b"PING"], timeout=CASE_SECONDS), [b"PONG"])
        refused.append(("oversized-far-over", "dropped", time.monotonic() - t0))
        self.alive()

        # garbage before the CURVE handshake
        for ep in ("intake_endpoint", "delivery_endpoint"):
            b = edixfault.read_bundle(self.home.bundle("good"))
            port = int(b[ep].rsplit(":", 1)[1])
            greeting = (b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") +
                        b"\0" + b"\0" * 31)
            curve_junk = (b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" +
                          b"CURVE".ljust(20, b"\0") + b"\0" * 32 + random.Random(5).randbytes(300))
            for name, junk in (("http-request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                               ("random-bytes", random.Random(6).randbytes(1 << 20)),
                               ("null-mechanism", greeting + b"\x04\x19\x05READY"),
                               ("curve-garbage-hello", curve_junk)):
                t0 = time.monotonic()
                self.assertTrue(self.closed_after(port, junk), "%s %s: not closed" % (ep, name))
                refused.append(("pre-handshake-%s-%s" % (ep.split("_")[0], name), "closed",
                                time.monotonic() - t0))
            # a CURVE handshake with a key the registry does not know
            t0 = time.monotonic()
            pub, sec = zmq.curve_keypair()
            stranger = self.client("good", ep, keys=(pub.decode(), sec.decode()))
            stranger.send([b"PING"])
            self.assertTrue(stranger.wait_event(zmq.EVENT_HANDSHAKE_FAILED_AUTH, CASE_SECONDS))
            self.assertIsNone(stranger.recv(timeout=0))
            refused.append(("unknown-key-" + ep.split("_")[0], "ZAP 400", time.monotonic() - t0))
            # no CURVE at all
            t0 = time.monotonic()
            plain = self.client("good", ep, secure=False)
            plain.send([b"PING"])
            self.assertTrue(plain.wait_event({zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                              zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
                                              zmq.EVENT_DISCONNECTED}, CASE_SECONDS))
            self.assertIsNone(plain.recv(timeout=0))
            refused.append(("no-curve-" + ep.split("_")[0], "no answer", time.monotonic() - t0))
        self.alive()

        # garbage after the handshake, from an admitted partner
        intake_cases = [
            ([b"HELLO"], "unknown command"),
            ([b""], "unknown command"),
            ([bytes(range(256))], "unknown command"),
            ([b"SUBMIT"], "SUBMIT takes 3 frames, got 1"),
            ([b"SUBMIT", b"id", b"<x/>", b"extra"], "SUBMIT takes 3 frames, got 4"),
            ([b"SUBMIT", b"has space", b"<x/>"], "client id must be"),
            ([b"SUBMIT", b"\xff\xfe\x00", b"<x/>"], "client id must be"),
            ([b"SUBMIT", b"x" * 129, b"<x/>"], "client id must be"),
            ([b"SUBMIT", b"empty", b""], "empty document"),
            ([b"STATUS", b"a b"], "malformed message id"),
            ([b"STATUS"], "STATUS takes 2 frames"),
            ([b"RECEIPT", b"a", b"b", b"c", b"d" * 128], "the intake takes SUBMIT, STATUS, PING"),
            ([b"WORK", b"01a2"], "the intake takes SUBMIT, STATUS, PING"),
            ([b"READY", b"10"], "the intake takes SUBMIT, STATUS, PING"),
            # more frames than any command has (net.c drops the rest)
            ([b"SUBMIT"] + [b"x"] * 1100, "frames|empty message"),
        ]
        delivery_cases = [
            ([b"READY", b"0"], "READY window must be"),
            ([b"READY", b"abc"], "READY window must be"),
            ([b"READY", b"99999999999999"], "READY window must be"),
            ([b"ACK", b"bad id"], "malformed message id"),
            ([b"ACK"], "ACK takes 2 frames"),
            ([b"SUBMIT", b"x", b"y"], "the delivery endpoint takes READY, ACK, PING"),
            ([b"DELIVER", b"a", b"b", b"c", b"d", b""], "the delivery endpoint takes"),
            ([b"\x00\x01garbage"], "unknown command"),
        ]
        for ep, cases in (("intake_endpoint", intake_cases),
                          ("delivery_endpoint", delivery_cases)):
            c = self.client("mallory", ep)
            for frames, why in cases:
                t0 = time.monotonic()
                self.expect_error(c.request(frames, timeout=CASE_SECONDS), 400, why)
                refused.append(("frames-%s-%r" % (ep.split("_")[0], frames[0][:12]), "400",
                                time.monotonic() - t0))
        self.alive()

        # let the good traffic run on a little after the attacks, then collect it
        stop.set()
        traffic.join(120)
        self.assertFalse(traffic.is_alive())
        self.assertEqual(errors, [])
        wait_for(lambda: all(s == "delivered" for (s,) in self.home.query(
            "SELECT state FROM messages WHERE sender = 'good' AND kind = 'document' AND "
            "client_id LIKE 'good-%'")),
            timeout=120, what="the good partner's documents to be delivered")
        until = time.time()

        # the services are the same processes, within bounded memory
        self.assertEqual(hub.services(), pids, "a service was restarted")
        log = hub.log()
        self.assertNotIn("event=crashed", log)
        self.assertNotIn("event=exited", log)
        for s, pid in pids.items():
            grown = edixfault.vm_hwm_kb(pid) - hwm[s]
            limit = (400 if asan(pid) else 100) * 1024
            self.assertLess(grown, limit, "%s peak memory grew by %d kB" % (s, grown))

        # the seller got exactly the good partner's documents, byte for byte
        got = {f[:-4]: read(os.path.join(seller_in, f), "rb") for f in os.listdir(seller_in)
               if f.endswith(".xml")}
        self.assertGreaterEqual(len(good), 20)
        self.assertEqual(got, dict(good, **{warm_id: warmed[warm_id]}))
        receiver.send_signal(signal.SIGTERM)
        self.assertEqual(receiver.wait(30), 0)

        # stop the hub (not strace) so strace writes everything, then read it
        os.kill(hub.hub_pid(), signal.SIGTERM)
        self.assertEqual(hub.proc.wait(60), 0)
        bad, accepted = self.outside_home(trace, since, until)
        # strace was watching the services all along: it saw the attackers'
        # connections being accepted
        self.assertGreaterEqual(accepted, 10)
        self.assertEqual(bad, [], "files opened outside the home or connections attempted:\n" +
                         "\n".join(bad[:40]))
        self.assertEqual(canary.hits, 0, "the hub connected to the canary")
        self.home.admin("audit", "verify")
        slowest = max(refused, key=lambda r: r[2])
        print("\nhostile: %d cases refused (slowest %s, %.2f s); %d good documents delivered "
              "meanwhile; no file outside the home, no connection" % (
                  len(refused), slowest[0], slowest[2], len(good)), flush=True)
        for name, how, took in refused:
            self.assertLess(took, CASE_SECONDS, name)

    def closed_after(self, port, junk):
        """Send junk on a raw TCP connection; True when the hub closes it."""
        s = socket.create_connection(("127.0.0.1", port), timeout=CASE_SECONDS)
        try:
            try:
                s.sendall(junk)
            except (BrokenPipeError, ConnectionResetError):
                return True
            deadline = time.monotonic() + CASE_SECONDS
            while time.monotonic() < deadline:
                try:
                    if s.recv(65536) == b"":
                        return True
                except (ConnectionResetError, BrokenPipeError):
                    return True
                except socket.timeout:
                    return False
            return False
        finally:
            s.close()

    def test_client_ids_replayed_after_restart(self):
        hub = Hub(self.home).wait_ready()
        body = self.order(7, buyer=GOOD_BUYER)
        c = self.client("good")
        first = c.request([b"SUBMIT", b"REPLAY-1", body.encode()], timeout=30)
        self.assertEqual(first[0], b"RECEIPT")
        c.close()
        self.clients.remove(c)
        self.home.stop_all()
        self.assertEqual(hub.proc.returncode, 0)
        Hub(self.home).wait_ready()
        c = self.client("good")
        # the same id and bytes: the original receipt, byte for byte
        self.assertEqual(c.request([b"SUBMIT", b"REPLAY-1", body.encode()], timeout=30), first)
        # the same id, other bytes: refused, naming the original
        other = self.order(8, buyer=GOOD_BUYER).encode()
        reply = c.request([b"SUBMIT", b"REPLAY-1", other], timeout=30)
        self.expect_error(reply, 409, "client id was used for a different document")
        self.assertIn(first[2], reply[3])
        self.assertEqual(self.home.query(
            "SELECT count(*) FROM messages WHERE client_id = 'REPLAY-1'")[0][0], 1)
        # through the CLI too: exit 2, the reason on stderr
        path = os.path.join(self.tmp, "other.xml")
        with open(path, "wb") as f:
            f.write(other)
        r = self.home.partner("good", "send", path, "--client-id", "REPLAY-1", expect=2)
        self.assertIn("different document", r.stderr)
        self.home.admin("audit", "verify")


if __name__ == "__main__":
    edixtest.main()

"""edix-hub supervises: a service that dies is started again (with backoff)
and documents keep flowing; SIGTERM stops everything within a few seconds."""
import os
import re
import signal
import time

import edixtest
from edixtest import EdixTest, corpus, read, wait_for

ORDER = "oasis-ubl-2.1/xml/UBL-Order-2.1-Example.xml"


class HubTest(EdixTest):

    def setUp(self):
        super().setUp()
        self.home.init()
        self.home.add_partner("buyer", ["GLN:7300072311115"], send="Order")
        self.home.add_partner("seller", ["GLN:7302347231111"], receive="Order")

    def started(self, hub, service):
        """pids the hub has started for service, in order"""
        return [int(p) for p in re.findall(r"event=started service=%s pid=(\d+)" % service,
                                           read(hub.logfile))]

    def start_hub(self):
        hub = self.home.start("edix-hub", "--foreground")
        wait_for(lambda: all(s in read(hub.logfile) for s in (
            "svc=intake event=listening", "svc=router event=listening",
            "svc=validator event=ready")), what="the hub to start")
        return hub

    def test_killed_services_come_back_and_documents_flow(self):
        hub = self.start_hub()
        for service in ("validator", "intake", "router"):
            first = self.started(hub, service)[-1]
            os.kill(first, signal.SIGKILL)
            wait_for(lambda: len(self.started(hub, service)) >= 2 and
                     self.started(hub, service)[-1] != first,
                     what="edix-%s to be restarted" % service)
            self.assertIn("event=crashed service=%s signal=9" % service, read(hub.logfile))
        # the restarted services serve: an order goes through
        wait_for(lambda: read(hub.logfile).count("svc=validator event=ready") >= 2 and
                 read(hub.logfile).count("svc=intake event=listening") >= 2 and
                 read(hub.logfile).count("svc=router event=listening") >= 2,
                 what="the restarted services to be ready")
        r = self.home.partner("buyer", "send", corpus(ORDER), "--timeout", "30", expect=0)
        msgid = r.stdout.split()[0]
        into = os.path.join(self.tmp, "seller")
        self.home.partner("seller", "receive", "--into", into, "--timeout", "30", expect=0)
        self.assertTrue(os.path.exists(os.path.join(into, msgid + ".xml")))

    def test_sigterm_stops_all_within_seconds(self):
        hub = self.start_hub()
        children = [self.started(hub, s)[-1] for s in ("intake", "validator", "router")]
        t0 = time.monotonic()
        hub.send_signal(signal.SIGTERM)
        hub.wait(timeout=10)
        self.assertLess(time.monotonic() - t0, 6.0)
        self.assertEqual(hub.returncode, 0)
        for pid in children:
            self.assertFalse(os.path.exists("/proc/%d" % pid) and
                             "zombie" not in read("/proc/%d/status" % pid).lower(),
                             "pid %d still running" % pid)


if __name__ == "__main__":
    edixtest.main()

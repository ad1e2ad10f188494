"""edixfault - helpers for the fault and attack tests (crash, storage
faults, hostile input, isolation).

- require_zmq(): python3-zmq is a Debian package; when the interpreter
  CMake found (a pyenv one, say) lacks it, re-run the test under the
  system python3 that has it.
- Hub: the real edix-hub in the foreground, its services found as its
  child processes, readiness read from its log (never a sleep).
- RawClient: a raw ZeroMQ DEALER, with or without CURVE, for frames the
  partner CLI would never send.
- order(): a UBL 2.1 Order from the OASIS example with our own parties
  and order number.
"""
import os
import re
import subprocess
import sys
import time

import edixtest
from edixtest import corpus, read, wait_for

ORDER = "oasis-ubl-2.1/xml/UBL-Order-2.1-Example.xml"
SERVICES = ("intake", "validator", "router")
READY = {"intake": "svc=intake event=listening", "validator": "svc=validator event=ready",
         "router": "svc=router event=listening"}


def require_zmq():
    """Import zmq, re-executing under /usr/bin/python3 when this
    interpreter has no python3-zmq.  Returns the module."""
    try:
        import zmq  # noqa: F401
        return zmq
    except ImportError:
        system = "/usr/bin/python3"
        if os.path.realpath(sys.executable) != os.path.realpath(system) and \
                os.path.exists(system) and not os.environ.get("EDIX_REEXEC"):
            os.environ["EDIX_REEXEC"] = "1"
            os.execv(system, [system] + sys.argv)
        raise


def read_bundle(path):
    out = {}
    for line in read(path).splitlines():
        if " = " in line and not line.startswith("#"):
            k, v = line.split(" = ", 1)
            out[k.strip()] = v.strip()
    return out


_TEMPLATE = None


def order(buyer_gln, seller_gln, number, pad=0):
    """The OASIS Order example with the buyer's and the seller's
    EndpointID replaced (GLN scheme), order number `number`, and `pad`
    bytes of XML comment to make it larger.  Bytes."""
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = read(corpus(ORDER))
    t = _TEMPLATE.replace(">7300072311115<", ">%s<" % buyer_gln, 1)
    t = t.replace(">7302347231111<", ">%s<" % seller_gln, 1)
    t = t.replace("<cbc:ID>34</cbc:ID>", "<cbc:ID>%s</cbc:ID>" % number, 1)
    if pad:
        t = t.replace("<cbc:UBLVersionID>", "<!--%s-->\n  <cbc:UBLVersionID>" % ("x" * pad), 1)
    return t.encode()


class Hub:
    """edix-hub --foreground started through home.start (so stop_all stops
    it), optionally under a wrapper command (strace)."""

    def __init__(self, home, wrapper=None, env=None):
        self.home = home
        self.offset = 0
        self.text = ""
        cmd = list(wrapper or []) + [edixtest.exe("edix-hub"), "--home", home.dir, "--foreground"]
        with open(os.path.join(home.tmp, "edix-hub.%d.log" % len(home.procs)), "w") as log:
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                 env=dict(os.environ, **(env or {})))
        p.logfile = log.name
        home.procs.append(p)  # home.stop_all stops it
        self.proc = p
        self.logfile = p.logfile

    def log(self):
        """The whole log so far (read incrementally)."""
        with open(self.logfile, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        # whole lines only: a line being written is read next time
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        self.text += chunk[:end].decode(errors="replace")
        return self.text

    def count(self, text):
        return self.log().count(text)

    def wait_ready(self, timeout=60, counts=None):
        """Wait until every service logged its ready line (more often than
        counts[name] times, when given: a restarted service)."""
        counts = counts or {}

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("edix-hub exited %s:\n%s" % (self.proc.returncode,
                                                                 self.log()[-3000:]))
            log = self.log()
            return all(log.count(READY[s]) > counts.get(s, 0) for s in SERVICES)
        wait_for(ready, timeout=timeout, what="the hub's services to be ready")
        return self

    def hub_pid(self):
        """The edix-hub process (the child of a wrapper when there is one)."""
        if os.path.basename(os.readlink("/proc/%d/exe" % self.proc.pid)) == "edix-hub":
            return self.proc.pid
        kids = children(self.proc.pid)
        for pid in kids:
            if comm(pid) == "edix-hub":
                return pid
        raise AssertionError("no edix-hub under pid %d" % self.proc.pid)

    def services(self):
        """{service: pid} of the running services."""
        out = {}
        for pid in children(self.hub_pid()):
            name = comm(pid)
            if name.startswith("edix-") and name[5:] in SERVICES:
                out[name[5:]] = pid
        return out

    def alive(self):
        return self.proc.poll() is None


def comm(pid):
    try:
        return read("/proc/%d/comm" % pid).strip()
    except OSError:
        return ""


def children(pid):
    """Child pids of pid (from /proc/*/stat)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = read("/proc/%s/stat" % d)
        except OSError:
            continue
        # the comm field may hold spaces and parentheses: split after the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid) and fields[0] != "Z":
            out.append(int(d))
    return out


def vm_hwm_kb(pid):
    """Peak resident set of a process, in kB."""
    m = re.search(r"VmHWM:\s+(\d+) kB", read("/proc/%d/status" % pid))
    return int(m.group(1)) if m else 0


class RawClient:
    """A raw DEALER socket.  With a bundle: CURVE as that partner (or with
    other keys); without: no security at all."""

    def __init__(self, zmq, endpoint, bundle=None, keys=None):
        self.zmq = zmq
        self.ctx = zmq.Context()
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        if bundle is not None:
            b = read_bundle(bundle) if isinstance(bundle, str) else bundle
            public, secret = keys or (b["curve_public"], b["curve_secret"])
            s.curve_publickey = public.encode()
            s.curve_secretkey = secret.encode()
            s.curve_serverkey = b["hub_curve_public"].encode()
        self.monitor = s.get_monitor_socket()
        s.connect(endpoint)
        self.sock = s

    def send(self, frames):
        self.sock.send_multipart([f if isinstance(f, bytes) else f.encode() for f in frames],
                                 copy=True)

    def recv(self, timeout=10.0):
        """The next message, or None after timeout seconds."""
        if self.sock.poll(int(timeout * 1000)):
            return self.sock.recv_multipart()
        return None

    def request(self, frames, timeout=10.0):
        self.send(frames)
        return self.recv(timeout)

    def events(self, timeout=0.0):
        """Monitor events seen so far (waiting up to timeout for the first)."""
        from zmq.utils.monitor import recv_monitor_message
        out = []
        while self.monitor.poll(int(timeout * 1000)):
            out.append(recv_monitor_message(self.monitor)["event"])
            timeout = 0
        return out

    def wait_event(self, event, timeout=10.0):
        """True when the monitor reports event (or one of a set of events)
        within timeout seconds."""
        want = event if isinstance(event, (set, frozenset, tuple)) else {event}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if want & set(self.events(min(0.2, max(0.0, deadline - time.monotonic())))):
                return True
        return False

    def close(self):
        self.sock.disable_monitor()
        self.monitor.close(0)
        self.sock.close(0)
        self.ctx.term()

"""Foundation: init, partner onboarding and its life, the audit chain, and
clear one-line refusals of bad input that leave the store unchanged."""
import json
import os
import shutil
import stat
import subprocess
import time

import edixtest
from edixtest import EdixTest, read


def dump(home):
    con = home.db()
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


class AdminTest(EdixTest):

    def setUp(self):
        super().setUp()
        self.home.init()

    def onboard_two(self):
        self.home.add_partner("acme", ["0088:5790000435975"], send="Order", receive="Invoice",
                              name="ACME Buyer")
        self.home.add_partner("globex", ["0192:987654321", "GLN:7300072311115"],
                              send="Invoice,OrderResponse", receive="Order")

    def test_init_layout_and_modes(self):
        d = self.home.dir
        for name, mode in [("edix.db", 0o600), ("keys/hub.curve", 0o600),
                           ("keys/hub-sign.pem", 0o600)]:
            got = stat.S_IMODE(os.stat(os.path.join(d, name)).st_mode)
            self.assertEqual(got, mode, "%s: got mode %o, want %o" % (name, got, mode))
        for name in ["keys", "run"]:
            got = stat.S_IMODE(os.stat(os.path.join(d, name)).st_mode)
            self.assertEqual(got, 0o700, "%s: got mode %o, want 700" % (name, got))
        conf = read(os.path.join(d, "edix.conf"))
        self.assertIn("intake_endpoint = tcp://127.0.0.1:%d" % self.home.intake_port, conf)
        # refuses to overwrite an existing home
        r = self.home.admin("init", "--schemas", edixtest.SCHEMAS, expect=1)
        self.assertIn("edix home already", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)

    def test_two_partners_lifecycle(self):
        self.onboard_two()
        listed = self.home.admin_json("partner", "list")
        self.assertEqual([p["id"] for p in listed], ["acme", "globex"])
        self.assertEqual(listed[0]["send"], ["Order"])
        self.assertEqual(listed[1]["identifiers"], ["0192:987654321", "GLN:7300072311115"])
        self.assertTrue(all(p["state"] == "active" for p in listed))

        # bundles: 0600, the partner's own keys, nothing secret of the hub's
        hub_curve = read(os.path.join(self.home.dir, "keys", "hub.curve"))
        hub_secret = [l.split("=", 1)[1].strip() for l in hub_curve.splitlines()
                      if l.startswith("secret")][0]
        hub_pem = read(os.path.join(self.home.dir, "keys", "hub-sign.pem"))
        for pid in ["acme", "globex"]:
            path = self.home.bundle(pid)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            text = read(path)
            self.assertNotIn(hub_secret, text)
            self.assertNotIn("PRIVATE KEY", text)
            self.assertNotIn(hub_pem.splitlines()[1], text)
            self.assertIn("partner = %s" % pid, text)
            self.assertIn("hub_sign_public = ", text)

        self.home.admin("partner", "suspend", "acme")
        self.assertEqual(self.home.admin_json("partner", "show", "acme")["state"], "suspended")
        self.home.admin("partner", "resume", "acme")
        self.assertEqual(self.home.admin_json("partner", "show", "acme")["state"], "active")

        old = self.home.admin_json("partner", "show", "globex")["curve_public"]
        new_bundle = os.path.join(self.tmp, "globex-2.bundle")
        self.home.admin("partner", "rekey", "globex", "--bundle", new_bundle)
        new = self.home.admin_json("partner", "show", "globex")["curve_public"]
        self.assertNotEqual(old, new)
        self.assertIn("curve_public = %s" % new, read(new_bundle))
        # the old key no longer admits anyone
        rows = self.home.query(
            "SELECT count(*) FROM partner_keys WHERE public_key = ? AND"
            " (retire_ms IS NULL OR retire_ms > ?)", (old, int(time.time() * 1000)))
        self.assertEqual(rows[0][0], 0)

        events = [e["event"] for e in self.home.admin_json("audit", "list")]
        self.assertEqual(events, ["hub.init", "partner.add", "partner.add", "partner.suspend",
                                  "partner.resume", "partner.rekey"])
        actors = {e["actor"] for e in self.home.admin_json("audit", "list")}
        self.assertEqual(len(actors), 1)
        r = self.home.admin("audit", "verify")
        self.assertIn("intact: 6 records", r.stdout)

    def test_duplicates_refused_nothing_half_created(self):
        self.onboard_two()
        before = dump(self.home)
        r = self.home.admin("partner", "add", "acme", "--name", "Again", "--id", "0088:1",
                            "--bundle", os.path.join(self.tmp, "x.bundle"), expect=1)
        self.assertIn("exists already", r.stderr)
        r = self.home.admin("partner", "add", "initech", "--name", "Initech", "--id",
                            "0088:5790000435975", "--bundle",
                            os.path.join(self.tmp, "y.bundle"), expect=1)
        self.assertIn("belongs to partner 'acme'", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x.bundle")))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "y.bundle")))
        self.assertEqual(dump(self.home), before)

    def test_bad_input_one_line_exit_1_store_unchanged(self):
        self.onboard_two()
        before = dump(self.home)
        b = os.path.join(self.tmp, "z.bundle")
        cases = [
            (["partner", "show", "nobody"], "no partner 'nobody'"),
            (["partner", "suspend", "nobody"], "no partner 'nobody'"),
            (["partner", "rekey", "nobody", "--bundle", b], "no partner 'nobody'"),
            (["partner", "add", "p1", "--name", "P", "--id", "nocolon", "--bundle", b],
             "expected SCHEME:VALUE"),
            (["partner", "add", "p1", "--name", "P", "--id", "0088:", "--bundle", b],
             "is empty"),
            (["partner", "add", "p1", "--name", "P", "--id", "0088:1", "--send", "Letter",
              "--bundle", b], "unknown document type 'Letter'"),
            (["partner", "add", "p1", "--name", "P", "--id", "0088:1", "--receive",
              "Order,Telegram", "--bundle", b], "unknown document type 'Telegram'"),
            (["partner", "add", "p1", "--name", "P", "--id", "0088:1"], "--bundle FILE is required"),
            (["partner", "add", "bad id!", "--name", "P", "--id", "0088:1", "--bundle", b],
             "partner id"),
            (["partner", "rekey", "acme", "--bundle", b, "--overlap", "soon"], "--overlap"),
            (["partner", "frobnicate"], "unknown command"),
            (["partner", "add", "p1", "--id"], "--id needs a value"),
            (["--bogus"], "unknown option"),
        ]
        for args, want in cases:
            r = self.home.admin(*args, expect=1)
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, "%s: got %r, want one line" % (args, r.stderr))
            self.assertIn(want, lines[0], "%s: got %r, want %r" % (args, lines[0], want))
            self.assertTrue(lines[0].startswith("edix-admin: "), lines[0])
            self.assertFalse(os.path.exists(b), "%s left a bundle behind" % args)
        self.assertEqual(dump(self.home), before)

    def test_missing_and_unwritable_home(self):
        missing = os.path.join(self.tmp, "nowhere")
        r = subprocess.run([edixtest.exe("edix-admin"), "--home", missing, "partner", "list"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        self.assertIn("no edix home at", r.stderr)
        self.assertFalse(os.path.exists(missing))

        env = dict(os.environ)
        env.pop("EDIX_HOME", None)
        r = subprocess.run([edixtest.exe("edix-admin"), "partner", "list"], capture_output=True,
                           text=True, env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--home", r.stderr)

        # a home under a regular file cannot be created
        blocker = os.path.join(self.tmp, "file")
        open(blocker, "w").close()
        r = subprocess.run([edixtest.exe("edix-admin"), "--home", os.path.join(blocker, "h"),
                            "init", "--schemas", edixtest.SCHEMAS], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("cannot create directory", r.stderr)

        # an existing home this user may not write: run as nobody if we are root
        self.onboard_two()
        before = dump(self.home)
        ro = os.path.join(self.tmp, "ro")
        shutil.copytree(self.home.dir, ro)
        for root, dirs, files in os.walk(ro):
            for f in files:
                os.chmod(os.path.join(root, f), 0o444)
            os.chmod(root, 0o555)
        os.chmod(self.tmp, 0o755)
        cmd = [edixtest.exe("edix-admin"), "--home", ro, "partner", "suspend", "acme"]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        for root, dirs, files in os.walk(ro):
            os.chmod(root, 0o755)
        os.chmod(os.path.join(ro, "edix.db"), 0o600)
        self.assertEqual(dump(self.home), before)

    def test_audit_verify_detects_tampering(self):
        self.onboard_two()
        self.home.admin("partner", "suspend", "acme")
        self.home.admin("partner", "resume", "acme")
        self.home.admin("audit", "verify")
        db = os.path.join(self.home.dir, "edix.db")
        pristine = os.path.join(self.tmp, "pristine.db")
        shutil.copy(db, pristine)

        def sqlite_shell(sql):
            subprocess.run(["sqlite3", db, sql], check=True)

        def expect_broken(at):
            r = self.home.admin("audit", "verify", expect=1)
            self.assertIn("broken at record %d" % at, r.stdout + r.stderr)

        # (a) one record's details changed
        sqlite_shell("UPDATE audit SET details = details || ' x' WHERE seq = 3")
        expect_broken(3)
        shutil.copy(pristine, db)
        self.home.admin("audit", "verify")
        # (b) a record in the middle deleted
        sqlite_shell("DELETE FROM audit WHERE seq = 2")
        expect_broken(3)
        shutil.copy(pristine, db)
        # (c) a copy of a record inserted
        sqlite_shell("INSERT INTO audit (seq, at_ms, actor, event, msg_id, details, prev_hash,"
                     " hash) SELECT (SELECT max(seq) + 1 FROM audit), at_ms, actor, event,"
                     " msg_id, details, prev_hash, hash FROM audit WHERE seq = 2")
        expect_broken(6)
        # (d) the hash recomputed by someone without the chain still fails the link
        shutil.copy(pristine, db)
        sqlite_shell("UPDATE audit SET prev_hash = '00' WHERE seq = 4")
        expect_broken(4)

    def test_help(self):
        for name in ["edix-admin"]:
            r = subprocess.run([edixtest.exe(name), "--help"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0)
            self.assertIn("usage:", r.stdout)


if __name__ == "__main__":
    edixtest.main()

"""Deployment: the systemd units pass systemd-analyze verify as installed,
with the sandbox the issue asks for, and CPack makes a .deb that depends on
Debian's runtime library packages, covers every library the programs link,
unpacks into a scratch root and runs from there.

Needs systemd-analyze and dpkg-deb: skipped where they are missing, except
under CI (CI=true), where a missing tool is a failure (.ci/run installs
them)."""
import os
import re
import shutil
import subprocess

import edixtest
from edixtest import EdixTest, read

UNITS = ["edix-hub.service", "edix-intake.service", "edix-validator@.service",
         "edix-router.service", "edix.target", "edix-purge.service", "edix-purge.timer"]
SERVICES = [u for u in UNITS if u.endswith(".service")]
SANDBOX = {"User": "edix", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
           "ReadWritePaths": "/var/lib/edix", "PrivateTmp": "yes", "ProtectHome": "yes"}
# Debian's runtime packages of what edix links; dpkg-shlibdeps picks those
# the programs really need (libczmq4 only once a program uses CZMQ itself)
CORE = {"libc6", "libxml2", "libzmq5", "libssl3", "libsqlite3-0"}
RUNTIME = CORE | {"libczmq4", "libsodium23"}
SANITIZER = {"libasan8", "libubsan1"}  # in sanitizer builds only
PROGRAMS = ["edix-admin", "edix-partner", "edix-hub", "edix-intake", "edix-validator",
            "edix-router"]


def need(tool):
    if shutil.which(tool):
        return True
    if os.environ.get("CI"):
        raise AssertionError("%s is missing in CI (.ci/run installs it)" % tool)
    return False


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


def unit_settings(text):
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


class DeployTest(EdixTest):

    def install(self, root):
        r = run(["cmake", "--install", edixtest.BIN], env=dict(os.environ, DESTDIR=root))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$",
                           read(os.path.join(edixtest.BIN, "CMakeCache.txt")), re.M).group(1)
        return root + prefix

    def test_units_sandboxed_and_verified(self):
        if not need("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed")
        root = os.path.join(self.tmp, "root")
        prefix = self.install(root)
        unitdir = os.path.join(prefix, "lib", "systemd", "system")
        self.assertEqual(sorted(os.listdir(unitdir)), sorted(UNITS))
        for unit in SERVICES:
            s = unit_settings(read(os.path.join(unitdir, unit)))
            for key, want in SANDBOX.items():
                self.assertIn(want, s.get(key, []), "%s: %s" % (unit, key))
            exe = s["ExecStart"][0].split()[0]
            self.assertTrue(os.access(root + exe, os.X_OK), "%s: %s" % (unit, exe))
            self.assertIn("--home /var/lib/edix", s["ExecStart"][0])
        self.assertIn("KillMode", unit_settings(read(os.path.join(unitdir,
                                                                  "edix-hub.service"))))
        sysusers = read(os.path.join(prefix, "lib", "sysusers.d", "edix.conf"))
        self.assertRegex(sysusers, r"(?m)^u edix - .* /var/lib/edix$")
        # verify in the install root: the units as installed, their programs
        # where ExecStart says; the system's own units for the targets
        for d in ("/lib/systemd/system", "/usr/lib/systemd/system"):
            if os.path.isdir(d) and not os.path.islink(d):
                shutil.copytree(d, root + "/usr/lib/systemd/system", symlinks=True,
                                dirs_exist_ok=True)
                break
        names = [u.replace("@.", "@1.") for u in UNITS]
        r = run(["systemd-analyze", "verify", "--root=" + root, "--man=no"] + names)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        ours = [l for l in (r.stdout + r.stderr).splitlines() if "edix" in l]
        self.assertEqual(ours, [], "\n".join(ours))
        # and a broken unit is caught (the check is not vacuous)
        hub = os.path.join(unitdir, "edix-hub.service")
        with open(hub, "a") as f:
            f.write("ProtectSystem=stricter\n")
        r = run(["systemd-analyze", "verify", "--root=" + root, "--man=no", "edix-hub.service"])
        self.assertIn("edix-hub.service", r.stdout + r.stderr)

    def test_cpack_deb(self):
        if not need("dpkg-deb") or not shutil.which("cpack"):
            self.skipTest("dpkg-deb or cpack is not installed")
        out = os.path.join(self.tmp, "pkg")
        r = run(["cpack", "--config", os.path.join(edixtest.BIN, "CPackConfig.cmake"),
                 "-B", out], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        debs = [f for f in os.listdir(out) if f.endswith(".deb")]
        self.assertEqual(len(debs), 1, os.listdir(out))
        deb = os.path.join(out, debs[0])
        info = run(["dpkg-deb", "-I", deb]).stdout
        self.assertRegex(info, r"(?m)^ Package: edix$")
        depends = run(["dpkg-deb", "-f", deb, "Depends"]).stdout.strip()
        names = {d.split()[0] for d in depends.split(", ")}
        self.assertLessEqual(CORE, names, depends)
        self.assertLessEqual(names, RUNTIME | SANITIZER, depends)
        self.assertTrue(all(re.match(r"^\S+( \(>= [0-9][^)]*\))?$", d) for d in depends.split(", ")),
                        depends)
        for script in ("postinst", "prerm", "postrm"):
            self.assertIn(script, info)

        root = os.path.join(self.tmp, "root")
        r = run(["dpkg-deb", "-x", deb, root])
        self.assertEqual(r.returncode, 0, r.stderr)
        bins = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
                if d.endswith("/bin")]
        self.assertEqual(sorted(os.path.basename(b) for b in bins),
                         sorted(PROGRAMS + ["edix-fetch-ubl-schemas"]))
        admin = [b for b in bins if b.endswith("/edix-admin")][0]
        r = run([admin, "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("usage: edix-admin"))
        r = run(["sh", [b for b in bins if b.endswith("/edix-fetch-ubl-schemas")][0], "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        files = {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root)
                 for f in fs}
        for want in ("man/man1/edix-admin.1.gz", "man/man5/edix.conf.5.gz",
                     "lib/systemd/system/edix-hub.service", "doc/edix/edix.conf.sample",
                     "share/edix/doctypes.conf"):
            self.assertTrue(any(f.endswith(want) for f in files), want)

        # every library a program links comes from a package in Depends
        if shutil.which("readelf") and shutil.which("dpkg-query"):
            for b in bins:
                if b.endswith("edix-fetch-ubl-schemas"):
                    continue
                needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]",
                                    run(["readelf", "-d", b]).stdout)
                where = dict(re.findall(r"^\s*(\S+) => (/\S+)", run(["ldd", b]).stdout, re.M))
                self.assertTrue(needed)
                for lib in needed:
                    self.assertIn(lib, where, "%s needs %s" % (b, lib))
                    real = os.path.realpath(where[lib])
                    owner = run(["dpkg-query", "-S", real])
                    if owner.returncode != 0:  # merged /usr: dpkg may know the /lib name
                        owner = run(["dpkg-query", "-S", real.replace("/usr/lib/", "/lib/", 1)])
                    pkg = owner.stdout.split(":")[0]
                    self.assertIn(pkg, names, "%s: %s is in %s, not in Depends" % (
                        os.path.basename(b), lib, pkg))

        # the dependencies resolve on this Debian system (a dry run of apt)
        if shutil.which("apt-get"):
            r = run(["apt-get", "install", "-s", "-q", deb])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertRegex(r.stdout, r"(?m)^Inst edix ")


if __name__ == "__main__":
    edixtest.main()

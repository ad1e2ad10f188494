#!/usr/bin/env python3
"""mkman.py - make a man page from the one source of truth: a program's own
--help text (or, for edix.conf(5), the commented configuration that
"edix-admin config sample" prints, which is the text "edix-admin init"
writes).  Run at build time by CMake, so a page can never disagree with the
program it documents.

  mkman.py --section 1 --version 0.1.0 --output edix-admin.1.gz \\
           [--see-also edix-hub.8,...] -- build/edix-admin --help
  mkman.py --config --section 5 ... -- build/edix-admin config sample
  mkman.py --raw --section 5 ... --output edix.conf.sample -- build/edix-admin config sample

The --help text is read as: a "usage: NAME ..." paragraph (the synopsis),
a paragraph of prose (its first sentence is the NAME line), then the rest,
where indented or option lines stay as they are and other paragraphs flow.
The output is gzip-compressed (no time stamp: reproducible) when its name
ends in .gz.
"""
import argparse
import gzip
import re
import subprocess
import sys

MANUAL = "edix manual"


def esc(text):
    """roff-escape one line of text."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def paragraphs(text):
    out, cur = [], []
    for line in text.rstrip("\n").split("\n"):
        if line.strip():
            cur.append(line.rstrip())
        elif cur:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def is_prose(par):
    return not any(l.startswith((" ", "\t", "-")) for l in par)


def title(name, section, version):
    return ['.TH "%s" "%s" "" "edix %s" "%s"' % (name.upper(), section, version, MANUAL)]


def from_help(text, section, version):
    pars = paragraphs(text)
    if not pars or not pars[0][0].startswith("usage: "):
        sys.exit("mkman: the help text does not start with 'usage: '")
    synopsis = [pars[0][0][len("usage: "):]] + [l.strip() for l in pars[0][1:]]
    name = synopsis[0].split()[0]
    rest = pars[1:]
    if not rest or not is_prose(rest[0]):
        sys.exit("mkman: %s --help has no description paragraph after the usage" % name)
    desc = " ".join(l.strip() for l in rest[0])
    first = re.split(r"(?<=\.)\s", desc, maxsplit=1)[0].rstrip(".")
    if len(first) > 1 and first[1].islower():
        first = first[0].lower() + first[1:]
    out = title(name, section, version)
    out += [".SH NAME", "%s \\- %s" % (esc(name), esc(first))]
    out += [".SH SYNOPSIS", ".nf"] + [esc(l) for l in synopsis] + [".fi"]
    out += [".SH DESCRIPTION", esc(desc)]
    for par in rest[1:]:
        if is_prose(par):
            out += [".PP", esc(" ".join(l.strip() for l in par))]
        else:
            out += [".PP", ".nf"] + [esc(l) for l in par] + [".fi"]
    return name, out


KEY = re.compile(r"^#?\s*([a-z_]+) = (.*)$")


def from_config(text, section, version):
    pars = paragraphs(text)
    out = title("edix.conf", section, version)
    out += [".SH NAME", "edix.conf \\- configuration of an edix hub"]
    out += [".SH SYNOPSIS", "\\fIHOME\\fR/edix.conf"]
    intro = " ".join(l.lstrip("#").strip() for l in pars[0])
    out += [".SH DESCRIPTION", esc(intro),
            ".PP",
            "\\fBedix\\-admin init\\fR writes this file, with every key and its comment, "
            "into a new hub home; \\fBedix\\-admin config sample\\fR prints it.  "
            "A key that is commented out takes the default shown.  "
            "An unknown key is an error, so a misspelt key never falls back to a default "
            "unnoticed.",
            ".SH KEYS"]
    for par in pars[1:]:
        keys = [l for l in par if KEY.match(l)]
        prose = [l.lstrip("#").strip() for l in par if not KEY.match(l)]
        if not keys:
            continue
        out += [".PP", ".nf"]
        for l in keys:
            k, v = KEY.match(l).groups()
            out.append("\\fB%s\\fR = %s" % (esc(k), esc(v)))
        out += [".fi", ".RS", esc(" ".join(prose)), ".RE"]
    return "edix.conf", out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--section", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--config", action="store_true")
    ap.add_argument("--raw", action="store_true", help="write the command's output unchanged")
    ap.add_argument("--see-also", default="")
    ap.add_argument("command", nargs="+")
    a = ap.parse_args()
    r = subprocess.run(a.command, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        sys.exit("mkman: %s: exit %d: %s" % (" ".join(a.command), r.returncode, r.stderr))
    if a.raw:
        with open(a.output, "w") as f:
            f.write(r.stdout)
        return
    if a.config:
        name, out = from_config(r.stdout, a.section, a.version)
    else:
        name, out = from_help(r.stdout, a.section, a.version)
    see = [s for s in a.see_also.split(",") if s and not s.startswith(name + ".")]
    if see:
        refs = []
        for s in see:
            page, sec = s.rsplit(".", 1)
            refs.append("\\fB%s\\fR(%s)" % (esc(page), sec))
        out += [".SH SEE ALSO", ",\n".join(refs)]
    data = ("\n".join(out) + "\n").encode()
    if a.output.endswith(".gz"):
        with open(a.output, "wb") as f:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as g:
                g.write(data)
    else:
        with open(a.output, "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

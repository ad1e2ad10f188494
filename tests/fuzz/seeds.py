#!/usr/bin/env python3
"""Seed corpora for the fuzz harnesses, made at run time from the shared
test corpus (never copied into this repository).

    seeds.py OUTDIR [CORPUS]

OUTDIR/fuzz_doc:   every file the corpus MANIFEST lists, up to 64 KiB (UBL,
                   CII, cXML...), and variants of the UBL Order example that
                   reach the refusing paths (DOCTYPE, entities, deep
                   nesting, truncation, bad encodings, wrong namespace).
OUTDIR/fuzz_proto: every command of the wire protocol in the harness's
                   framing (2-byte little-endian length, then the frame),
                   with documents from the corpus as bodies.
"""
import csv
import hashlib
import os
import sys

MAX_DOC = 64 * 1024


def frames(*parts):
    out = b""
    for p in parts:
        p = p if isinstance(p, bytes) else p.encode()
        out += len(p).to_bytes(2, "little") + p
    return out


def write(d, data):
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    out = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "..", "..",
                                                                  "shared", "corpus")
    docs_dir, proto_dir = os.path.join(out, "fuzz_doc"), os.path.join(out, "fuzz_proto")
    os.makedirs(docs_dir, exist_ok=True)
    os.makedirs(proto_dir, exist_ok=True)

    docs = []
    with open(os.path.join(corpus, "MANIFEST.csv"), newline="") as f:
        for row in csv.DictReader(f):
            path = os.path.join(corpus, row["path"])
            if os.path.getsize(path) <= MAX_DOC:
                with open(path, "rb") as d:
                    docs.append(d.read())
    for d in docs:
        write(docs_dir, d)

    with open(os.path.join(corpus, "oasis-ubl-2.1/xml/UBL-Order-2.1-Example.xml"), "rb") as f:
        order = f.read()
    decl, rest = order.split(b"?>", 1)
    decl += b"?>"
    variants = [
        decl + b'<!DOCTYPE Order [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + rest,
        decl + b'<!DOCTYPE Order [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>' + rest,
        decl + b'<!DOCTYPE Order SYSTEM "http://127.0.0.1:9/x.dtd">' + rest,
        decl + b'<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2">' +
        b"<a>" * 300 + b"</a>" * 300 + b"</Order>",
        order.replace(b"Order-2\"", b"Order-3\"", 1),
        order.replace(b"Information text", b"Info \xff\xfe text", 1),
        order.replace(b'encoding="UTF-8"', b'encoding="UTF-16"', 1),
        b"\xef\xbb\xbf" + order,
        order[:len(order) // 3],
        order[:len(order) * 2 // 3],
        b"",
        b"<",
        b"\0" * 64,
    ]
    for v in variants:
        write(docs_dir, v)

    small = min(docs, key=len)
    proto = [
        frames("SUBMIT", "PO-4711", order),
        frames("SUBMIT", "sha256-" + "0" * 32, small),
        frames("STATUS", "01a208e08efad5dffc4c7951"),
        frames("PING"),
        frames("PONG"),
        frames("RECEIPT", "PO-4711", "01a208e08efad5dffc4c7951",
               "edix-receipt/1\nhub-id: 01a208e08efad5dffc4c7951\nclient-id: PO-4711\n", "a" * 128),
        frames("STATE", "01a208e08efad5dffc4c7951", "rejected",
               '[{"rule":"XSD","message":"x","path":"/Order"}]'),
        frames("STATE", "01a208e08efad5dffc4c7951", "delivered", ""),
        frames("ERROR", "PO-4711", "503", "the store is busy"),
        frames("ERROR", "", "0404", "no such message"),
        frames("READY", "64"),
        frames("READY", "007"),
        frames("DELIVER", "01a208e08efad5dffc4c7951", "acme", "Order", order, ""),
        frames("DELIVER", "01a208e08efad5dffc4c7951", "hub", "ApplicationResponse", small,
               "f" * 128),
        frames("ACK", "01a208e08efad5dffc4c7951"),
        frames("WORK", "notice"),
        frames(*(["WORK"] + ["01a208e08efad5dffc4c%04d" % i for i in range(40)])),
        frames("SUBMIT", "has space", "x"),
        frames("HELLO"),
        b"",
    ]
    for p in proto:
        write(proto_dir, p)
    print("seeds: %d for fuzz_doc, %d for fuzz_proto" % (len(os.listdir(docs_dir)),
                                                         len(os.listdir(proto_dir))))


if __name__ == "__main__":
    main()

#!/bin/sh
# Build edix and run the hub on its embedded default: a fresh home in
# ./demo-home (SQLite store, hub keys), two demo partners, a real UBL Order
# from the buyer to the seller and a real UBL Invoice back, both received
# byte for byte, receipts verified, the audit trail printed and verified.
set -eu
cd "$(dirname "$0")"
top=$(pwd)
sh scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
B=$top/build
CORPUS=${EDIX_CORPUS:-$top/../shared/corpus}
SCHEMAS=${EDIX_SCHEMA_DIR:-$CORPUS/oasis-ubl-2.1/xsdrt}
ORDER=$CORPUS/oasis-ubl-2.1/xml/UBL-Order-2.1-Example.xml
INVOICE=$CORPUS/oasis-ubl-2.1/xml/UBL-Invoice-2.1-Example.xml
[ -f "$SCHEMAS/maindoc/UBL-Order-2.1.xsd" ] || {
    echo "demo: no UBL 2.1 schemas at $SCHEMAS (run deploy/fetch-ubl-schemas, set EDIX_SCHEMA_DIR)" >&2
    exit 1
}
H=$top/demo-home
rm -rf "$H" "$top/demo-out"
mkdir -p "$top/demo-out/buyer" "$top/demo-out/seller"
say() { printf '\n== %s\n' "$*"; }

say "a fresh hub home in $H"
"$B/edix-admin" --home "$H" init --schemas "$SCHEMAS" \
    --intake tcp://127.0.0.1:${EDIX_DEMO_INTAKE_PORT:-7701} \
    --delivery tcp://127.0.0.1:${EDIX_DEMO_DELIVERY_PORT:-7702}

say "onboarding the buyer and the seller, under the identifiers their documents carry"
"$B/edix-admin" --home "$H" partner add buyer --name "Johnssons byggvaror (buyer)" \
    --id GLN:7300072311115 --id GLN:1234567987654 \
    --send Order --receive Invoice,OrderResponse --bundle "$top/demo-out/buyer.bundle"
"$B/edix-admin" --home "$H" partner add seller --name "Moderna Produkter (seller)" \
    --id GLN:7302347231111 --id GLN:1234567890123 \
    --send Invoice,OrderResponse --receive Order --bundle "$top/demo-out/seller.bundle"
"$B/edix-admin" --home "$H" partner list

say "starting the hub (intake, validator, router)"
"$B/edix-hub" --home "$H" --foreground 2>"$top/demo-out/hub.log" &
hub=$!
trap 'kill $hub 2>/dev/null; wait $hub 2>/dev/null || true' EXIT INT TERM

say "the buyer sends an Order (the receipt is signed by the hub and verified)"
"$B/edix-partner" --bundle "$top/demo-out/buyer.bundle" send "$ORDER" --timeout 30
say "the seller receives it"
"$B/edix-partner" --bundle "$top/demo-out/seller.bundle" receive --into "$top/demo-out/seller" --timeout 30

say "the seller sends an Invoice back"
"$B/edix-partner" --bundle "$top/demo-out/seller.bundle" send "$INVOICE" --timeout 30 \
    --receipts "$top/demo-out/receipts" | tee "$top/demo-out/invoice.txt"
say "the buyer receives it, and the hub's signed notice that its Order was delivered"
"$B/edix-partner" --bundle "$top/demo-out/buyer.bundle" receive --into "$top/demo-out/buyer" --timeout 30
inv=$(cut -d' ' -f1 "$top/demo-out/invoice.txt")
say "the seller checks: state, and its receipt against the hub's key"
"$B/edix-partner" --bundle "$top/demo-out/seller.bundle" status "$inv"
"$B/edix-partner" --bundle "$top/demo-out/seller.bundle" verify \
    "$top/demo-out/receipts/$inv.receipt" "$INVOICE"

say "byte for byte as sent?"
for f in "$top"/demo-out/seller/*.xml; do cmp "$ORDER" "$f" && echo "order:   identical ($f)"; done
for f in "$top"/demo-out/buyer/*.xml; do
    if cmp -s "$INVOICE" "$f"; then echo "invoice: identical ($f)"; fi
done

say "where is everything?"
"$B/edix-admin" --home "$H" message list
say "the audit trail"
"$B/edix-admin" --home "$H" audit list
"$B/edix-admin" --home "$H" audit verify
say "done: the hub log is in demo-out/hub.log; the home stays in demo-home"

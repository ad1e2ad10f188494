/*
 * test_proto.c - unit tests of the message codec (proto.c): every command
 * in proto.h survives encode -> decode unchanged, the boundaries that must
 * pass do (128-byte ids, window 1 and 10000, 1024 WORK ids), and every
 * refusal the decoder promises happens with its reason: unknown commands,
 * wrong frame counts, empty, over-long and non-printable ids, bad numbers,
 * WORK with 0 or 1025 ids, signatures of the wrong length.
 */
#include "proto.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(lit)                                                                                     \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }
#define H16   "0123456789abcdef"
#define H64   H16 H16 H16 H16
#define SIG   H64 H64 /* 128 hex digits: an Ed25519 signature */
#define ID128 SIG     /* the longest id */
#define ID129 SIG "x" /* one byte too long */
#define HUBID "0190a1b2c3d4e5f6a7b8c9d0"

static edix_slice_t s_ids_storage[EDIX_PROTO_MAX_WORK];

static const char *
s_show(edix_slice_t s)
{
    static char buf[4][200];
    static int which;
    char *out = buf[which++ % 4];
    size_t n = 0;
    if (!s.data)
        return "(null)";
    for (size_t i = 0; i < s.len && n + 5 < sizeof buf[0]; i++) {
        unsigned char c = (unsigned char)s.data[i];
        if (c >= 0x20 && c < 0x7f)
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, sizeof buf[0] - n, "\\x%02x", c);
    }
    out[n] = '\0';
    return out;
}

static int
s_slice_same(edix_slice_t a, edix_slice_t b)
{
    size_t la = a.data ? a.len : 0, lb = b.data ? b.len : 0;
    return la == lb && (la == 0 || memcmp(a.data, b.data, la) == 0);
}

static void
s_expect_slice(const char *what, edix_slice_t got, edix_slice_t want)
{
    if (!s_slice_same(got, want))
        fail_msg("%s: got \"%s\" (%zu bytes), want \"%s\" (%zu bytes)", what, s_show(got), got.len,
                 s_show(want), want.len);
}

/* ---- round trips ---------------------------------------------------------- */

static const edix_slice_t s_work_ids[] = {S("a"), S(HUBID), S(ID128)};

static const struct {
    const char *name;
    edix_pmsg_t msg;
    size_t frames; /* what encode makes */
} s_round[] = {
    {"SUBMIT", {.cmd = EDIX_CMD_SUBMIT, .client_id = S("PO-4711"), .body = S("<Order/>")}, 3},
    {"SUBMIT binary body",
     {.cmd = EDIX_CMD_SUBMIT, .client_id = S(ID128), .body = S("\x00\xff\n<x/>\x00")},
     3},
    {"STATUS", {.cmd = EDIX_CMD_STATUS, .hub_id = S(HUBID)}, 2},
    {"PING", {.cmd = EDIX_CMD_PING}, 1},
    {"RECEIPT",
     {.cmd = EDIX_CMD_RECEIPT,
      .client_id = S("PO-4711"),
      .hub_id = S(HUBID),
      .statement = S("edix-receipt-1\nhub_id=" HUBID "\n"),
      .signature = S(SIG)},
     5},
    {"STATE",
     {.cmd = EDIX_CMD_STATE,
      .hub_id = S(HUBID),
      .state = S("rejected"),
      .text = S("[{\"rule\":\"XSD\",\"message\":\"bad\"}]")},
     4},
    {"STATE no text", {.cmd = EDIX_CMD_STATE, .hub_id = S(HUBID), .state = S("delivered")}, 4},
    {"ERROR",
     {.cmd = EDIX_CMD_ERROR, .ref = S("PO-4711"), .code = 413, .text = S("document too large")},
     4},
    {"ERROR no ref", {.cmd = EDIX_CMD_ERROR, .code = 400, .text = S("malformed message")}, 4},
    {"ERROR 100", {.cmd = EDIX_CMD_ERROR, .ref = S("x"), .code = 100, .text = S("")}, 4},
    {"ERROR 999", {.cmd = EDIX_CMD_ERROR, .ref = S(ID128), .code = 999, .text = S("t")}, 4},
    {"PONG", {.cmd = EDIX_CMD_PONG}, 1},
    {"READY", {.cmd = EDIX_CMD_READY, .window = 64}, 2},
    {"READY 1", {.cmd = EDIX_CMD_READY, .window = 1}, 2},
    {"READY 10000", {.cmd = EDIX_CMD_READY, .window = 10000}, 2},
    {"DELIVER",
     {.cmd = EDIX_CMD_DELIVER,
      .hub_id = S(HUBID),
      .sender = S("acme"),
      .doctype = S("Invoice"),
      .body = S("<Invoice/>")},
     6},
    {"DELIVER signed",
     {.cmd = EDIX_CMD_DELIVER,
      .hub_id = S(HUBID),
      .sender = S("hub"),
      .doctype = S("ApplicationResponse"),
      .body = S("<ApplicationResponse/>"),
      .signature = S(SIG)},
     6},
    {"ACK", {.cmd = EDIX_CMD_ACK, .hub_id = S(HUBID)}, 2},
    {"WORK", {.cmd = EDIX_CMD_WORK, .ids = (edix_slice_t *)s_work_ids, .id_count = 3}, 4},
    {"WORK one", {.cmd = EDIX_CMD_WORK, .ids = (edix_slice_t *)s_work_ids, .id_count = 1}, 2},
};

static void
s_expect_same_msg(const char *name, const edix_pmsg_t *got, const edix_pmsg_t *want)
{
    char what[128];
#define SAME(field)                                                                                \
    do {                                                                                           \
        snprintf(what, sizeof what, "%s: " #field, name);                                          \
        s_expect_slice(what, got->field, want->field);                                             \
    } while (0)
    if (got->cmd != want->cmd)
        fail_msg("%s: cmd: got %s, want %s", name, edix_cmd_name(got->cmd),
                 edix_cmd_name(want->cmd));
    SAME(client_id);
    SAME(hub_id);
    SAME(ref);
    SAME(state);
    SAME(sender);
    SAME(doctype);
    SAME(body);
    SAME(statement);
    SAME(signature);
    SAME(text);
#undef SAME
    if (got->code != want->code)
        fail_msg("%s: code: got %d, want %d", name, got->code, want->code);
    if (got->window != want->window)
        fail_msg("%s: window: got %d, want %d", name, got->window, want->window);
    if (got->id_count != want->id_count)
        fail_msg("%s: id_count: got %zu, want %zu", name, got->id_count, want->id_count);
    for (size_t i = 0; i < want->id_count; i++) {
        snprintf(what, sizeof what, "%s: ids[%zu]", name, i);
        s_expect_slice(what, got->ids[i], want->ids[i]);
    }
}

static void
test_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_round / sizeof s_round[0]; i++) {
        edix_frameset_t fs = {0};
        edix_pmsg_t got;
        char why[128] = "";
        edix_proto_encode(&s_round[i].msg, &fs);
        if (fs.count != s_round[i].frames)
            fail_msg("%s: got %zu frames, want %zu", s_round[i].name, fs.count, s_round[i].frames);
        const char *name = edix_cmd_name(s_round[i].msg.cmd);
        if (fs.frames[0].len != strlen(name) || memcmp(fs.frames[0].data, name, strlen(name)))
            fail_msg("%s: got frame 0 \"%s\", want \"%s\"", s_round[i].name, s_show(fs.frames[0]),
                     name);
        if (edix_proto_decode(fs.frames, fs.count, &got, s_ids_storage, why, sizeof why) != 0)
            fail_msg("%s: got refusal \"%s\", want success", s_round[i].name, why);
        s_expect_same_msg(s_round[i].name, &got, &s_round[i].msg);
        edix_frameset_free(&fs);
        assert_null(fs.frames);
        assert_int_equal(fs.count, 0);
    }
}

/* the decoder points into the frames; it copies nothing */
static void
test_decode_no_copies(void **state)
{
    edix_slice_t f[] = {S("SUBMIT"), S("PO-1"), S("<Order/>")};
    edix_pmsg_t m;
    char why[64];
    (void)state;
    assert_int_equal(edix_proto_decode(f, 3, &m, s_ids_storage, why, sizeof why), 0);
    assert_ptr_equal(m.client_id.data, f[1].data);
    assert_ptr_equal(m.body.data, f[2].data);
}

/* several messages encoded into one frameset append */
static void
test_encode_appends(void **state)
{
    edix_frameset_t fs = {0};
    edix_pmsg_t ping = {.cmd = EDIX_CMD_PING};
    edix_pmsg_t work = {.cmd = EDIX_CMD_WORK, .ids = s_ids_storage, .id_count = 20};
    (void)state;
    for (size_t i = 0; i < 20; i++)
        s_ids_storage[i] = (edix_slice_t)S("id");
    edix_proto_encode(&ping, &fs);
    edix_proto_encode(&work, &fs);
    if (fs.count != 22)
        fail_msg("frames: got %zu, want 22", fs.count);
    assert_true(edix_slice_eq(fs.frames[0], "PING"));
    assert_true(edix_slice_eq(fs.frames[1], "WORK"));
    assert_true(edix_slice_eq(fs.frames[21], "id"));
    edix_frameset_free(&fs);
}

/* ---- refusals --------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t count;
    edix_slice_t f[8];
    const char *why; /* in the reason */
} s_bad[] = {
    {"no frames", 0, {{0}}, "empty message"},
    /* unknown commands */
    {"lower case", 1, {S("ping")}, "unknown command"},
    {"longer", 1, {S("PINGX")}, "unknown command"},
    {"prefix", 1, {S("PIN")}, "unknown command"},
    {"empty command", 1, {S("")}, "unknown command"},
    {"NUL inside", 1, {S("PING\0")}, "unknown command"},
    {"no name", 1, {S("?")}, "unknown command"},
    {"HELLO", 2, {S("HELLO"), S("x")}, "unknown command"},
    /* frame counts */
    {"SUBMIT 2", 2, {S("SUBMIT"), S("c")}, "SUBMIT takes 3 frames, got 2"},
    {"SUBMIT 4", 4, {S("SUBMIT"), S("c"), S("<x/>"), S("")}, "SUBMIT takes 3 frames, got 4"},
    {"STATUS 1", 1, {S("STATUS")}, "STATUS takes 2 frames, got 1"},
    {"STATUS 3", 3, {S("STATUS"), S(HUBID), S(HUBID)}, "STATUS takes 2 frames, got 3"},
    {"PING 2", 2, {S("PING"), S("")}, "PING takes 1 frames, got 2"},
    {"PONG 2", 2, {S("PONG"), S("x")}, "PONG takes 1 frames, got 2"},
    {"RECEIPT 4", 4, {S("RECEIPT"), S("c"), S(HUBID), S("s")}, "RECEIPT takes 5 frames, got 4"},
    {"RECEIPT 6",
     6,
     {S("RECEIPT"), S("c"), S(HUBID), S("s"), S(SIG), S("")},
     "RECEIPT takes 5 frames, got 6"},
    {"STATE 3", 3, {S("STATE"), S(HUBID), S("routed")}, "STATE takes 4 frames, got 3"},
    {"STATE 5",
     5,
     {S("STATE"), S(HUBID), S("routed"), S(""), S("")},
     "STATE takes 4 frames, got 5"},
    {"ERROR 3", 3, {S("ERROR"), S("r"), S("400")}, "ERROR takes 4 frames, got 3"},
    {"ERROR 5", 5, {S("ERROR"), S("r"), S("400"), S("t"), S("")}, "ERROR takes 4 frames, got 5"},
    {"READY 1", 1, {S("READY")}, "READY takes 2 frames, got 1"},
    {"READY 3", 3, {S("READY"), S("1"), S("1")}, "READY takes 2 frames, got 3"},
    {"DELIVER 5",
     5,
     {S("DELIVER"), S(HUBID), S("acme"), S("Order"), S("<x/>")},
     "DELIVER takes 6 frames, got 5"},
    {"DELIVER 7",
     7,
     {S("DELIVER"), S(HUBID), S("acme"), S("Order"), S("<x/>"), S(""), S("")},
     "DELIVER takes 6 frames, got 7"},
    {"ACK 1", 1, {S("ACK")}, "ACK takes 2 frames, got 1"},
    {"ACK 3", 3, {S("ACK"), S(HUBID), S(HUBID)}, "ACK takes 2 frames, got 3"},
    {"WORK 0 ids", 1, {S("WORK")}, "WORK takes 1 to 1024 ids, got 0"},
    /* ids */
    {"SUBMIT empty id", 3, {S("SUBMIT"), S(""), S("<x/>")}, "client id must be 1-128"},
    {"SUBMIT long id", 3, {S("SUBMIT"), S(ID129), S("<x/>")}, "client id must be 1-128"},
    {"SUBMIT space", 3, {S("SUBMIT"), S("PO 1"), S("<x/>")}, "client id must be 1-128"},
    {"SUBMIT tab", 3, {S("SUBMIT"), S("PO\t1"), S("<x/>")}, "client id must be 1-128"},
    {"SUBMIT newline", 3, {S("SUBMIT"), S("PO-1\n"), S("<x/>")}, "client id must be 1-128"},
    {"SUBMIT NUL", 3, {S("SUBMIT"), S("PO\0001"), S("<x/>")}, "client id must be 1-128"},
    {"SUBMIT DEL", 3, {S("SUBMIT"), S("PO\x7f"), S("<x/>")}, "client id must be 1-128"},
    {"SUBMIT UTF-8", 3, {S("SUBMIT"), S("caf\xc3\xa9"), S("<x/>")}, "client id must be 1-128"},
    {"SUBMIT empty body", 3, {S("SUBMIT"), S("PO-1"), S("")}, "empty document"},
    {"STATUS empty", 2, {S("STATUS"), S("")}, "malformed message id"},
    {"STATUS long", 2, {S("STATUS"), S(ID129)}, "malformed message id"},
    {"STATUS control", 2, {S("STATUS"), S("\x01")}, "malformed message id"},
    {"ACK empty", 2, {S("ACK"), S("")}, "malformed message id"},
    {"ACK space", 2, {S("ACK"), S(" " HUBID)}, "malformed message id"},
    {"ACK high byte", 2, {S("ACK"), S("\xff")}, "malformed message id"},
    /* receipts */
    {"RECEIPT bad client id",
     5,
     {S("RECEIPT"), S(""), S(HUBID), S("s"), S(SIG)},
     "malformed receipt"},
    {"RECEIPT bad hub id",
     5,
     {S("RECEIPT"), S("c"), S(ID129), S("s"), S(SIG)},
     "malformed receipt"},
    {"RECEIPT NUL statement",
     5,
     {S("RECEIPT"), S("c"), S(HUBID), S("a\0b"), S(SIG)},
     "malformed receipt"},
    {"RECEIPT no signature",
     5,
     {S("RECEIPT"), S("c"), S(HUBID), S("s"), S("")},
     "malformed receipt"},
    {"RECEIPT 128-digit signature",
     5,
     {S("RECEIPT"), S("c"), S(HUBID), S("s"), S(SIG)},
     NULL /* valid: the control case for the next two */},
    {"RECEIPT 127-digit signature",
     5,
     {S("RECEIPT"), S("c"), S(HUBID), S("s"), {SIG, 127}},
     "malformed receipt"},
    {"RECEIPT 129-digit signature",
     5,
     {S("RECEIPT"), S("c"), S(HUBID), S("s"), S(SIG "0")},
     "malformed receipt"},
    /* states */
    {"STATE bad hub id", 4, {S("STATE"), S(""), S("routed"), S("")}, "malformed state"},
    {"STATE empty state", 4, {S("STATE"), S(HUBID), S(""), S("")}, "malformed state"},
    {"STATE state with space",
     4,
     {S("STATE"), S(HUBID), S("in transit"), S("")},
     "malformed state"},
    {"STATE NUL text", 4, {S("STATE"), S(HUBID), S("rejected"), S("[\0]")}, "malformed state"},
    /* errors */
    {"ERROR no code", 4, {S("ERROR"), S("r"), S(""), S("t")}, "malformed error"},
    {"ERROR word", 4, {S("ERROR"), S("r"), S("abc"), S("t")}, "malformed error"},
    {"ERROR 99", 4, {S("ERROR"), S("r"), S("99"), S("t")}, "malformed error"},
    {"ERROR 1000", 4, {S("ERROR"), S("r"), S("1000"), S("t")}, "malformed error"},
    {"ERROR negative", 4, {S("ERROR"), S("r"), S("-400"), S("t")}, "malformed error"},
    {"ERROR letter O", 4, {S("ERROR"), S("r"), S("4O4"), S("t")}, "malformed error"},
    {"ERROR space", 4, {S("ERROR"), S("r"), S(" 404"), S("t")}, "malformed error"},
    {"ERROR 10 digits", 4, {S("ERROR"), S("r"), S("0000000400"), S("t")}, "malformed error"},
    {"ERROR long ref", 4, {S("ERROR"), S(ID129), S("400"), S("t")}, "malformed error"},
    {"ERROR NUL text", 4, {S("ERROR"), S("r"), S("400"), S("a\0")}, "malformed error"},
    /* windows */
    {"READY 0", 2, {S("READY"), S("0")}, "READY window must be a number from 1 to 10000"},
    {"READY 10001", 2, {S("READY"), S("10001")}, "READY window must be a number from 1 to 10000"},
    {"READY empty", 2, {S("READY"), S("")}, "READY window"},
    {"READY negative", 2, {S("READY"), S("-1")}, "READY window"},
    {"READY plus", 2, {S("READY"), S("+5")}, "READY window"},
    {"READY float", 2, {S("READY"), S("1.5")}, "READY window"},
    {"READY exponent", 2, {S("READY"), S("1e3")}, "READY window"},
    {"READY trailing space", 2, {S("READY"), S("5 ")}, "READY window"},
    {"READY huge", 2, {S("READY"), S("4294967297")}, "READY window"},
    {"READY NUL", 2, {S("READY"), S("5\0")}, "READY window"},
    /* deliveries */
    {"DELIVER 64-digit signature",
     6,
     {S("DELIVER"), S(HUBID), S("acme"), S("Order"), S("<x/>"), S(H64)},
     "malformed delivery"},
    {"DELIVER 127-digit signature",
     6,
     {S("DELIVER"), S(HUBID), S("acme"), S("Order"), S("<x/>"), {SIG, 127}},
     "malformed delivery"},
    {"DELIVER 129-digit signature",
     6,
     {S("DELIVER"), S(HUBID), S("acme"), S("Order"), S("<x/>"), S(SIG "f")},
     "malformed delivery"},
    {"DELIVER bad hub id",
     6,
     {S("DELIVER"), S(""), S("acme"), S("Order"), S("<x/>"), S("")},
     "malformed delivery"},
    {"DELIVER bad sender",
     6,
     {S("DELIVER"), S(HUBID), S("ac me"), S("Order"), S("<x/>"), S("")},
     "malformed delivery"},
    {"DELIVER bad doctype",
     6,
     {S("DELIVER"), S(HUBID), S("acme"), S(""), S("<x/>"), S("")},
     "malformed delivery"},
    /* work */
    {"WORK empty id", 3, {S("WORK"), S("a"), S("")}, "malformed id in WORK"},
    {"WORK long id", 2, {S("WORK"), S(ID129)}, "malformed id in WORK"},
    {"WORK space", 2, {S("WORK"), S("a b")}, "malformed id in WORK"},
};

static void
test_decode_refusals(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        edix_pmsg_t m;
        char why[128] = "";
        int rc = edix_proto_decode(s_bad[i].f, s_bad[i].count, &m, s_ids_storage, why, sizeof why);
        if (!s_bad[i].why) {
            if (rc != 0)
                fail_msg("%s: got refusal \"%s\", want success", s_bad[i].name, why);
            continue;
        }
        if (rc != -1)
            fail_msg("%s: got success, want a refusal saying \"%s\"", s_bad[i].name, s_bad[i].why);
        if (!strstr(why, s_bad[i].why))
            fail_msg("%s: got reason \"%s\", want \"%s\"", s_bad[i].name, why, s_bad[i].why);
        /* nothing half-decoded is left for a careless caller */
        if (m.cmd != EDIX_CMD_NONE || m.client_id.data || m.hub_id.data || m.body.data)
            fail_msg("%s: got a partly filled message, want it cleared", s_bad[i].name);
    }
}

/* WORK: 1 and 1024 ids pass, 1025 do not */
static void
test_work_limits(void **state)
{
    static edix_slice_t f[EDIX_PROTO_MAX_WORK + 2];
    char name[EDIX_PROTO_MAX_WORK + 2][8];
    edix_pmsg_t m;
    char why[128];
    (void)state;

    f[0] = (edix_slice_t)S("WORK");
    for (size_t i = 1; i < EDIX_PROTO_MAX_WORK + 2; i++) {
        snprintf(name[i], sizeof name[i], "m%zu", i);
        f[i].data = name[i];
        f[i].len = strlen(name[i]);
    }
    assert_int_equal(edix_proto_decode(f, 2, &m, s_ids_storage, why, sizeof why), 0);
    assert_int_equal(m.id_count, 1);
    if (edix_proto_decode(f, EDIX_PROTO_MAX_WORK + 1, &m, s_ids_storage, why, sizeof why) != 0)
        fail_msg("WORK with 1024 ids: got refusal \"%s\", want success", why);
    assert_int_equal(m.cmd, EDIX_CMD_WORK);
    if (m.id_count != EDIX_PROTO_MAX_WORK)
        fail_msg("WORK with 1024 ids: got %zu ids, want 1024", m.id_count);
    assert_ptr_equal(m.ids, s_ids_storage);
    assert_true(edix_slice_eq(m.ids[0], "m1"));
    assert_true(edix_slice_eq(m.ids[1023], "m1024"));
    assert_int_equal(
        edix_proto_decode(f, EDIX_PROTO_MAX_WORK + 2, &m, s_ids_storage, why, sizeof why), -1);
    if (strcmp(why, "WORK takes 1 to 1024 ids, got 1025") != 0)
        fail_msg("WORK with 1025 ids: got \"%s\", want \"WORK takes 1 to 1024 ids, got 1025\"",
                 why);
}

/* texts at their caps pass, one byte more does not */
static void
test_text_caps(void **state)
{
    char *big = xmalloc((1 << 20) + 2);
    edix_pmsg_t m;
    char why[128];
    (void)state;
    memset(big, 'x', (1 << 20) + 1);

    edix_slice_t receipt[] = {S("RECEIPT"), S("c"), S(HUBID), {big, 4096}, S(SIG)};
    assert_int_equal(edix_proto_decode(receipt, 5, &m, s_ids_storage, why, sizeof why), 0);
    receipt[3].len = 4097;
    assert_int_equal(edix_proto_decode(receipt, 5, &m, s_ids_storage, why, sizeof why), -1);

    edix_slice_t err[] = {S("ERROR"), S("r"), S("503"), {big, 1 << 16}};
    assert_int_equal(edix_proto_decode(err, 4, &m, s_ids_storage, why, sizeof why), 0);
    assert_int_equal(m.code, 503);
    err[3].len = (1 << 16) + 1;
    assert_int_equal(edix_proto_decode(err, 4, &m, s_ids_storage, why, sizeof why), -1);

    edix_slice_t st[] = {S("STATE"), S(HUBID), S("rejected"), {big, 1 << 20}};
    assert_int_equal(edix_proto_decode(st, 4, &m, s_ids_storage, why, sizeof why), 0);
    st[3].len = (1 << 20) + 1;
    assert_int_equal(edix_proto_decode(st, 4, &m, s_ids_storage, why, sizeof why), -1);
    free(big);
}

/* a small reason buffer is cut, never overrun */
static void
test_why_buffer(void **state)
{
    edix_slice_t f[] = {S("READY"), S("0")};
    edix_pmsg_t m;
    char why[8 + 4];
    (void)state;
    memset(why, '#', sizeof why);
    assert_int_equal(edix_proto_decode(f, 2, &m, s_ids_storage, why, 8), -1);
    assert_int_equal(strlen(why), 7);
    assert_int_equal(why[8], '#');
}

static void
test_names_and_slices(void **state)
{
    static const struct {
        edix_cmd_t cmd;
        const char *want;
    } cases[] = {
        {EDIX_CMD_SUBMIT, "SUBMIT"},   {EDIX_CMD_STATUS, "STATUS"}, {EDIX_CMD_PING, "PING"},
        {EDIX_CMD_RECEIPT, "RECEIPT"}, {EDIX_CMD_STATE, "STATE"},   {EDIX_CMD_ERROR, "ERROR"},
        {EDIX_CMD_PONG, "PONG"},       {EDIX_CMD_READY, "READY"},   {EDIX_CMD_DELIVER, "DELIVER"},
        {EDIX_CMD_ACK, "ACK"},         {EDIX_CMD_WORK, "WORK"},     {EDIX_CMD_NONE, "?"},
        {(edix_cmd_t)99, "?"},         {(edix_cmd_t)-1, "?"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(edix_cmd_name(cases[i].cmd), cases[i].want) != 0)
            fail_msg("cmd_name(%d): got %s, want %s", (int)cases[i].cmd,
                     edix_cmd_name(cases[i].cmd), cases[i].want);

    edix_slice_t s = {"abcdef", 3};
    char *d = edix_slice_dup(s);
    assert_string_equal(d, "abc");
    free(d);
    edix_slice_t none = {NULL, 0};
    d = edix_slice_dup(none);
    assert_string_equal(d, "");
    free(d);
    assert_true(edix_slice_eq(s, "abc"));
    assert_false(edix_slice_eq(s, "ab"));
    assert_false(edix_slice_eq(s, "abcd"));
    assert_false(edix_slice_eq(s, "abd"));
    assert_true(edix_slice_eq(none, ""));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_decode_no_copies),
        cmocka_unit_test(test_encode_appends), cmocka_unit_test(test_decode_refusals),
        cmocka_unit_test(test_work_limits),    cmocka_unit_test(test_text_caps),
        cmocka_unit_test(test_why_buffer),     cmocka_unit_test(test_names_and_slices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

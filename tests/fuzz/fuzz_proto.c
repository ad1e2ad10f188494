/*
 * fuzz_proto.c - libFuzzer harness for the wire codec (proto.c).
 *
 * The input is a list of frames, each a 2-byte little-endian length and
 * that many bytes (a length past the end takes what is left).  Whatever
 * edix_proto_decode refuses must come with a reason; whatever it accepts
 * must survive a round trip: encode the decoded message, decode that, and
 * get the same message field for field, in frames equal to the input's
 * (a number field compares by value: "007" and "7" are one window).
 */
#include "proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_FRAMES (EDIX_PROTO_MAX_WORK + 8) /* past what any command takes */

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_proto: invariant broken: %s (line %d)\n", #cond, __LINE__);      \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
s_split(const uint8_t *data, size_t size, edix_slice_t *frames)
{
    size_t n = 0, at = 0;
    while (at + 2 <= size && n < FUZZ_MAX_FRAMES) {
        size_t len = (size_t)data[at] | (size_t)data[at + 1] << 8;
        at += 2;
        if (len > size - at)
            len = size - at;
        frames[n].data = (const char *)data + at;
        frames[n].len = len;
        n++;
        at += len;
    }
    return n;
}

static int
s_same(edix_slice_t a, edix_slice_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static void
s_same_msg(const edix_pmsg_t *a, const edix_pmsg_t *b)
{
    S_CHECK(a->cmd == b->cmd);
    S_CHECK(s_same(a->client_id, b->client_id));
    S_CHECK(s_same(a->hub_id, b->hub_id));
    S_CHECK(s_same(a->ref, b->ref));
    S_CHECK(a->code == b->code);
    S_CHECK(a->window == b->window);
    S_CHECK(s_same(a->state, b->state));
    S_CHECK(s_same(a->sender, b->sender));
    S_CHECK(s_same(a->doctype, b->doctype));
    S_CHECK(s_same(a->body, b->body));
    S_CHECK(s_same(a->statement, b->statement));
    S_CHECK(s_same(a->signature, b->signature));
    S_CHECK(s_same(a->text, b->text));
    S_CHECK(a->id_count == b->id_count);
    for (size_t i = 0; i < a->id_count; i++)
        S_CHECK(s_same(a->ids[i], b->ids[i]));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static edix_slice_t frames[FUZZ_MAX_FRAMES];
    static edix_slice_t ids[EDIX_PROTO_MAX_WORK], ids2[EDIX_PROTO_MAX_WORK];
    size_t n = s_split(data, size, frames);
    edix_pmsg_t msg, again;
    char why[128];
    memset(why, 'x', sizeof why);
    if (edix_proto_decode(frames, n, &msg, ids, why, sizeof why) < 0) {
        S_CHECK(memchr(why, '\0', sizeof why) && why[0] != '\0');
        S_CHECK(msg.cmd == EDIX_CMD_NONE);
        return 0;
    }
    S_CHECK(msg.cmd != EDIX_CMD_NONE);
    S_CHECK(strcmp(edix_cmd_name(msg.cmd), "?") != 0);

    edix_frameset_t fs = {0};
    edix_proto_encode(&msg, &fs);
    S_CHECK(fs.count == n);
    for (size_t i = 0; i < n; i++) {
        int number = (msg.cmd == EDIX_CMD_ERROR && i == 2) || (msg.cmd == EDIX_CMD_READY && i == 1);
        S_CHECK(number || s_same(fs.frames[i], frames[i]));
    }
    S_CHECK(edix_proto_decode(fs.frames, fs.count, &again, ids2, why, sizeof why) == 0);
    s_same_msg(&msg, &again);

    /* the slice helpers on what was decoded */
    char *dup = edix_slice_dup(msg.client_id);
    S_CHECK(strlen(dup) <= msg.client_id.len);
    S_CHECK(edix_slice_eq(msg.client_id, dup) == (strlen(dup) == msg.client_id.len));
    free(dup);
    edix_frameset_free(&fs);
    return 0;
}

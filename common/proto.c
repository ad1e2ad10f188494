/*
 * proto.c - the one codec for every edix message.  Strict: a wrong frame
 * count, an over-long or empty id, a non-printable id byte or a
 * non-numeric code is refused with a reason.  Between services a refusal
 * is a bug (log and exit); from a partner it is input (answer ERROR 400).
 */
#include "proto.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_names[] = {
    [EDIX_CMD_NONE] = "",           [EDIX_CMD_SUBMIT] = "SUBMIT",   [EDIX_CMD_STATUS] = "STATUS",
    [EDIX_CMD_PING] = "PING",       [EDIX_CMD_RECEIPT] = "RECEIPT", [EDIX_CMD_STATE] = "STATE",
    [EDIX_CMD_ERROR] = "ERROR",     [EDIX_CMD_PONG] = "PONG",       [EDIX_CMD_READY] = "READY",
    [EDIX_CMD_DELIVER] = "DELIVER", [EDIX_CMD_ACK] = "ACK",         [EDIX_CMD_WORK] = "WORK",
};

#define S_NCMDS ((int)(sizeof s_names / sizeof s_names[0]))

const char *
edix_cmd_name(edix_cmd_t cmd)
{
    return (int)cmd > 0 && (int)cmd < S_NCMDS ? s_names[cmd] : "?";
}

static void
s_push(edix_frameset_t *fs, const void *data, size_t len)
{
    if (fs->count == fs->size) {
        fs->size = fs->size ? fs->size * 2 : 8;
        fs->frames = xrealloc(fs->frames, fs->size * sizeof *fs->frames);
    }
    fs->frames[fs->count].data = data ? data : "";
    fs->frames[fs->count].len = len;
    fs->count++;
}

static void
s_push_slice(edix_frameset_t *fs, edix_slice_t s)
{
    s_push(fs, s.data, s.data ? s.len : 0);
}

void
edix_frameset_free(edix_frameset_t *fs)
{
    free(fs->frames);
    fs->frames = NULL;
    fs->count = fs->size = 0;
}

void
edix_proto_encode(const edix_pmsg_t *msg, edix_frameset_t *fs)
{
    const char *name = edix_cmd_name(msg->cmd);
    s_push(fs, name, strlen(name));
    switch (msg->cmd) {
    case EDIX_CMD_SUBMIT:
        s_push_slice(fs, msg->client_id);
        s_push_slice(fs, msg->body);
        break;
    case EDIX_CMD_STATUS:
    case EDIX_CMD_ACK:
        s_push_slice(fs, msg->hub_id);
        break;
    case EDIX_CMD_RECEIPT:
        s_push_slice(fs, msg->client_id);
        s_push_slice(fs, msg->hub_id);
        s_push_slice(fs, msg->statement);
        s_push_slice(fs, msg->signature);
        break;
    case EDIX_CMD_STATE:
        s_push_slice(fs, msg->hub_id);
        s_push_slice(fs, msg->state);
        s_push_slice(fs, msg->text);
        break;
    case EDIX_CMD_ERROR:
        snprintf(fs->num, sizeof fs->num, "%d", msg->code);
        s_push_slice(fs, msg->ref);
        s_push(fs, fs->num, strlen(fs->num));
        s_push_slice(fs, msg->text);
        break;
    case EDIX_CMD_READY:
        snprintf(fs->num, sizeof fs->num, "%d", msg->window);
        s_push(fs, fs->num, strlen(fs->num));
        break;
    case EDIX_CMD_DELIVER:
        s_push_slice(fs, msg->hub_id);
        s_push_slice(fs, msg->sender);
        s_push_slice(fs, msg->doctype);
        s_push_slice(fs, msg->body);
        s_push_slice(fs, msg->signature);
        break;
    case EDIX_CMD_WORK:
        for (size_t i = 0; i < msg->id_count; i++)
            s_push_slice(fs, msg->ids[i]);
        break;
    default:
        break;
    }
}

/* an id: 1..EDIX_PROTO_MAX_ID printable ASCII bytes, no spaces */
static int
s_id_ok(edix_slice_t s)
{
    if (s.len == 0 || s.len > EDIX_PROTO_MAX_ID)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.data[i] <= 0x20 || (unsigned char)s.data[i] >= 0x7f)
            return 0;
    return 1;
}

static int
s_text_ok(edix_slice_t s, size_t max)
{
    if (s.len > max)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if (s.data[i] == '\0')
            return 0;
    return 1;
}

static int
s_number(edix_slice_t s, int min, int max, int *out)
{
    if (s.len == 0 || s.len > 9)
        return -1;
    int n = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.data[i] < '0' || s.data[i] > '9')
            return -1;
        n = n * 10 + (s.data[i] - '0');
    }
    if (n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

int
edix_proto_decode(const edix_slice_t *f, size_t count, edix_pmsg_t *msg, edix_slice_t *ids_storage,
                  char *why, size_t n)
{
    memset(msg, 0, sizeof *msg);
    if (count == 0) {
        snprintf(why, n, "empty message");
        return -1;
    }
    edix_cmd_t cmd = EDIX_CMD_NONE;
    for (int i = 1; i < S_NCMDS; i++)
        if (f[0].len == strlen(s_names[i]) && memcmp(f[0].data, s_names[i], f[0].len) == 0)
            cmd = (edix_cmd_t)i;
    if (cmd == EDIX_CMD_NONE) {
        snprintf(why, n, "unknown command");
        return -1;
    }
    static const size_t want[] = {
        [EDIX_CMD_SUBMIT] = 3,  [EDIX_CMD_STATUS] = 2, [EDIX_CMD_PING] = 1, [EDIX_CMD_RECEIPT] = 5,
        [EDIX_CMD_STATE] = 4,   [EDIX_CMD_ERROR] = 4,  [EDIX_CMD_PONG] = 1, [EDIX_CMD_READY] = 2,
        [EDIX_CMD_DELIVER] = 6, [EDIX_CMD_ACK] = 2,    [EDIX_CMD_WORK] = 0,
    };
    if (cmd == EDIX_CMD_WORK) {
        if (count < 2 || count - 1 > EDIX_PROTO_MAX_WORK) {
            snprintf(why, n, "WORK takes 1 to %d ids, got %zu", EDIX_PROTO_MAX_WORK, count - 1);
            return -1;
        }
    } else if (count != want[cmd]) {
        snprintf(why, n, "%s takes %zu frames, got %zu", s_names[cmd], want[cmd], count);
        return -1;
    }
    msg->cmd = cmd;
    const char *bad = NULL;
    switch (cmd) {
    case EDIX_CMD_SUBMIT:
        msg->client_id = f[1];
        msg->body = f[2];
        if (!s_id_ok(f[1]))
            bad = "client id must be 1-128 printable ASCII characters without spaces";
        else if (f[2].len == 0)
            bad = "empty document";
        break;
    case EDIX_CMD_STATUS:
    case EDIX_CMD_ACK:
        msg->hub_id = f[1];
        if (!s_id_ok(f[1]))
            bad = "malformed message id";
        break;
    case EDIX_CMD_RECEIPT:
        msg->client_id = f[1];
        msg->hub_id = f[2];
        msg->statement = f[3];
        msg->signature = f[4];
        if (!s_id_ok(f[1]) || !s_id_ok(f[2]) || !s_text_ok(f[3], 4096) || f[4].len != 128)
            bad = "malformed receipt";
        break;
    case EDIX_CMD_STATE:
        msg->hub_id = f[1];
        msg->state = f[2];
        msg->text = f[3];
        if (!s_id_ok(f[1]) || !s_id_ok(f[2]) || !s_text_ok(f[3], 1 << 20))
            bad = "malformed state";
        break;
    case EDIX_CMD_ERROR:
        msg->ref = f[1];
        msg->text = f[3];
        if (s_number(f[2], 100, 999, &msg->code) < 0 || !s_text_ok(f[3], 1 << 16) ||
            f[1].len > EDIX_PROTO_MAX_ID)
            bad = "malformed error";
        break;
    case EDIX_CMD_READY:
        if (s_number(f[1], 1, 10000, &msg->window) < 0)
            bad = "READY window must be a number from 1 to 10000";
        break;
    case EDIX_CMD_DELIVER:
        msg->hub_id = f[1];
        msg->sender = f[2];
        msg->doctype = f[3];
        msg->body = f[4];
        msg->signature = f[5];
        if (!s_id_ok(f[1]) || !s_id_ok(f[2]) || !s_id_ok(f[3]) ||
            (f[5].len != 0 && f[5].len != 128))
            bad = "malformed delivery";
        break;
    case EDIX_CMD_WORK:
        msg->ids = ids_storage;
        msg->id_count = count - 1;
        for (size_t i = 1; i < count; i++) {
            ids_storage[i - 1] = f[i];
            if (!s_id_ok(f[i]))
                bad = "malformed id in WORK";
        }
        break;
    default:
        break;
    }
    if (bad) {
        snprintf(why, n, "%s", bad);
        memset(msg, 0, sizeof *msg);
        return -1;
    }
    return 0;
}

char *
edix_slice_dup(edix_slice_t s)
{
    return xstrndup(s.data ? s.data : "", s.data ? s.len : 0);
}

int
edix_slice_eq(edix_slice_t s, const char *str)
{
    size_t n = strlen(str);
    /* an empty slice may have NULL data, which memcmp must not be given */
    return s.len == n && (n == 0 || memcmp(s.data, str, n) == 0);
}

/*
 * proto.h - every message edix processes exchange, as one enum and one
 * codec.  docs/protocol.md describes the frames for partner implementers.
 *
 * A message is a ZeroMQ multipart message: frame 0 is the command name in
 * ASCII, the other frames are that command's fields in a fixed order.  The
 * decoder checks the frame count, every length and every character set,
 * and refuses extra frames.  Decoded fields point into the received frames
 * (no copies): they live as long as the edix_frames_t they came from.
 */
#ifndef EDIX_PROTO_H
#define EDIX_PROTO_H

#include <stddef.h>

typedef enum {
    EDIX_CMD_NONE = 0,
    /* partner -> intake */
    EDIX_CMD_SUBMIT, /* client_id, body */
    EDIX_CMD_STATUS, /* hub_id */
    EDIX_CMD_PING,   /* (nothing) */
    /* intake -> partner */
    EDIX_CMD_RECEIPT, /* client_id, hub_id, statement, signature */
    EDIX_CMD_STATE,   /* hub_id, state, text (JSON reasons, may be empty) */
    EDIX_CMD_ERROR,   /* ref, code, text */
    EDIX_CMD_PONG,    /* (nothing) */
    /* receiver partner <-> router */
    EDIX_CMD_READY,   /* window: how many unacknowledged deliveries it takes */
    EDIX_CMD_DELIVER, /* hub_id, sender, doctype, body, signature (empty unless from the hub) */
    EDIX_CMD_ACK,     /* hub_id */
    /* between the services: "look in the store, there is work" */
    EDIX_CMD_WORK, /* ids... (at least one) */
} edix_cmd_t;

/* Error codes in ERROR; 4xx permanent (do not retry), 5xx temporary. */
enum {
    EDIX_ERR_BAD_REQUEST = 400, /* malformed message */
    EDIX_ERR_FORBIDDEN = 403,   /* partner not admitted (suspended, retired key) */
    EDIX_ERR_NOT_FOUND = 404,   /* no such message (or not yours) */
    EDIX_ERR_CONFLICT = 409,    /* client id reused for different content */
    EDIX_ERR_TOO_LARGE = 413,   /* document over the size cap */
    EDIX_ERR_TEMPORARY = 503,   /* store busy or full: try again with the same client id */
};

#define EDIX_PROTO_MAX_ID   128 /* client ids, hub ids, partner ids */
#define EDIX_PROTO_MAX_WORK 1024

typedef struct {
    const char *data; /* not NUL-terminated unless noted */
    size_t len;
} edix_slice_t;

typedef struct {
    edix_cmd_t cmd;
    edix_slice_t client_id; /* SUBMIT, RECEIPT */
    edix_slice_t hub_id;    /* STATUS, RECEIPT, STATE, DELIVER, ACK */
    edix_slice_t ref;       /* ERROR: the client id or hub id it answers */
    int code;               /* ERROR */
    int window;             /* READY */
    edix_slice_t state;     /* STATE */
    edix_slice_t sender;    /* DELIVER */
    edix_slice_t doctype;   /* DELIVER */
    edix_slice_t body;      /* SUBMIT, DELIVER */
    edix_slice_t statement; /* RECEIPT */
    edix_slice_t signature; /* RECEIPT, DELIVER */
    edix_slice_t text;      /* STATE (reasons JSON), ERROR (reason) */
    edix_slice_t *ids;      /* WORK: points into the decoder's storage */
    size_t id_count;
} edix_pmsg_t;

/* frames: an array of slices; the codec neither owns nor copies them */
typedef struct {
    edix_slice_t *frames; /* the frames, in order */
    size_t count;         /* frames used */
    size_t size;          /* frames allocated */
    char num[16];         /* storage for a number field (ERROR code, READY window) */
} edix_frameset_t;

const char *edix_cmd_name(edix_cmd_t cmd);

/* Encode msg into frames (appended to fs, pointing at msg's data). */
void edix_proto_encode(const edix_pmsg_t *msg, edix_frameset_t *fs);
void edix_frameset_free(edix_frameset_t *fs);

/* Decode frames into msg.  0 ok; -1 with a reason in why (static text or
 * written to buf of size n).  ids storage: the caller's array of at least
 * EDIX_PROTO_MAX_WORK slices, used for WORK. */
int edix_proto_decode(const edix_slice_t *frames, size_t count, edix_pmsg_t *msg,
                      edix_slice_t *ids_storage, char *why, size_t n);

/* a slice as a new NUL-terminated string */
char *edix_slice_dup(edix_slice_t s);
int edix_slice_eq(edix_slice_t s, const char *str);

#endif

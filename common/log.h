/*
 * log.h - one line per event on stderr, in key=value form, the message id
 * first so that one grep follows a document through every process:
 *
 *   msg=0190a1b2c3d4e5f60708 level=info svc=intake event=accepted sender=acme bytes=5120
 *
 * A line without a message id starts with msg=-.  Values with spaces are
 * quoted.  Never log document contents or secrets.
 */
#ifndef EDIX_LOG_H
#define EDIX_LOG_H

enum { EDIX_LOG_DEBUG, EDIX_LOG_INFO, EDIX_LOG_WARN, EDIX_LOG_ERROR };

/* name of the service for every line; level below which lines are dropped,
 * unless $EDIX_LOG_LEVEL names another: debug, info, warn or error */
void edix_log_init(const char *service, int min_level);
/* fmt continues the line after svc=...: "event=accepted sender=%s" */
void edix_log(int level, const char *msgid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A failure that stops the program: the key=value line "event=EVENT
 * reason=..." and, only when stderr is a terminal (a person, not journald
 * or edix-hub), also "edix-<service>: reason" for that person. */
void edix_log_fatal(const char *event, const char *reason);

#define edix_info(id, ...)  edix_log(EDIX_LOG_INFO, id, __VA_ARGS__)
#define edix_warn(id, ...)  edix_log(EDIX_LOG_WARN, id, __VA_ARGS__)
#define edix_error(id, ...) edix_log(EDIX_LOG_ERROR, id, __VA_ARGS__)
#define edix_debug(id, ...) edix_log(EDIX_LOG_DEBUG, id, __VA_ARGS__)

#endif

/*
 * edix-bench - how fast is the hub, end to end, against the cost of the
 * work it cannot avoid?
 *
 * Starts edix-hub in a temporary home (SQLite with synchronous=FULL, CURVE,
 * XSD, signed receipts, the audit chain: everything on), onboards several
 * senders and receivers, and sends a mix of real UBL documents from the
 * shared corpus (a Peppol BIS invoice and a Peppol order, re-addressed to
 * the onboarded partners' identifiers, check digits and all) with the
 * receivers connected and acknowledging.  Measures:
 *
 *   - the floor: in-process parse + XSD (+ rules) of the same documents on
 *     one core (edix_doc_check), and the ratio end-to-end / floor;
 *   - throughput: every sender submitting as fast as the hub takes it,
 *     from the first submit to the last receiver acknowledgement;
 *   - latency: a fixed offered load (1,000 documents/s by default), from
 *     submit to the receiver's acknowledgement, p50 / p99 / max;
 *   - peak RSS of each service and its growth over the run.
 *
 * The last line is JSON.  Receivers write into a tmpfs directory and
 * delete each file after it is acknowledged: they stand for the partners'
 * systems, whose disks are not what we measure.
 */
#define _GNU_SOURCE
#include "edix/edix.h"
#include "config.h"
#include "doc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PARTNERS 16
#define LAT_SLOTS    (1 << 20)

typedef struct {
    int senders, receivers; /* partners of each kind */
    long docs;              /* documents in the throughput phase */
    int rate;               /* offered load in the latency phase, docs/s */
    int rate_seconds;       /* how long the latency phase lasts */
    int smoke;              /* a tiny run that checks the benchmark works */
    int keep;               /* keep the home for a look at the store */
    const char *lat_file;   /* each measured document's due time and latency */
} opts_t;

typedef struct {
    char *data;
    size_t len;
} doc_t;

/* everything the threads share */
typedef struct {
    char home[PATH_MAX], tmp[PATH_MAX], bin[PATH_MAX];
    char bundle_s[MAX_PARTNERS][PATH_MAX], bundle_r[MAX_PARTNERS][PATH_MAX];
    doc_t *docs;         /* per sender, per receiver: invoice, order */
    size_t ndocs;        /* senders * per_sender */
    size_t per_sender;   /* receivers * 2 */
    atomic_long acked;   /* documents (not notices) acknowledged */
    atomic_long notices; /* notices acknowledged by senders */
    atomic_long bytes_acked;
    volatile int stop; /* receivers stop */
    /* latency: submit time by hub id hash, ack time */
    pthread_mutex_t lat_mu;
    struct {
        char id[25];
        double t_submit, t_ack;
    } * lat;
} bench_t;

static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &n) < 0) {
        perror("edix-bench: port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void
s_run(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "edix-bench: failed (%d): %s\n", rc, cmd);
        exit(1);
    }
}

/* a GLN (GS1, 13 digits) with its check digit */
static void
s_gln(int n, char out[14])
{
    snprintf(out, 14, "730001%06d", 100000 + n);
    int sum = 0;
    for (int i = 0; i < 12; i++)
        sum += (out[i] - '0') * (i % 2 ? 3 : 1);
    out[12] = (char)('0' + (10 - sum % 10) % 10);
    out[13] = '\0';
}

/* a Norwegian organisation number (9 digits, mod 11) */
static void
s_orgnr(int n, char out[10])
{
    static const int w[8] = {3, 2, 7, 6, 5, 4, 3, 2};
    for (int k = n;; k += 1000) {
        snprintf(out, 10, "9%07d", 8765000 + k);
        int sum = 0;
        for (int i = 0; i < 8; i++)
            sum += (out[i] - '0') * w[i];
        int c = 11 - sum % 11;
        if (c == 10)
            continue; /* no valid number with this stem */
        out[8] = (char)('0' + (c == 11 ? 0 : c));
        out[9] = '\0';
        return;
    }
}

static char *
s_replace(const char *text, const char *from, const char *to)
{
    edix_buf_t b;
    edix_buf_init(&b);
    size_t nf = strlen(from);
    const char *p = text, *q;
    while ((q = strstr(p, from))) {
        edix_buf_add(&b, p, (size_t)(q - p));
        edix_buf_adds(&b, to);
        p = q + nf;
    }
    edix_buf_adds(&b, p);
    return edix_buf_take(&b);
}

static doc_t
s_load(const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", EDIX_CORPUS_DIR, rel);
    doc_t d;
    char *err = NULL;
    if (edix_file_read(path, 1 << 24, &d.data, &d.len, &err) < 0) {
        fprintf(stderr, "edix-bench: %s\n", err);
        exit(1);
    }
    return d;
}

static const char *INVOICE = "peppol-bis-invoice-3/rules/snippets/base-example.xml";
static const char *ORDER = "peppol-poacc-upgrade-3/rules/examples/Order use cases/UC1_Order.xml";

/* Document j of sender s to receiver r, re-addressed. */
static doc_t
s_make(const doc_t *tmpl, int is_order, int s, int r)
{
    char gln[14], org[10], fr[16];
    s_gln(s, gln);
    s_orgnr(r, org);
    snprintf(fr, sizeof fr, "FR%05d", 23000 + r);
    char *a = s_replace(tmpl->data, "7300010000001", gln);
    char *b = is_order ? s_replace(a, "987654325", org) : s_replace(a, "FR23342", fr);
    free(a);
    return (doc_t){b, strlen(b)};
}

/* ---- the floor ----------------------------------------------------------- */

static double
s_floor(bench_t *B, double *mb_s)
{
    char *err = NULL;
    char schemas[PATH_MAX], cat[PATH_MAX];
    snprintf(schemas, sizeof schemas, "%s/oasis-ubl-2.1/xsdrt", EDIX_CORPUS_DIR);
    snprintf(cat, sizeof cat, "%s/doctypes.conf", edix_datadir());
    edix_doc_checker_t *ck = edix_doc_checker_new(schemas, cat, &err);
    if (!ck) {
        fprintf(stderr, "edix-bench: %s\n", err);
        exit(1);
    }
    /* every re-addressed document must pass, or the run means nothing */
    for (size_t i = 0; i < B->ndocs; i++) {
        edix_verdict_t *v = NULL;
        edix_doc_check(ck, B->docs[i].data, B->docs[i].len, 10 << 20, &v, &err);
        if (!v || !edix_verdict_valid(v)) {
            char *j = v ? edix_verdict_json(v, "bench document") : NULL;
            fprintf(stderr, "edix-bench: a benchmark document is not valid: %s\n", j ? j : err);
            exit(1);
        }
        edix_verdict_destroy(&v);
    }
    long n = 0;
    size_t bytes = 0;
    double t0 = s_now(), t;
    while ((t = s_now()) - t0 < 2.0) {
        for (int k = 0; k < 100; k++, n++) {
            doc_t *d = &B->docs[n % B->ndocs];
            edix_verdict_t *v = NULL;
            edix_doc_check(ck, d->data, d->len, 10 << 20, &v, &err);
            edix_verdict_destroy(&v);
            bytes += d->len;
        }
    }
    edix_doc_checker_destroy(&ck);
    *mb_s = bytes / (t - t0) / 1e6;
    return n / (t - t0);
}

/* ---- receivers ----------------------------------------------------------- */

typedef struct {
    bench_t *B;
    const char *bundle;
    char dir[PATH_MAX];
    int is_sender; /* senders receive only notices */
} rx_t;

static void
s_on_doc(void *arg, const char *hub_id, const char *sender, const char *doctype, const char *path)
{
    rx_t *rx = arg;
    bench_t *B = rx->B;
    struct stat st;
    int is_notice = strcmp(sender, "hub") == 0;
    if (!is_notice && stat(path, &st) == 0)
        atomic_fetch_add(&B->bytes_acked, st.st_size); /* documents' bytes only */
    unlink(path);
    if (is_notice) {
        atomic_fetch_add(&B->notices, 1);
        return;
    }
    double now = s_now();
    atomic_fetch_add(&B->acked, 1);
    unsigned h = 0;
    for (const char *p = hub_id; *p; p++)
        h = h * 31 + (unsigned char)*p;
    pthread_mutex_lock(&B->lat_mu);
    for (unsigned i = 0; i < LAT_SLOTS; i++) {
        unsigned k = (h + i) & (LAT_SLOTS - 1);
        if (B->lat[k].id[0] == 0 || strcmp(B->lat[k].id, hub_id) == 0) {
            snprintf(B->lat[k].id, sizeof B->lat[k].id, "%s", hub_id);
            if (B->lat[k].t_ack == 0)
                B->lat[k].t_ack = now;
            break;
        }
    }
    pthread_mutex_unlock(&B->lat_mu);
    (void)doctype;
}

static void
s_record_submit(bench_t *B, const char *hub_id, double t)
{
    unsigned h = 0;
    for (const char *p = hub_id; *p; p++)
        h = h * 31 + (unsigned char)*p;
    pthread_mutex_lock(&B->lat_mu);
    for (unsigned i = 0; i < LAT_SLOTS; i++) {
        unsigned k = (h + i) & (LAT_SLOTS - 1);
        if (B->lat[k].id[0] == 0 || strcmp(B->lat[k].id, hub_id) == 0) {
            snprintf(B->lat[k].id, sizeof B->lat[k].id, "%s", hub_id);
            B->lat[k].t_submit = t;
            break;
        }
    }
    pthread_mutex_unlock(&B->lat_mu);
}

static void *
s_receiver(void *arg)
{
    rx_t *rx = arg;
    char *err = NULL;
    edix_client_t *c = edix_client_new(rx->bundle, &err);
    if (!c) {
        fprintf(stderr, "edix-bench: %s\n", err);
        exit(1);
    }
    size_t count = 0;
    if (edix_client_receive(c, rx->dir, 1, 0, &rx->B->stop, s_on_doc, rx, &count, &err) < 0 &&
        !rx->B->stop)
        fprintf(stderr, "edix-bench: receive: %s\n", err);
    free(err);
    edix_client_destroy(&c);
    return NULL;
}

/* ---- senders ------------------------------------------------------------- */

typedef struct {
    bench_t *B;
    int index;         /* sender number */
    long count;        /* documents to send */
    int rate;          /* docs/s for this sender; 0: as fast as possible */
    double duration;   /* paced: seconds */
    long sent;         /* out */
    const char *phase; /* client id prefix */
    double *t_batch;   /* submit time of the current batch */
    int failed;
} tx_t;

static void
s_on_receipt(void *arg, size_t i)
{
    tx_t *tx = arg;
    (void)i;
    (void)tx;
}

static void *
s_sender(void *arg)
{
    tx_t *tx = arg;
    bench_t *B = tx->B;
    char *err = NULL;
    edix_client_t *c = edix_client_new(B->bundle_s[tx->index], &err);
    if (!c) {
        fprintf(stderr, "edix-bench: %s\n", err);
        exit(1);
    }
    /* Paced mode is open loop: document j is due at start + j / rate and
     * goes out with whatever else is due when the previous batch returns,
     * so a slow answer makes the next batch bigger instead of lowering the
     * offered load; its latency counts from when it was due. */
    size_t batch = 64;
    edix_submission_t *subs = xcalloc(batch, sizeof *subs);
    char(*ids)[64] = xcalloc(batch, sizeof *ids);
    double start = s_now();
    long n = 0;
    while (tx->rate ? s_now() - start < tx->duration : n < tx->count) {
        size_t want = batch;
        if (tx->rate) {
            long due = (long)((s_now() - start) * tx->rate) + 1;
            if (due <= n) {
                double left = start + (double)n / tx->rate - s_now();
                if (left > 0) {
                    struct timespec ts = {(time_t)left, (long)((left - (time_t)left) * 1e9)};
                    nanosleep(&ts, NULL);
                }
                continue;
            }
            want = (size_t)(due - n) < batch ? (size_t)(due - n) : batch;
        }
        size_t k = 0;
        for (; k < want && (tx->rate || n + (long)k < tx->count); k++) {
            long j = n + (long)k;
            /* receivers in turn; invoices and orders alternate */
            doc_t *d =
                &B->docs[(size_t)tx->index * B->per_sender + (size_t)(j % (long)B->per_sender)];
            snprintf(ids[k], sizeof ids[k], "%s-%d-%ld", tx->phase, tx->index, j);
            subs[k] = (edix_submission_t){.client_id = ids[k], .doc = d->data, .len = d->len};
        }
        double t = s_now();
        if (edix_client_submit_many(c, subs, k, 60000, s_on_receipt, tx, &err) < 0) {
            fprintf(stderr, "edix-bench: submit: %s\n", err);
            free(err);
            err = NULL;
            tx->failed++;
        }
        for (size_t i = 0; i < k; i++) {
            double due_at = tx->rate ? start + (double)(n + (long)i) / tx->rate : t;
            if (subs[i].status == 1)
                s_record_submit(B, subs[i].receipt.hub_id, due_at < t ? due_at : t);
            edix_submission_clear(&subs[i]);
        }
        n += (long)k;
    }
    tx->sent = n;
    free(subs);
    free(ids);
    edix_client_destroy(&c);
    return NULL;
}

/* ---- processes ------------------------------------------------------------ */

typedef struct {
    pid_t pid;
    char name[32];
    long rss_start_kb, rss_kb, hwm_kb;
    double cpu_start, cpu_tput;    /* CPU seconds: at the start, used in the throughput phase */
    long wchar_start, syscw_start; /* bytes written and write calls at the start */
} proc_t;

/* user + system CPU seconds of a process */
static double
s_cpu(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime */
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long
s_status_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0)
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* a counter from /proc/PID/io: bytes or calls of all writes, fsync aside */
static long
s_io(pid_t pid, const char *key)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
    FILE *f = fopen(path, "r");
    long v = 0;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static int
s_children(pid_t hub, proc_t *out, int max)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)hub, (int)hub);
    FILE *f = fopen(path, "r");
    int n = 0;
    if (!f)
        return 0;
    if (fgets(buf, sizeof buf, f)) {
        for (char *p = strtok(buf, " \n"); p && n < max; p = strtok(NULL, " \n")) {
            out[n].pid = (pid_t)atoi(p);
            char cpath[64];
            snprintf(cpath, sizeof cpath, "/proc/%s/comm", p);
            FILE *c = fopen(cpath, "r");
            if (c) {
                if (fgets(out[n].name, sizeof out[n].name, c))
                    out[n].name[strcspn(out[n].name, "\n")] = 0;
                fclose(c);
            }
            n++;
        }
    }
    fclose(f);
    return n;
}

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void
s_usage(void)
{
    puts("usage: edix-bench [--docs N] [--rate DOCS_PER_S] [--rate-seconds S]\n"
         "                  [--senders N] [--receivers N] [--smoke] [--keep]\n"
         "                  [--latency-file FILE]\n\n"
         "Starts a hub in a temporary home and measures throughput, latency at a\n"
         "fixed offered load, the bare check floor and the services' memory.\n"
         "Defaults: --docs 20000 --rate 1000 --rate-seconds 10 --senders 4 --receivers 4.\n"
         "--keep leaves the temporary home (store, logs) in place.\n"
         "--latency-file writes a line per document of the latency phase: seconds\n"
         "from the phase's start when it was due, its latency in ms, its hub id.\n"
         "The last line is JSON.");
}

int
main(int argc, char **argv)
{
    opts_t o = {.senders = 4, .receivers = 4, .docs = 20000, .rate = 1000, .rate_seconds = 10};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            o.smoke = 1;
            o.docs = 200;
            o.rate = 100;
            o.rate_seconds = 1;
            o.senders = o.receivers = 2;
        } else if (strcmp(argv[i], "--keep") == 0) {
            o.keep = 1;
        } else if (strcmp(argv[i], "--help") == 0) {
            s_usage();
            return 0;
        } else if (i + 1 < argc && strcmp(argv[i], "--latency-file") == 0) {
            o.lat_file = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--docs") == 0) {
            o.docs = atol(argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--rate") == 0) {
            o.rate = atoi(argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--rate-seconds") == 0) {
            o.rate_seconds = atoi(argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--senders") == 0) {
            o.senders = atoi(argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--receivers") == 0) {
            o.receivers = atoi(argv[++i]);
        } else {
            s_usage();
            return 1;
        }
    }
    if (o.senders < 1 || o.senders > MAX_PARTNERS || o.receivers < 1 ||
        o.receivers > MAX_PARTNERS || o.docs < 1 || o.rate < 0 || o.rate_seconds < 0) {
        fprintf(stderr, "edix-bench: senders and receivers 1-%d, docs > 0\n", MAX_PARTNERS);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    static bench_t B;
    pthread_mutex_init(&B.lat_mu, NULL);
    B.lat = xcalloc(LAT_SLOTS, sizeof *B.lat);

    ssize_t len = readlink("/proc/self/exe", B.bin, sizeof B.bin - 1);
    if (len <= 0)
        return 1;
    B.bin[len] = 0;
    *strrchr(B.bin, '/') = 0;
    snprintf(B.tmp, sizeof B.tmp, "/tmp/edix-bench-XXXXXX");
    if (!mkdtemp(B.tmp)) {
        perror("edix-bench: mkdtemp");
        return 1;
    }
    snprintf(B.home, sizeof B.home, "%s/home", B.tmp);
    int pin = s_free_port(), pde = s_free_port();
    s_run("'%s/edix-admin' --home '%s' init --intake tcp://127.0.0.1:%d --delivery "
          "tcp://127.0.0.1:%d --schemas '%s/oasis-ubl-2.1/xsdrt' >/dev/null",
          B.bin, B.home, pin, pde, EDIX_CORPUS_DIR);

    /* documents: per sender, to each receiver, one invoice and one order */
    doc_t inv = s_load(INVOICE), ord = s_load(ORDER);
    size_t per_sender = (size_t)o.receivers * 2;
    B.per_sender = per_sender;
    B.ndocs = per_sender * (size_t)o.senders;
    B.docs = xcalloc(B.ndocs, sizeof *B.docs);
    for (int s = 0; s < o.senders; s++)
        for (int r = 0; r < o.receivers; r++) {
            B.docs[(size_t)s * per_sender + (size_t)r * 2] = s_make(&inv, 0, s, r);
            B.docs[(size_t)s * per_sender + (size_t)r * 2 + 1] = s_make(&ord, 1, s, r);
        }
    size_t real_docs = B.ndocs;
    size_t avg = 0;
    for (size_t i = 0; i < real_docs; i++)
        avg += B.docs[i].len;
    avg /= real_docs;

    for (int s = 0; s < o.senders; s++) {
        char gln[14];
        s_gln(s, gln);
        snprintf(B.bundle_s[s], PATH_MAX, "%s/sender%d.bundle", B.tmp, s);
        s_run("'%s/edix-admin' --home '%s' partner add sender%d --name 'Sender %d' --id 0088:%s "
              "--send Invoice,Order --receive ApplicationResponse --bundle '%s' >/dev/null",
              B.bin, B.home, s, s, gln, B.bundle_s[s]);
    }
    for (int r = 0; r < o.receivers; r++) {
        char org[10];
        s_orgnr(r, org);
        snprintf(B.bundle_r[r], PATH_MAX, "%s/receiver%d.bundle", B.tmp, r);
        s_run("'%s/edix-admin' --home '%s' partner add receiver%d --name 'Receiver %d' --id "
              "0002:FR%05d --id 0192:%s --send ApplicationResponse --receive Invoice,Order "
              "--bundle '%s' >/dev/null",
              B.bin, B.home, r, r, 23000 + r, org, B.bundle_r[r]);
    }

    /* the floor first, on an idle machine */
    double bare_mb, bare = s_floor(&B, &bare_mb);
    printf("documents: Peppol BIS invoice %zu bytes, Peppol order %zu bytes (mix, avg %zu)\n",
           B.docs[0].len, B.docs[1].len, avg);
    printf("floor (parse + XSD + rules, one core, in process): %.0f docs/s, %.1f MB/s\n", bare,
           bare_mb);
    fflush(stdout);

    /* the hub */
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/hub.log", B.tmp);
    pid_t hub = fork();
    if (hub == 0) {
        /* logs at info, a line per step of each document, as in service */
        unsetenv("EDIX_LOG_LEVEL");
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        char exe[PATH_MAX + 16];
        snprintf(exe, sizeof exe, "%s/edix-hub", B.bin);
        execl(exe, exe, "--home", B.home, "--foreground", (char *)NULL);
        _exit(127);
    }
    /* receivers (and senders, for their notices) */
    pthread_t rth[2 * MAX_PARTNERS];
    rx_t rxs[2 * MAX_PARTNERS];
    int nrx = 0;
    for (int r = 0; r < o.receivers; r++, nrx++) {
        rxs[nrx] = (rx_t){.B = &B, .bundle = B.bundle_r[r]};
        snprintf(rxs[nrx].dir, PATH_MAX, "/dev/shm/edix-bench-%d-r%d", (int)getpid(), r);
    }
    for (int s = 0; s < o.senders; s++, nrx++) {
        rxs[nrx] = (rx_t){.B = &B, .bundle = B.bundle_s[s], .is_sender = 1};
        snprintf(rxs[nrx].dir, PATH_MAX, "/dev/shm/edix-bench-%d-s%d", (int)getpid(), s);
    }
    for (int i = 0; i < nrx; i++)
        pthread_create(&rth[i], NULL, s_receiver, &rxs[i]);

    /* wait for the services: a first document round trip */
    proc_t procs[8];
    int nprocs = 0;
    double t_wait = s_now();
    while ((nprocs = s_children(hub, procs, 8)) < 3 && s_now() - t_wait < 30) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    tx_t warm = {.B = &B, .index = 0, .count = 10, .phase = "warm"};
    s_sender(&warm);
    while (atomic_load(&B.acked) < 10 && s_now() - t_wait < 60) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&B.acked) < 10) {
        fprintf(stderr, "edix-bench: the hub did not deliver the warm-up documents (see %s)\n",
                log);
        return 1;
    }
    nprocs = s_children(hub, procs, 8);
    for (int i = 0; i < nprocs; i++) {
        procs[i].rss_start_kb = s_status_kb(procs[i].pid, "VmRSS:");
        procs[i].cpu_start = s_cpu(procs[i].pid);
        procs[i].wchar_start = s_io(procs[i].pid, "wchar");
        procs[i].syscw_start = s_io(procs[i].pid, "syscw");
    }
    double self_cpu0 = s_cpu(getpid());

    /* throughput */
    long base = atomic_load(&B.acked);
    long notices_base = atomic_load(&B.notices);
    long base_bytes = atomic_load(&B.bytes_acked);
    tx_t txs[MAX_PARTNERS];
    pthread_t tth[MAX_PARTNERS];
    double t0 = s_now();
    for (int s = 0; s < o.senders; s++) {
        txs[s] = (tx_t){.B = &B,
                        .index = s,
                        .phase = "tput",
                        .count = o.docs / o.senders + (s < o.docs % o.senders)};
        pthread_create(&tth[s], NULL, s_sender, &txs[s]);
    }
    for (int s = 0; s < o.senders; s++)
        pthread_join(tth[s], NULL);
    double t_submitted = s_now();
    while (atomic_load(&B.acked) - base < o.docs && s_now() - t_submitted < 120) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    double t1 = s_now();
    long done = atomic_load(&B.acked) - base;
    double mb = (double)(atomic_load(&B.bytes_acked) - base_bytes) / (t1 - t0) / 1e6;
    double tput = done / (t1 - t0);
    printf("throughput: %ld documents in %.2f s: %.0f docs/s, %.1f MB/s (submits done after "
           "%.2f s)\n",
           done, t1 - t0, tput, mb, t_submitted - t0);
    /* Each document's "delivered" notice is still on its way to its sender
     * when the last receiver acks: wait for them all, so the latency phase
     * starts on a hub with nothing left over and measures its load alone. */
    long notices_out = o.docs - (atomic_load(&B.notices) - notices_base);
    while (atomic_load(&B.notices) - notices_base < o.docs && s_now() - t1 < 120) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    double t_drained = s_now();
    printf("notices: %ld of %ld still on their way at the last receiver ack; the last was "
           "acknowledged by its sender %.2f s later (%.0f docs/s with notices done)\n",
           notices_out, o.docs, t_drained - t1, done / (t_drained - t0));
    printf("CPU in the throughput phase, notices included:");
    for (int i = 0; i < nprocs; i++) {
        procs[i].cpu_tput = s_cpu(procs[i].pid) - procs[i].cpu_start;
        printf(" %s %.2f s (%.0f us/doc);", procs[i].name, procs[i].cpu_tput,
               procs[i].cpu_tput / (double)(done ? done : 1) * 1e6);
    }
    printf(" partners (this process) %.2f s\n", s_cpu(getpid()) - self_cpu0);
    printf("writes in the throughput phase (store, WAL, logs):");
    for (int i = 0; i < nprocs; i++) {
        long w = s_io(procs[i].pid, "wchar") - procs[i].wchar_start;
        long c = s_io(procs[i].pid, "syscw") - procs[i].syscw_start;
        printf(" %s %.1f kB/doc in %.1f calls/doc;", procs[i].name,
               (double)w / 1024.0 / (double)(done ? done : 1),
               (double)c / (double)(done ? done : 1));
    }
    printf("\n");
    fflush(stdout);

    /* latency at a fixed offered load */
    memset(B.lat, 0, LAT_SLOTS * sizeof *B.lat);
    long lat_base = atomic_load(&B.acked);
    double t_rate = s_now();
    for (int s = 0; s < o.senders; s++) {
        txs[s] = (tx_t){.B = &B,
                        .index = s,
                        .phase = "rate",
                        .rate = o.rate / o.senders > 0 ? o.rate / o.senders : 1,
                        .duration = o.rate_seconds};
        pthread_create(&tth[s], NULL, s_sender, &txs[s]);
    }
    long offered = 0;
    for (int s = 0; s < o.senders; s++) {
        pthread_join(tth[s], NULL);
        offered += txs[s].sent;
    }
    double t_lat = s_now();
    while (atomic_load(&B.acked) - lat_base < offered && s_now() - t_lat < 60) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    double *lats = xcalloc((size_t)offered + 1, sizeof *lats);
    size_t nl = 0;
    for (size_t k = 0; k < LAT_SLOTS; k++)
        if (B.lat[k].id[0] && B.lat[k].t_submit > 0 && B.lat[k].t_ack > 0 && nl < (size_t)offered)
            lats[nl++] = (B.lat[k].t_ack - B.lat[k].t_submit) * 1000.0;
    if (o.lat_file) {
        FILE *f = fopen(o.lat_file, "w");
        if (!f) {
            perror(o.lat_file);
            return 1;
        }
        /* the wall clock at the phase's start, for lining up with the
         * audit records' times */
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        fprintf(f, "# start %.4f\n", wall.tv_sec + wall.tv_nsec / 1e9 - (s_now() - t_rate));
        for (size_t k = 0; k < LAT_SLOTS; k++)
            if (B.lat[k].id[0] && B.lat[k].t_submit > 0 && B.lat[k].t_ack > 0)
                fprintf(f, "%.4f %.2f %s\n", B.lat[k].t_submit - t_rate,
                        (B.lat[k].t_ack - B.lat[k].t_submit) * 1000.0, B.lat[k].id);
        fclose(f);
    }
    qsort(lats, nl, sizeof *lats, s_cmp_double);
    double p50 = nl ? lats[nl / 2] : 0, p99 = nl ? lats[(size_t)(nl * 0.99)] : 0,
           pmax = nl ? lats[nl - 1] : 0;
    printf("latency at %d docs/s offered for %d s (%ld documents, %zu measured): p50 %.1f ms, "
           "p99 %.1f ms, max %.1f ms\n",
           o.rate, o.rate_seconds, offered, nl, p50, p99, pmax);

    double max_rss = 0;
    for (int i = 0; i < nprocs; i++) {
        procs[i].rss_kb = s_status_kb(procs[i].pid, "VmRSS:");
        procs[i].hwm_kb = s_status_kb(procs[i].pid, "VmHWM:");
        printf("memory %-15s peak RSS %.1f MB, RSS %.1f MB at start of measurement, %.1f MB at "
               "end\n",
               procs[i].name, procs[i].hwm_kb / 1024.0, procs[i].rss_start_kb / 1024.0,
               procs[i].rss_kb / 1024.0);
        if (procs[i].hwm_kb / 1024.0 > max_rss)
            max_rss = procs[i].hwm_kb / 1024.0;
    }
    printf("ratio end-to-end / floor: %.2f\n", tput / bare);

    B.stop = 1;
    kill(hub, SIGTERM);
    int status;
    waitpid(hub, &status, 0);
    for (int i = 0; i < nrx; i++)
        pthread_join(rth[i], NULL);
    int ok = done == o.docs && nl > 0;
    printf("{\"docs_per_s\":%.0f,\"mb_per_s\":%.2f,\"bare_docs_per_s\":%.0f,\"ratio\":%.3f,"
           "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,\"max_rss_mb\":%.1f,\"docs\":%ld}\n",
           tput, mb, bare, tput / bare, p50, p99, pmax, max_rss, done);
    if (!ok)
        fprintf(stderr, "edix-bench: %ld of %ld documents delivered; hub log in %s\n", done, o.docs,
                log);
    else if (o.keep)
        printf("the home is kept in %s\n", B.home);
    else
        s_run("rm -rf '%s' /dev/shm/edix-bench-%d-*", B.tmp, (int)getpid());
    free(lats);
    free(inv.data);
    free(ord.data);
    for (size_t i = 0; i < B.ndocs; i++)
        free(B.docs[i].data);
    free(B.docs);
    free(B.lat);
    return ok ? 0 : 1;
}

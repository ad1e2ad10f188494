/*
 * edix-hub - the supervisor, in the manner of Postfix's master: starts
 * edix-intake, edix-validator and edix-router as child processes, restarts
 * one that exits with a backoff (100 ms doubling to 10 s, reset after a
 * minute of good running), and on SIGTERM or SIGINT stops them all: SIGTERM,
 * then SIGKILL for any still running after 5 seconds.
 *
 * Without --foreground it detaches and logs to HOME/hub.log.
 */
#define _GNU_SOURCE /* pipe2 */
#include "config.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HUB_STOP_GRACE_MS 5000
#define HUB_BACKOFF_MIN   100
#define HUB_BACKOFF_MAX   10000
#define HUB_STABLE_MS     60000

typedef struct {
    const char *name;    /* intake, validator, router */
    char path[PATH_MAX]; /* the executable */
    pid_t pid;           /* 0 when not running */
    int64_t started;     /* monotonic ms */
    int64_t restart_at;  /* when to start it again */
    int backoff;         /* ms */
    int restarts;
} s_child_t;

static volatile sig_atomic_t s_stop, s_child_event;
static int s_wake[2] = {-1, -1}; /* self-pipe: signals wake the poll */

static void
s_on_stop(int sig)
{
    (void)sig;
    s_stop = 1;
    int saved = errno;
    ssize_t n = write(s_wake[1], "x", 1);
    (void)n;
    errno = saved;
}

static void
s_on_child(int sig)
{
    (void)sig;
    s_child_event = 1;
    int saved = errno;
    ssize_t n = write(s_wake[1], "c", 1);
    (void)n;
    errno = saved;
}

static int
s_start(s_child_t *c, const char *home)
{
    pid_t pid = fork();
    if (pid < 0) {
        edix_error(NULL, "event=fork-failed service=%s reason=\"%s\"", c->name, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        close(s_wake[0]);
        close(s_wake[1]);
        char *argv[] = {c->path, "--home", (char *)home, NULL};
        execv(c->path, argv);
        edix_error(NULL, "event=exec-failed service=%s path=%s reason=\"%s\"", c->name, c->path,
                   strerror(errno));
        _exit(127);
    }
    c->pid = pid;
    c->started = edix_mono_ms();
    edix_info(NULL, "event=started service=%s pid=%ld", c->name, (long)pid);
    return 0;
}

static void
s_reap(s_child_t *kids, size_t n)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < n; i++) {
            s_child_t *c = &kids[i];
            if (c->pid != pid)
                continue;
            c->pid = 0;
            int64_t now = edix_mono_ms();
            if (now - c->started > HUB_STABLE_MS)
                c->backoff = 0;
            c->backoff = c->backoff ? c->backoff * 2 : HUB_BACKOFF_MIN;
            if (c->backoff > HUB_BACKOFF_MAX)
                c->backoff = HUB_BACKOFF_MAX;
            c->restart_at = now + c->backoff;
            if (!s_stop) {
                c->restarts++;
                if (WIFSIGNALED(status))
                    edix_warn(NULL, "event=crashed service=%s signal=%d restart_in_ms=%d", c->name,
                              WTERMSIG(status), c->backoff);
                else
                    edix_warn(NULL, "event=exited service=%s status=%d restart_in_ms=%d", c->name,
                              WEXITSTATUS(status), c->backoff);
            }
        }
    }
}

static void
s_usage(FILE *f)
{
    fputs("usage: edix-hub [--home DIR] [--foreground]\n\n"
          "Runs an edix hub: starts edix-intake, edix-validator and edix-router,\n"
          "restarts any that stops, and stops them all on SIGTERM.\n\n"
          "--home DIR     the hub's home (default $EDIX_HOME)\n"
          "--foreground   stay attached and log to stderr (for systemd and tests);\n"
          "               otherwise detach and log to HOME/hub.log\n\n"
          "Logs from EDIX_LOG_LEVEL up: debug, info (the default), warn or error;\n"
          "the services inherit it.\n",
          f);
}

static int
s_detach(const char *home)
{
    char *log = xasprintf("%s/hub.log", home);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "edix-hub: cannot open %s: %s\n", log, strerror(errno));
        free(log);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "edix-hub: cannot fork: %s\n", strerror(errno));
        close(fd);
        free(log);
        return -1;
    }
    if (pid > 0) {
        printf("edix-hub running as pid %ld; log in %s\n", (long)pid, log);
        _exit(0);
    }
    setsid();
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        close(null);
    }
    close(fd);
    free(log);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *home_opt = NULL;
    int foreground = 0;
    char *err = NULL;
    edix_log_init("hub", EDIX_LOG_INFO);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            s_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--foreground") == 0) {
            foreground = 1;
        } else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
            home_opt = argv[++i];
        } else {
            fprintf(stderr, "edix-hub: unknown argument %s (see --help)\n", argv[i]);
            return 1;
        }
    }
    char *home = edix_home_resolve(home_opt, &err);
    edix_config_t *cfg = home ? edix_config_load(home, &err) : NULL;
    if (!cfg) {
        edix_log_fatal("start-failed", err);
        free(err);
        free(home);
        return 1;
    }
    edix_config_destroy(&cfg);

    /* the services live beside this executable */
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        edix_log_fatal("start-failed", "cannot find my own executable");
        return 1;
    }
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    s_child_t kids[] = {{.name = "intake"}, {.name = "validator"}, {.name = "router"}};
    size_t nkids = sizeof kids / sizeof kids[0];
    for (size_t i = 0; i < nkids; i++) {
        int w = snprintf(kids[i].path, sizeof kids[i].path, "%s/edix-%s", self, kids[i].name);
        if (w < 0 || (size_t)w >= sizeof kids[i].path || access(kids[i].path, X_OK) < 0) {
            char *why = xasprintf("%s: %s", kids[i].path, strerror(errno));
            edix_log_fatal("start-failed", why);
            free(why);
            return 1;
        }
    }
    if (!foreground && s_detach(home) < 0)
        return 1;

    if (pipe2(s_wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        edix_log_fatal("start-failed", strerror(errno));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = s_on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = s_on_child;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);

    edix_info(NULL, "event=hub-start home=%s pid=%ld", home, (long)getpid());
    for (size_t i = 0; i < nkids; i++)
        s_start(&kids[i], home);

    while (!s_stop) {
        int64_t now = edix_mono_ms();
        int wait = 1000;
        for (size_t i = 0; i < nkids; i++) {
            if (kids[i].pid)
                continue;
            if (kids[i].restart_at <= now)
                s_start(&kids[i], home);
            else if (kids[i].restart_at - now < wait)
                wait = (int)(kids[i].restart_at - now);
        }
        struct pollfd pfd = {.fd = s_wake[0], .events = POLLIN};
        poll(&pfd, 1, wait);
        char buf[64];
        while (read(s_wake[0], buf, sizeof buf) > 0)
            ;
        if (s_child_event) {
            s_child_event = 0;
            s_reap(kids, nkids);
        }
    }

    edix_info(NULL, "event=hub-stopping");
    for (size_t i = 0; i < nkids; i++)
        if (kids[i].pid)
            kill(kids[i].pid, SIGTERM);
    int64_t deadline = edix_mono_ms() + HUB_STOP_GRACE_MS;
    for (;;) {
        s_reap(kids, nkids);
        int running = 0;
        for (size_t i = 0; i < nkids; i++)
            running += kids[i].pid != 0;
        if (!running)
            break;
        int64_t left = deadline - edix_mono_ms();
        if (left <= 0) {
            for (size_t i = 0; i < nkids; i++)
                if (kids[i].pid) {
                    edix_warn(NULL, "event=kill service=%s", kids[i].name);
                    kill(kids[i].pid, SIGKILL);
                }
            deadline = edix_mono_ms() + 1000;
            continue;
        }
        struct pollfd pfd = {.fd = s_wake[0], .events = POLLIN};
        poll(&pfd, 1, (int)(left < 100 ? left : 100));
        char buf[64];
        while (read(s_wake[0], buf, sizeof buf) > 0)
            ;
    }
    edix_info(NULL, "event=hub-stop");
    free(home);
    return 0;
}

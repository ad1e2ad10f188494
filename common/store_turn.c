/*
 * store_turn.c - the writers' queue in front of SQLite's write lock.
 *
 * SQLite's write lock has no queue.  A writer that finds it taken sleeps
 * in the busy handler (50 us doubling to 1 ms) and tries again, so the lock
 * is idle between one writer's commit and the next waiter's wake-up, and a
 * waiter that slept 1 ms may find it taken again by someone who just came.
 * With three services committing several hundred times a second each, the
 * waits add up along a document's way.
 *
 * Here writers queue in the kernel instead: a process-shared robust mutex
 * in a small file next to the store (edix.db-writers) is taken before
 * BEGIN IMMEDIATE and given back after COMMIT or ROLLBACK, so a waiter
 * sleeps on a futex and is woken the moment the lock is free.  The queue
 * only orders writers; SQLite's lock stays the real one:
 *  - a writer that does not use the queue (a checkpoint's restart, another
 *    program) is waited for by the busy handler, as before;
 *  - a holder that died leaves the mutex "owner died": the next writer
 *    takes it over (SQLite has already ignored the dead transaction);
 *  - a wait is bounded by STORE_TURN_WAIT_MS: a queue that kept a writer
 *    waiting that long has a holder that is stuck or lost it, and that
 *    connection goes on without it (SQLite's busy timeout decides);
 *  - any failure to set the file up (a read-only home, say) leaves the
 *    store without the queue, working as before.
 * The file holds no data: deleting it while nobody writes loses nothing.
 */
#define _GNU_SOURCE /* F_OFD_SETLKW */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STORE_TURN_MAGIC   0x65647831u /* "edx1" */
#define STORE_TURN_WAIT_MS 5000

struct store_turn {
    uint32_t magic; /* set once mu is initialised */
    pthread_mutex_t mu;
};

/* Set the mutex up if nobody has; callers hold the file's OFD lock, so two
 * processes never initialise it at once. */
static int
s_turn_init(struct store_turn *t)
{
    if (t->magic == STORE_TURN_MAGIC)
        return 0;
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc == 0)
        rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    /* a thread that asks twice gets EDEADLK at once rather than waiting */
    if (rc == 0)
        rc = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    if (rc == 0)
        rc = pthread_mutex_init(&t->mu, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0)
        return -1;
    __atomic_store_n(&t->magic, STORE_TURN_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

struct store_turn *
store_turn_open(const char *db_path)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s-writers", db_path) >= (int)sizeof path)
        return NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    struct store_turn *t = NULL;
    struct stat st;
    if (fcntl(fd, F_OFD_SETLKW, &fl) < 0)
        goto out;
    if (fstat(fd, &st) == 0 && (st.st_size >= (off_t)sizeof *t || ftruncate(fd, sizeof *t) == 0)) {
        t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (t == MAP_FAILED)
            t = NULL;
        else if (s_turn_init(t) < 0) {
            munmap(t, sizeof *t);
            t = NULL;
        }
    }
    fl.l_type = F_UNLCK;
    fcntl(fd, F_OFD_SETLK, &fl);
out:
    close(fd); /* the mapping stays */
    return t;
}

int
store_turn_lock(struct store_turn *t)
{
    if (!t)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += STORE_TURN_WAIT_MS / 1000;
    int rc = pthread_mutex_clocklock(&t->mu, CLOCK_MONOTONIC, &ts);
    if (rc == EOWNERDEAD) {
        /* its holder died inside a transaction, which SQLite ignores */
        pthread_mutex_consistent(&t->mu);
        rc = 0;
    }
    return rc == 0;
}

void
store_turn_unlock(struct store_turn *t)
{
    if (t)
        pthread_mutex_unlock(&t->mu);
}

void
store_turn_close(struct store_turn **t_p)
{
    if (*t_p)
        munmap(*t_p, sizeof **t_p);
    *t_p = NULL;
}

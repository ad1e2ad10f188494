/*
 * test_store_turn.c - unit tests of the writers' queue (store_turn.c) in
 * front of SQLite's write lock: its file is private, a writer waits in it
 * until the holder gives it back (and not longer), a holder that died is
 * taken over at once, and a holder that never gives it back costs a writer
 * one bounded wait, after which its connection goes on without the queue.
 *
 * The other holder is a child process using the queue directly, so the
 * store's SQLite lock stays free: whatever the store waits for is the
 * queue.  Times are CLOCK_MONOTONIC, which both processes share.
 */
#include "store.h"
#include "store_int.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    char dir[64];        /* the test's temporary directory */
    char *path;          /* the store file */
    edix_store_t *store; /* open on path */
    pid_t child;         /* the other holder, if any */
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = xcalloc(1, sizeof *f);
    char *err = NULL;
    snprintf(f->dir, sizeof f->dir, "/tmp/edix-test-turn-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->path = xasprintf("%s/edix.db", f->dir);
    f->store = edix_store_open(f->path, 1, &err);
    if (!f->store)
        fail_msg("open: got error %s, want a store", err ? err : "?");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    if (f->child > 0) {
        kill(f->child, SIGKILL);
        waitpid(f->child, NULL, 0);
    }
    edix_store_close(&f->store);
    char *cmd = xasprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f->path);
    free(f);
    return 0;
}

/* begin and commit a transaction; how long begin waited, in ms */
static int64_t
s_write(fixture_t *f)
{
    char *err = NULL;
    int64_t t0 = edix_mono_ms();
    if (edix_store_begin(f->store, &err) != 0)
        fail_msg("begin: got error %s, want success", err ? err : "?");
    int64_t waited = edix_mono_ms() - t0;
    if (edix_store_commit(f->store, &err) != 0)
        fail_msg("commit: got error %s, want success", err ? err : "?");
    return waited;
}

typedef enum { HOLD_FOR, HOLD_AND_DIE, HOLD_FOREVER } hold_t;

/* A child takes the queue and says so on the pipe; then, by how:
 * gives it back after ms (writing the time it does so first), exits
 * holding it, or holds it until killed.  Returns the read end. */
static int
s_child_holds(fixture_t *f, hold_t how, int ms)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    f->child = fork();
    assert_true(f->child >= 0);
    if (f->child == 0) {
        close(p[0]);
        struct store_turn *t = store_turn_open(f->path);
        if (!t || !store_turn_lock(t))
            _exit(1);
        char ok = 'L';
        if (write(p[1], &ok, 1) != 1)
            _exit(1);
        if (how == HOLD_AND_DIE)
            _exit(0);
        if (how == HOLD_FOREVER)
            for (;;)
                pause();
        int64_t until = edix_mono_ms() + ms;
        while (edix_mono_ms() < until)
            ; /* a writer busy for ms */
        int64_t released = edix_mono_ms();
        if (write(p[1], &released, sizeof released) != sizeof released)
            _exit(1);
        store_turn_unlock(t);
        _exit(0);
    }
    close(p[1]);
    char ok = 0;
    if (read(p[0], &ok, 1) != 1 || ok != 'L')
        fail_msg("child: could not take the queue");
    return p[0];
}

/* the queue's file sits next to the store, private like it */
static void
test_queue_file_private(void **state)
{
    fixture_t *f = *state;
    s_write(f);
    char *q = xasprintf("%s-writers", f->path);
    struct stat st;
    if (stat(q, &st) != 0)
        fail_msg("%s: got no file after a write, want the queue's file", q);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(q);
}

/* a writer waits until the queue's holder gives it back, and no longer */
static void
test_writer_waits_in_queue(void **state)
{
    fixture_t *f = *state;
    s_write(f); /* the queue is set up */
    int fd = s_child_holds(f, HOLD_FOR, 300);
    int64_t waited = s_write(f);
    int64_t got = edix_mono_ms(), released = 0;
    if (read(fd, &released, sizeof released) != sizeof released)
        fail_msg("child: got no release time");
    close(fd);
    if (got < released)
        fail_msg("begin returned %lld ms before the holder gave the queue back, want after",
                 (long long)(released - got));
    if (waited > 2000)
        fail_msg("begin waited %lld ms for a holder of 300 ms, want it woken when it is free",
                 (long long)waited);
}

/* a holder that died holding the queue: the next writer takes it over at
 * once, and the queue goes on working */
static void
test_dead_holder_taken_over(void **state)
{
    fixture_t *f = *state;
    s_write(f);
    int fd = s_child_holds(f, HOLD_AND_DIE, 0);
    close(fd);
    waitpid(f->child, NULL, 0);
    f->child = 0;
    int64_t waited = s_write(f);
    if (waited > 1000)
        fail_msg("begin after the holder died: got a wait of %lld ms, want none",
                 (long long)waited);
    fd = s_child_holds(f, HOLD_FOR, 200);
    s_write(f);
    int64_t got = edix_mono_ms(), released = 0;
    if (read(fd, &released, sizeof released) != sizeof released)
        fail_msg("child: got no release time");
    close(fd);
    if (got < released)
        fail_msg("after a takeover the queue is not waited for");
}

/* a holder that never gives the queue back: one bounded wait (5 s), then
 * this connection writes without the queue */
static void
test_stuck_holder_bounded(void **state)
{
    fixture_t *f = *state;
    s_write(f);
    int fd = s_child_holds(f, HOLD_FOREVER, 0);
    alarm(60); /* should the store wait forever, end the test rather than hang */
    int64_t first = s_write(f);
    int64_t second = s_write(f);
    alarm(0);
    close(fd);
    if (first < 4000 || first > 10000)
        fail_msg("begin behind a stuck holder: got a wait of %lld ms, want about 5 s",
                 (long long)first);
    if (second > 1000)
        fail_msg("the next begin: got a wait of %lld ms, want none (queue given up)",
                 (long long)second);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_file_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_waits_in_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_holder_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stuck_holder_bounded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

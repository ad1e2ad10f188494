/*
 * test_util.c - unit tests of the small helpers in util.c: JSON string
 * escaping (quotes, backslashes, every control character), the atomic file
 * write (content, mode whatever the umask, replacement, exclusive refusal,
 * no temporary file left behind), hex decoding, RFC 3339 time formatting
 * and trimming.  Files go to a mkdtemp directory that teardown removes.
 */
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char dir[64]; /* the test's temporary directory */
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/edix-test-util-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    char *cmd = xasprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f);
    return 0;
}

/* the names in dir, sorted, space-separated (static buffer) */
static const char *
s_listing(const char *dir)
{
    static char out[1024];
    char *names[32];
    size_t n = 0, len = 0;
    DIR *d = opendir(dir);
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL && n < 32)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            names[n++] = xstrdup(e->d_name);
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", i ? " " : "", names[i]);
        free(names[i]);
    }
    return out;
}

static void
s_expect_file(const char *path, const char *want, mode_t want_mode)
{
    char *data = NULL, *err = NULL;
    size_t len;
    struct stat st;

    if (edix_file_read(path, 1 << 20, &data, &len, &err) != 0)
        fail_msg("read %s: got error %s, want success", path, err ? err : "?");
    if (len != strlen(want) || memcmp(data, want, len) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", path, data, want);
    free(data);
    assert_int_equal(stat(path, &st), 0);
    if ((st.st_mode & 07777) != want_mode)
        fail_msg("%s: got mode %04o, want %04o", path, (unsigned)(st.st_mode & 07777),
                 (unsigned)want_mode);
}

/* ---- JSON strings ------------------------------------------------------- */

static void
test_json_str(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {NULL, "null"},
        {"", "\"\""},
        {"plain text", "\"plain text\""},
        {"say \"hi\"", "\"say \\\"hi\\\"\""},
        {"C:\\path\\", "\"C:\\\\path\\\\\""},
        {"a\nb\rc\td", "\"a\\nb\\rc\\td\""},
        {"\x01", "\"\\u0001\""},
        {"bell\a back\b ff\f vt\v", "\"bell\\u0007 back\\u0008 ff\\u000c vt\\u000b\""},
        {"\x1f\x1b", "\"\\u001f\\u001b\""},
        {"/ stays /", "\"/ stays /\""},
        {"\x7f", "\"\x7f\""},                                         /* DEL is legal in JSON */
        {"caf\xc3\xa9 \xe2\x82\xac", "\"caf\xc3\xa9 \xe2\x82\xac\""}, /* UTF-8 passes */
        {"</script>", "\"</script>\""},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        edix_buf_t b;
        edix_buf_init(&b);
        edix_buf_adds(&b, "x=");
        edix_buf_json_str(&b, cases[i].in);
        if (strcmp(b.data + 2, cases[i].want) != 0)
            fail_msg("case %zu: got %s, want %s", i, b.data + 2, cases[i].want);
        if (b.len != strlen(b.data))
            fail_msg("case %zu: got len %zu, want %zu", i, b.len, strlen(b.data));
        edix_buf_free(&b);
    }
}

/* every byte from 1 to 0x1f comes out escaped, never raw */
static void
test_json_str_all_controls(void **state)
{
    char in[32];
    edix_buf_t b;
    (void)state;
    for (int c = 1; c < 32; c++)
        in[c - 1] = (char)c;
    in[31] = '\0';
    edix_buf_init(&b);
    edix_buf_json_str(&b, in);
    for (size_t i = 0; i < b.len; i++)
        if ((unsigned char)b.data[i] < 0x20)
            fail_msg("byte %zu: got raw control 0x%02x, want an escape", i,
                     (unsigned char)b.data[i]);
    edix_buf_free(&b);
}

static void
test_buf(void **state)
{
    edix_buf_t b;
    (void)state;
    edix_buf_init(&b);
    char *empty = edix_buf_take(&b);
    assert_string_equal(empty, "");
    free(empty);
    for (int i = 0; i < 1000; i++)
        edix_buf_addf(&b, "%d,", i % 10);
    edix_buf_add(&b, "\0z", 2);
    if (b.len != 2002)
        fail_msg("len: got %zu, want 2002", b.len);
    assert_int_equal(b.data[2002], '\0');
    char *p = edix_buf_take(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_memory_equal(p, "0,1,2,", 6);
    free(p);
}

/* ---- atomic files ------------------------------------------------------- */

static void
test_file_write(void **state)
{
    fixture_t *f = *state;
    char *path = xasprintf("%s/out.txt", f->dir), *err = NULL;
    mode_t old = umask(077); /* the mode given must win over the umask */

    if (edix_file_write(path, "first", 5, 0644, 0, &err) != 0)
        fail_msg("write: got error %s, want success", err ? err : "?");
    umask(old);
    s_expect_file(path, "first", 0644);

    /* non-exclusive: replaced, with the new mode */
    if (edix_file_write(path, "second", 6, 0600, 0, &err) != 0)
        fail_msg("replace: got error %s, want success", err ? err : "?");
    s_expect_file(path, "second", 0600);

    /* empty content is a valid file */
    if (edix_file_write(path, "", 0, 0600, 0, &err) != 0)
        fail_msg("empty: got error %s, want success", err ? err : "?");
    s_expect_file(path, "", 0600);

    /* no temporary file is left behind */
    const char *names = s_listing(f->dir);
    if (strcmp(names, "out.txt") != 0)
        fail_msg("directory: got \"%s\", want \"out.txt\"", names);
    assert_null(err);
    free(path);
}

static void
test_file_write_exclusive(void **state)
{
    fixture_t *f = *state;
    char *path = xasprintf("%s/secret.key", f->dir), *err = NULL;

    if (edix_file_write(path, "mine", 4, 0600, 1, &err) != 0)
        fail_msg("first write: got error %s, want success", err ? err : "?");
    s_expect_file(path, "mine", 0600);

    /* a second exclusive write is refused and changes nothing */
    assert_int_equal(edix_file_write(path, "theirs", 6, 0644, 1, &err), -1);
    assert_non_null(err);
    if (!strstr(err, "exists already"))
        fail_msg("error: got \"%s\", want it to say \"exists already\"", err);
    free(err);
    err = NULL;
    s_expect_file(path, "mine", 0600);
    const char *names = s_listing(f->dir);
    if (strcmp(names, "secret.key") != 0)
        fail_msg("directory: got \"%s\", want \"secret.key\"", names);

    /* a directory that does not exist: an error, no file */
    char *bad = xasprintf("%s/no/such/file", f->dir);
    assert_int_equal(edix_file_write(bad, "x", 1, 0600, 1, &err), -1);
    assert_non_null(err);
    free(err);
    free(bad);
    free(path);
}

static void
test_file_read_limit(void **state)
{
    fixture_t *f = *state;
    char *path = xasprintf("%s/big", f->dir), *err = NULL, *data = (char *)"junk";
    size_t len = 99;

    assert_int_equal(edix_file_write(path, "0123456789", 10, 0600, 0, &err), 0);
    assert_int_equal(edix_file_read(path, 9, &data, &len, &err), -1);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err, "more than the limit"));
    free(err);
    err = NULL;
    assert_int_equal(edix_file_read(path, 10, &data, &len, &err), 0);
    assert_int_equal(len, 10);
    assert_string_equal(data, "0123456789");
    free(data);
    /* a directory is not a regular file */
    assert_int_equal(edix_file_read(f->dir, 10, &data, &len, &err), -1);
    assert_non_null(err);
    free(err);
    free(path);
}

/* ---- hex ---------------------------------------------------------------- */

static void
test_unhex(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        int rc;
        const char *bytes; /* when rc is 0 */
    } cases[] = {
        {"", 0, 0, ""},
        {"00ff", 2, 0, "\x00\xff"},
        {"DeadBEEF", 4, 0, "\xde\xad\xbe\xef"},
        {"0a1b2c", 3, 0, "\x0a\x1b\x2c"},
        {"abc", 2, -1, NULL},    /* odd */
        {"abc", 1, -1, NULL},    /* odd, too long */
        {"a", 1, -1, NULL},      /* too short */
        {"00ff00", 2, -1, NULL}, /* too long */
        {"0g", 1, -1, NULL},     /* not hex */
        {"g0", 1, -1, NULL},
        {" 0", 1, -1, NULL},
        {"0x", 1, -1, NULL},
        {"-1", 1, -1, NULL},
        {"1\xff", 1, -1, NULL},
        {"12 4", 2, -1, NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char out[8] = {0};
        int rc = edix_unhex(cases[i].in, out, cases[i].len);
        if (rc != cases[i].rc)
            fail_msg("unhex(\"%s\", %zu): got %d, want %d", cases[i].in, cases[i].len, rc,
                     cases[i].rc);
        if (rc == 0 && memcmp(out, cases[i].bytes, cases[i].len) != 0)
            fail_msg("unhex(\"%s\"): got other bytes", cases[i].in);
    }
}

static void
test_hex_round_trip(void **state)
{
    unsigned char in[256], back[256];
    char hex[513];
    (void)state;
    for (int i = 0; i < 256; i++)
        in[i] = (unsigned char)i;
    edix_hex(in, sizeof in, hex);
    assert_int_equal(strlen(hex), 512);
    assert_memory_equal(hex, "000102", 6);
    assert_string_equal(hex + 506, "fdfeff");
    assert_int_equal(edix_unhex(hex, back, sizeof back), 0);
    assert_memory_equal(in, back, sizeof in);
}

/* ---- time --------------------------------------------------------------- */

static void
test_time_format(void **state)
{
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1700000000123LL, "2023-11-14T22:13:20.123Z"},
        {951782400999LL, "2000-02-29T00:00:00.999Z"},
        {1798761599001LL, "2026-12-31T23:59:59.001Z"},
        {4102444800000LL, "2100-01-01T00:00:00.000Z"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        edix_time_format(cases[i].ms, buf, sizeof buf);
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("time_format(%lld): got %s, want %s", (long long)cases[i].ms, buf,
                     cases[i].want);
    }
}

static void
test_clocks(void **state)
{
    (void)state;
    int64_t now = edix_now_ms();
    /* after 2024-01-01 and before 2100 */
    if (now < 1704067200000LL || now > 4102444800000LL)
        fail_msg("now_ms: got %lld, want a plausible wall clock", (long long)now);
    int64_t a = edix_mono_ms(), b = edix_mono_ms();
    if (b < a)
        fail_msg("mono_ms: got %lld after %lld, want it not to go back", (long long)b,
                 (long long)a);
}

/* ---- trim --------------------------------------------------------------- */

static void
test_trim(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"", ""},
        {"   ", ""},
        {"abc", "abc"},
        {"  abc", "abc"},
        {"abc  ", "abc"},
        {" \t a b \t ", "a b"},
        {"\r\nvalue\r\n", "value"},
        {"\v\fx\v\f", "x"},
        {"a  =  b", "a  =  b"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *copy = xstrdup(cases[i].in);
        const char *got = edix_trim(copy);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("trim(\"%s\"): got \"%s\", want \"%s\"", cases[i].in, got, cases[i].want);
        free(copy);
    }
}

static void
test_fail_and_strings(void **state)
{
    char *err = NULL;
    (void)state;
    assert_int_equal(edix_fail(&err, "first %d", 1), -1);
    assert_string_equal(err, "first 1");
    /* a second failure replaces (and frees) the first text */
    assert_int_equal(edix_fail(&err, "second %s", "two"), -1);
    assert_string_equal(err, "second two");
    free(err);
    assert_int_equal(edix_fail(NULL, "ignored"), -1);
    char *s = xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    s = xasprintf("%s-%05d", "id", 42);
    assert_string_equal(s, "id-00042");
    free(s);
}

static void
test_mkdir(void **state)
{
    fixture_t *f = *state;
    char *path = xasprintf("%s/a/b/c", f->dir), *err = NULL;
    struct stat st;

    if (edix_mkdir(path, 0700, &err) != 0)
        fail_msg("mkdir: got error %s, want success", err ? err : "?");
    assert_int_equal(stat(path, &st), 0);
    if ((st.st_mode & 0777) != 0700)
        fail_msg("mode: got %04o, want 0700", (unsigned)(st.st_mode & 0777));
    assert_int_equal(edix_mkdir(path, 0700, &err), 0); /* exists: fine */
    assert_true(edix_file_exists(path));
    char *file = xasprintf("%s/file", f->dir);
    assert_int_equal(edix_file_write(file, "x", 1, 0600, 0, &err), 0);
    assert_int_equal(edix_mkdir(file, 0700, &err), -1); /* a file is in the way */
    assert_non_null(err);
    free(err);
    free(file);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_str),
        cmocka_unit_test(test_json_str_all_controls),
        cmocka_unit_test(test_buf),
        cmocka_unit_test_setup_teardown(test_file_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_write_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_read_limit, setup, teardown),
        cmocka_unit_test(test_unhex),
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_trim),
        cmocka_unit_test(test_fail_and_strings),
        cmocka_unit_test_setup_teardown(test_mkdir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

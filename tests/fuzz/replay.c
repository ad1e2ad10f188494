/*
 * replay.c - runs a fuzz harness over saved inputs without libFuzzer, so
 * the inputs that once crashed it (tests/fuzz/regressions/<harness>/) are
 * replayed by ctest in every build, plain and sanitized.
 *
 * usage: replay_<harness> FILE-OR-DIR...
 * Each file is read into a buffer of exactly its size (so ASan sees any
 * read past the end) and handed to LLVMFuzzerTestOneInput, after one call
 * of LLVMFuzzerInitialize when the harness has one.  A harness that finds
 * a problem traps; replay exits 0 after the last input, and 1 when an
 * argument cannot be read or holds no input at all.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int
s_one(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0) {
        perror(path);
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf || fread(buf, 1, size, f) != size) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, size);
    free(buf);
    return 0;
}

static int
s_name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE-OR-DIR...\n", argv[0]);
        return 1;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    size_t done = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (s_one(argv[i]) < 0)
                return 1;
            done++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, s_name_cmp);
        if (n < 0) {
            perror(argv[i]);
            return 1;
        }
        int rc = 0;
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
            if (rc == 0 && names[k]->d_name[0] != '.' && stat(path, &st) == 0 &&
                S_ISREG(st.st_mode)) {
                if (s_one(path) < 0)
                    rc = 1;
                else
                    done++;
            }
            free(names[k]);
        }
        free(names);
        if (rc)
            return rc;
    }
    printf("replayed %zu inputs\n", done);
    if (done == 0) {
        fprintf(stderr, "%s: no input found\n", argv[0]);
        return 1;
    }
    return 0;
}

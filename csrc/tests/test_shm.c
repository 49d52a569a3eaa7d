/* test_shm.c - the host-wide limiter backend (b24_shm.c) with real
 * processes: two processes share one bucket and one ledger, a process
 * SIGKILLed while holding the lock wedges nobody, racing creators
 * initialise the file once, a foreign header is refused, long method names
 * stay apart and the table stays bounded.  Files go to a private
 * B24HOOK_SHM_DIR, removed at the end. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "b24_limiter.h"
#include "b24_limiter_ops.h"
#include "harness.h"

static char dir[64];

static double
fixed_now(void *ctx)
{
    return *(double *)ctx;
}

static double T0 = 1e12;

static struct b24_limiter_backend
host_backend(const char *portal, const char *webhook)
{
    struct b24_limiter_backend be;
    struct b24_error err;
    memset(&err, 0, sizeof(err));
    CHECK(b24_limiter_backend_select("host", &be, &err) == B24_OK);
    be.scope.portal = portal;
    be.scope.webhook = webhook;
    return be;
}

static struct b24_limiter *
host_limiter(const char *portal, const char *webhook, double burst,
             struct b24_error *err)
{
    struct b24_limits_config c;
    struct b24_limiter_backend be = host_backend(portal, webhook);
    b24_limits_config_default(&c);
    c.burst_limit = burst;
    c.drain_rate = 0.001; /* nothing refills during a test */
    return b24_limiter_new_backend(&c, fixed_now, &T0, NULL, NULL, &be, err);
}

static int
takes(struct b24_limiter *l, int max)
{
    int n = 0;
    while (n < max && b24_limiter_reserve(l) == 0)
        n++;
    return n;
}

static double
tokens_of(struct b24_limiter *l)
{
    struct b24_limiter_stats s;
    double t = -1;
    if (b24_limiter_stats(l, &s) == B24_OK) {
        t = s.tokens;
        b24_limiter_stats_clear(&s);
    }
    return t;
}

/* Run fn in a child; its exit status (0 = all good). */
static int
in_child(int (*fn)(void *), void *arg)
{
    int st = 0;
    pid_t pid;
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        _exit(fn(arg));
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static int
child_takes_five(void *arg)
{
    struct b24_error err;
    struct b24_limiter *l = host_limiter(arg, "hookA", 10, &err);
    int n;
    if (l == NULL)
        return 2;
    n = takes(l, 5);
    b24_limiter_record_success(l, "crm.item.list", 1, 476.0, 1,
                               T0 / 1000.0 + 60, NULL, NULL);
    b24_limiter_free(l);
    return n == 5 ? 0 : 3;
}

static void
test_two_processes_share(void)
{
    struct b24_error err;
    struct b24_limiter *l = host_limiter("portalA", "hookA", 10, &err);
    struct b24_limiter_stats s;
    CHECK(l != NULL);
    if (l == NULL)
        return;
    CHECK_STR(b24_limiter_rate_backend(l), "host");
    CHECK_STR(b24_limiter_operating_backend(l), "host");
    CHECK(tokens_of(l) == 10);
    CHECK(in_child(child_takes_five, "portalA") == 0);
    /* burst 10 keeps one token of headroom: 9 grants in all, 5 were the
     * child's */
    CHECK(tokens_of(l) == 5);
    CHECK(takes(l, 100) == 4);
    /* the child's operating entry is the parent's too */
    CHECK(b24_limiter_time_to_free(l, "crm.item.list", NULL) > 0);
    CHECK(b24_limiter_stats(l, &s) == B24_OK);
    CHECK(s.noperating == 1 && s.operating != NULL &&
          strcmp(s.operating[0].method, "crm.item.list") == 0 &&
          s.operating[0].count == 476);
    b24_limiter_stats_clear(&s);
    b24_limiter_free(l);
    /* a new limiter of the same portal attaches, it does not refill */
    l = host_limiter("portalA", "hookB", 10, &err);
    CHECK(l != NULL && tokens_of(l) == 1);
    /* another webhook of that portal: same bucket, its own ledger */
    CHECK(l != NULL && b24_limiter_time_to_free(l, "crm.item.list", NULL) == 0);
    b24_limiter_free(l);
}

/* ---- a lock holder killed ------------------------------------------------ */

static void
test_killed_holder_wedges_nobody(void)
{
    struct b24_error err;
    struct b24_limiter *l = host_limiter("portalK", "hookK", 10, &err);
    int p[2], st;
    char c = 0;
    pid_t pid;
    CHECK(l != NULL && pipe(p) == 0);
    if (l == NULL)
        return;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        struct b24_limiter *cl = host_limiter("portalK", "hookK", 10, &err);
        close(p[0]);
        if (cl == NULL || b24_limiter_test_hold_shared(cl, B24_SHM_TEST_RATE) != 0)
            _exit(2);
        if (write(p[1], "h", 1) != 1)
            _exit(3);
        for (;;)
            pause(); /* killed holding the lock */
    }
    close(p[1]);
    CHECK(read(p[0], &c, 1) == 1 && c == 'h');
    close(p[0]);
    CHECK(b24_limiter_test_shared_repairs(l, 0) == 0);
    kill(pid, SIGKILL);
    CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));
    alarm(20); /* a wedge fails the run instead of hanging it */
    CHECK(b24_limiter_reserve(l) == 0);
    alarm(0);
    CHECK(b24_limiter_test_shared_repairs(l, 0) == 1);
    CHECK(tokens_of(l) == 9); /* the sane state was kept */
    CHECK(takes(l, 100) == 8);
    b24_limiter_free(l);
    /* not on the host backend */
    l = b24_limiter_new(NULL, NULL, NULL, NULL, NULL, &err);
    CHECK(l != NULL && b24_limiter_test_hold_shared(l, B24_SHM_TEST_RATE) == -1 &&
          b24_limiter_test_shared_repairs(l, 0) == -1);
    b24_limiter_free(l);
}

/* A holder killed with both states half-written: the next locker resets a
 * broken bucket to a full one and drops the broken slots, keeping the rest. */
static void
test_killed_writer_state_repaired(void)
{
    struct b24_error err;
    struct b24_limiter *l = host_limiter("portalC", "hookC", 10, &err);
    struct b24_limiter_stats s;
    int p[2], st;
    char c = 0;
    pid_t pid;
    CHECK(l != NULL && pipe(p) == 0);
    if (l == NULL)
        return;
    CHECK(takes(l, 3) == 3);
    b24_limiter_record_success(l, "a.one", 1, 476.0, 1, T0 / 1000.0 + 60, NULL,
                               NULL);
    b24_limiter_record_success(l, "b.two", 1, 476.0, 1, T0 / 1000.0 + 60, NULL,
                               NULL);
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        struct b24_limiter *cl = host_limiter("portalC", "hookC", 10, &err);
        close(p[0]);
        if (cl == NULL ||
            b24_limiter_test_hold_shared(
                cl, B24_SHM_TEST_RATE | B24_SHM_TEST_RATE_CORRUPT |
                        B24_SHM_TEST_OPS | B24_SHM_TEST_OPS_CORRUPT) != 0)
            _exit(2);
        if (write(p[1], "h", 1) != 1)
            _exit(3);
        for (;;)
            pause();
    }
    close(p[1]);
    CHECK(read(p[0], &c, 1) == 1 && c == 'h');
    close(p[0]);
    kill(pid, SIGKILL);
    CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));
    alarm(20);
    CHECK(b24_limiter_reserve(l) == 0); /* the bucket: reset to full */
    CHECK(tokens_of(l) == 9);
    CHECK(b24_limiter_time_to_free(l, "a.one", NULL) == 0); /* broken slot */
    CHECK(b24_limiter_time_to_free(l, "b.two", NULL) > 0);  /* kept */
    alarm(0);
    CHECK(b24_limiter_test_shared_repairs(l, 0) == 1);
    CHECK(b24_limiter_test_shared_repairs(l, 1) == 1);
    CHECK(b24_limiter_stats(l, &s) == B24_OK);
    CHECK(s.noperating == 1 && strcmp(s.operating[0].method, "b.two") == 0);
    b24_limiter_stats_clear(&s);
    b24_limiter_free(l);
}

/* ---- creators racing ------------------------------------------------------ */

static int
child_create_take(void *arg)
{
    struct b24_error err;
    struct b24_limiter *l;
    (void)arg;
    l = host_limiter("portalR", "hookR", 50, &err);
    if (l == NULL)
        return 2;
    if (b24_limiter_reserve(l) != 0)
        return 3;
    b24_limiter_free(l);
    return 0;
}

static void
test_racing_creators(void)
{
    pid_t pids[8];
    int i, st, ok = 1;
    struct b24_error err;
    struct b24_limiter *l;
    fflush(NULL);
    for (i = 0; i < 8; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            _exit(child_create_take(NULL));
    }
    for (i = 0; i < 8; i++)
        ok &= waitpid(pids[i], &st, 0) == pids[i] && WIFEXITED(st) &&
              WEXITSTATUS(st) == 0;
    CHECK(ok);
    l = host_limiter("portalR", "hookR", 50, &err);
    /* initialised once: eight tokens gone, none given back by a late
     * initialiser */
    CHECK(l != NULL && tokens_of(l) == 42);
    b24_limiter_free(l);
}

/* ---- a foreign file --------------------------------------------------------- */

static void
write_file(const char *name, const void *data, size_t n)
{
    char path[128];
    int fd;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, data, n) == (ssize_t)n);
    close(fd);
}

static void
test_foreign_header_refused(void)
{
    struct b24_error err;
    struct b24_limiter *l;
    static char junk[2192];
    uint64_t magic = 0x4d48535f34324242ULL;
    uint32_t layout = 99;
    /* wrong size */
    write_file("b24hook-rate-portalX", "not ours", 8);
    memset(&err, 0, sizeof(err));
    l = host_limiter("portalX", "hookX", 10, &err);
    CHECK(l == NULL && err.status == B24_E_USAGE &&
          strstr(err.message, "b24hook-rate-portalX") != NULL &&
          strstr(err.message, "layout") != NULL);
    /* right size, another layout version */
    memset(junk, 0, sizeof(junk));
    memcpy(junk, &magic, sizeof(magic));
    memcpy(junk + 8, &layout, sizeof(layout));
    write_file("b24hook-rate-portalY", junk, sizeof(junk));
    memset(&err, 0, sizeof(err));
    l = host_limiter("portalY", "hookY", 10, &err);
    CHECK(l == NULL && err.status == B24_E_USAGE &&
          strstr(err.message, "layout 99") != NULL);
    /* keys that could name another file are refused */
    memset(&err, 0, sizeof(err));
    l = host_limiter("../etc", "hookY", 10, &err);
    CHECK(l == NULL && err.status == B24_E_USAGE);
    l = host_limiter("portalZ", NULL, 10, &err);
    CHECK(l == NULL && err.status == B24_E_USAGE);
}

/* ---- the ledger's names and bound ---------------------------------------------- */

static void
test_ledger_names_and_bound(void)
{
    struct b24_limits_config c;
    struct b24_limiter_backend be = host_backend("portalL", "hookL");
    struct b24_error err;
    const struct b24_operating_ops *ops = be.operating;
    struct b24_op_entry e = {1000, 0, 0}, got;
    struct b24_method_count *mc = NULL;
    size_t n = 0, i;
    char a[301], b[301], name[32];
    void *t;
    int stored;
    b24_limits_config_default(&c);
    t = ops->create(&c, &be.scope, &err);
    CHECK(t != NULL);
    if (t == NULL)
        return;
    /* two 300-byte names sharing their first 299 bytes */
    memset(a, 'm', 300);
    a[300] = '\0';
    memcpy(b, a, sizeof(a));
    b[299] = 'x';
    e.operating_ms = 111000;
    CHECK(ops->record(t, a, &e, T0) == 1);
    e.operating_ms = 222000;
    CHECK(ops->record(t, b, &e, T0) == 1);
    CHECK(ops->get(t, "", a, 300, T0, &got) == 1 && got.operating_ms == 111000);
    CHECK(ops->get(t, "", b, 300, T0, &got) == 1 && got.operating_ms == 222000);
    CHECK(ops->get(t, "", a, 299, T0, &got) == 0);
    /* "batch::" + a command cut at n: the same name split differently */
    e.operating_ms = 5000;
    CHECK(ops->record(t, "batch::crm.item.list", &e, T0) == 1);
    CHECK(ops->get(t, "batch::", "crm.item.list?x=1", 13, T0, &got) == 1 &&
          got.operating_ms == 5000);
    CHECK(ops->stats(t, T0, &mc, &n) == B24_OK && n == 3);
    for (i = 0; i < n; i++)
        CHECK(strlen(mc[i].method) < 96);
    for (i = 0; i < n; i++)
        free(mc[i].method);
    free(mc);
    /* expiry: window_ms + 10 s after the last update */
    CHECK(ops->get(t, "", a, 300, T0 + c.window_ms + 10001, &got) == 0);
    ops->reset(t);
    /* bounded: harmless entries make room, harmful ones are kept */
    e.operating_ms = 1;
    for (i = 0; i < B24_OPS_SOFT_CAP; i++) {
        snprintf(name, sizeof(name), "m.%zu", i);
        CHECK(ops->record(t, name, &e, T0 + (double)i) == 1);
    }
    CHECK(ops->record(t, "one.more", &e, T0 + 5000) == 1);
    CHECK(ops->get(t, "", "m.0", 3, T0 + 5000, &got) == 0); /* oldest out */
    CHECK(ops->get(t, "", "m.1", 3, T0 + 5000, &got) == 1);
    ops->reset(t);
    e.operating_ms = 470000; /* can cause a wait */
    stored = 1;
    for (i = 0; i < B24_OPS_SOFT_CAP; i++) {
        snprintf(name, sizeof(name), "h.%zu", i);
        stored &= ops->record(t, name, &e, T0);
    }
    CHECK(stored);
    CHECK(ops->record(t, "no.room", &e, T0) == 0);
    CHECK(ops->get(t, "", "h.0", 3, T0, &got) == 1);
    CHECK(ops->stats(t, T0, &mc, &n) == B24_OK && n == B24_OPS_SOFT_CAP);
    for (i = 0; i < n; i++)
        free(mc[i].method);
    free(mc);
    ops->reset(t);
    ops->destroy(t);
}

/* ---- the selector ---------------------------------------------------------------- */

static void
test_select(void)
{
    struct b24_limiter_backend be;
    struct b24_error err;
    memset(&err, 0, sizeof(err));
    CHECK(b24_limiter_backend_select(NULL, &be, &err) == B24_OK &&
          be.rate == &b24_rate_inproc && be.operating == &b24_operating_inproc);
    CHECK(b24_limiter_backend_select("host", &be, &err) == B24_OK &&
          be.rate == &b24_rate_shm && be.operating == &b24_operating_shm);
    CHECK(b24_limiter_backend_select("Host", &be, &err) == B24_E_USAGE &&
          strstr(err.message, "redis://host:port/db") != NULL);
    CHECK(b24_limiter_backend_select("", &be, &err) == B24_E_USAGE);
    CHECK(b24_limiter_scope_key_ok("0123abcdEF_-") &&
          !b24_limiter_scope_key_ok("a/b") && !b24_limiter_scope_key_ok("") &&
          !b24_limiter_scope_key_ok(
              "01234567890123456789012345678901234567890123456789012345678901234"));
}

static void
remove_dir(void)
{
    const char *names[] = {"portalA", "portalK", "portalR", "portalX",
                           "portalY", "hookA", "hookB", "hookK", "hookR",
                           "hookL", "portalL", "portalZ", "portalC", "hookC", NULL};
    char path[160];
    int i;
    for (i = 0; names[i] != NULL; i++) {
        snprintf(path, sizeof(path), "%s/b24hook-rate-%s", dir, names[i]);
        unlink(path);
        snprintf(path, sizeof(path), "%s/b24hook-ops-%s", dir, names[i]);
        unlink(path);
    }
    CHECK(rmdir(dir) == 0);
}

void
test_shm(void)
{
    snprintf(dir, sizeof(dir), "/tmp/b24shm-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    setenv("B24HOOK_SHM_DIR", dir, 1);
    test_select();
    test_two_processes_share();
    test_killed_holder_wedges_nobody();
    test_killed_writer_state_repaired();
    test_racing_creators();
    test_foreign_header_refused();
    test_ledger_names_and_bound();
    unsetenv("B24HOOK_SHM_DIR");
    remove_dir();
}

/* b24_shm.c - the host-wide limiter backend (b24_rate_shm,
 * b24_operating_shm; restriction param shared="host", issue 15 part A).
 *
 * Every process of one machine (same user) calling one portal shares one
 * request bucket, and every process using one webhook shares one
 * operating ledger, like the portal keeps them (portal.md §5.1: per portal
 * and caller address; §5.3: per webhook and method).  Each is a small file
 * under /dev/shm (B24HOOK_SHM_DIR overrides the directory), mapped shared:
 *
 *   <dir>/b24hook-rate-<portal key>   header + struct b24_rate_state
 *   <dir>/b24hook-ops-<webhook key>   header + a fixed table of slots
 *
 * The keys are the scope's digests (b24_limiter_ops.h), never the secret.
 *
 * - Header: magic, layout version, kind and the file's size; any mismatch
 *   (another b24hook version, a foreign file) is a B24_E_USAGE error that
 *   names the file, never a silent reuse.
 * - Creation race: the file is opened with O_CREAT and initialised under
 *   flock(LOCK_EX); the initialiser writes the magic last, so a creator
 *   killed half-way leaves a file the next opener initialises (it holds
 *   the flock, nobody else is initialising).  The file must belong to this
 *   user (0600): another user's file of that name is refused.
 * - Lock: a process-shared ROBUST pthread mutex in the header.  A process
 *   killed while holding it leaves it EOWNERDEAD for the next locker, who
 *   checks the state (b24_rate_state_sane, slot checks), resets what is
 *   broken, marks the mutex consistent and goes on: nobody is wedged.
 * - Every op takes that lock for a few arithmetic steps (the ops contract:
 *   no sleep, no I/O). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b24_buf.h"
#include "b24_limiter_impl.h" /* the test hooks at the end read the limiter */
#include "b24_limiter_ops.h"

#define SHM_MAGIC 0x4d48535f34324242ULL /* "BB24_SHM" */
#define SHM_LAYOUT 1u
#define KIND_RATE 1u
#define KIND_OPS 2u
#define SLOT_NAME 96 /* bytes of a method name kept, NUL included */

struct shm_header {
    uint64_t magic;   /* written last by the initialiser */
    uint32_t layout;  /* SHM_LAYOUT */
    uint32_t kind;    /* KIND_* */
    uint64_t size;    /* the whole file */
    uint64_t repairs; /* EOWNERDEAD recoveries (diagnostics, tests) */
    pthread_mutex_t mu;
};

struct shm_rate_file {
    struct shm_header h;
    struct b24_rate_state st;
};

/* A method name longer than SLOT_NAME - 1 bytes keeps its first bytes,
 * its full length and a 64-bit FNV-1a hash of the whole name: a lookup
 * matches all three, so two long names sharing a prefix stay apart and
 * nothing is ever copied past the slot. */
struct shm_op_slot {
    uint64_t name_hash;
    uint32_t name_len; /* the full name's length */
    uint32_t pad;
    char name[SLOT_NAME];
    struct b24_op_entry e;
    double last_updated;
};

struct shm_ops_file {
    struct shm_header h;
    uint32_t nops;
    uint32_t pad;
    struct shm_op_slot slots[B24_OPS_SOFT_CAP];
};

/* ---- files -------------------------------------------------------------- */

static const char *
shm_dir(void)
{
    const char *d = getenv("B24HOOK_SHM_DIR");
    return d != NULL && d[0] != '\0' ? d : "/dev/shm";
}

static int
init_mutex(pthread_mutex_t *mu)
{
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc != 0)
        return rc;
    rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutex_init(mu, &a);
    pthread_mutexattr_destroy(&a);
    return rc;
}

typedef void (*init_fn)(void *map, void *ctx);

/* Map <dir>/b24hook-<what>-<key> (size bytes), initialising it with
 * init(map, ctx) when it is new or was left uninitialised.  The mapping
 * or NULL (err filled). */
static void *
map_file(const char *what, const char *key, size_t size, uint32_t kind,
         init_fn init, void *ctx, struct b24_error *err)
{
    struct b24_buf path;
    struct stat st;
    struct shm_header *h;
    void *map = NULL;
    int fd = -1, e;

    if (!b24_limiter_scope_key_ok(key)) {
        b24_error_set(err, B24_E_USAGE,
                      "shared limiter: the %s key must be 1-64 characters "
                      "of [0-9A-Za-z_-]",
                      kind == KIND_RATE ? "portal" : "webhook");
        return NULL;
    }
    b24_buf_init(&path, 4096);
    if (b24_buf_printf(&path, "%s/b24hook-%s-%s", shm_dir(), what, key) !=
        B24_OK) {
        b24_buf_free(&path);
        b24_error_set(err, B24_E_USAGE,
                      "shared limiter: B24HOOK_SHM_DIR is too long");
        return NULL;
    }
    fd = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        e = errno;
        b24_error_set(err, B24_E_SYSTEM, "shared limiter: cannot open %s: %s",
                      path.data, strerror(e));
        goto out;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            e = errno;
            b24_error_set(err, B24_E_SYSTEM,
                          "shared limiter: cannot lock %s: %s", path.data,
                          strerror(e));
            goto out;
        }
    }
    if (fstat(fd, &st) != 0) {
        e = errno;
        b24_error_set(err, B24_E_SYSTEM, "shared limiter: cannot stat %s: %s",
                      path.data, strerror(e));
        goto out;
    }
    if (st.st_uid != geteuid() || !S_ISREG(st.st_mode)) {
        b24_error_set(err, B24_E_USAGE,
                      "shared limiter: %s is not a regular file of this user",
                      path.data);
        goto out;
    }
    /* a file of ours that others may read or write (made by hand or by
     * another tool): the state is this user's alone, so it goes to 0600 */
    if ((st.st_mode & 077) != 0 && fchmod(fd, 0600) != 0) {
        e = errno;
        b24_error_set(err, B24_E_SYSTEM,
                      "shared limiter: cannot make %s private: %s", path.data,
                      strerror(e));
        goto out;
    }
    if (st.st_size == 0 && ftruncate(fd, (off_t)size) != 0) {
        e = errno;
        b24_error_set(err, B24_E_SYSTEM, "shared limiter: cannot size %s: %s",
                      path.data, strerror(e));
        goto out;
    }
    if (st.st_size != 0 && (uint64_t)st.st_size != (uint64_t)size) {
        b24_error_set(err, B24_E_USAGE,
                      "shared limiter: %s has %lld bytes, this b24hook's "
                      "layout %u needs %zu (another b24hook version shares "
                      "it: stop it, or remove the file)",
                      path.data, (long long)st.st_size, SHM_LAYOUT, size);
        goto out;
    }
    map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        e = errno;
        map = NULL;
        b24_error_set(err, B24_E_SYSTEM, "shared limiter: cannot map %s: %s",
                      path.data, strerror(e));
        goto out;
    }
    h = map;
    if (h->magic == 0) {
        /* new, or its creator died before finishing: ours to initialise
         * (we hold the flock) */
        memset(map, 0, size);
        e = init_mutex(&h->mu);
        if (e != 0) {
            b24_error_set(err, B24_E_SYSTEM,
                          "shared limiter: cannot set up the lock of %s: %s",
                          path.data, strerror(e));
            munmap(map, size);
            map = NULL;
            goto out;
        }
        h->layout = SHM_LAYOUT;
        h->kind = kind;
        h->size = size;
        init(map, ctx);
        __atomic_store_n(&h->magic, SHM_MAGIC, __ATOMIC_RELEASE);
    } else if (h->magic != SHM_MAGIC || h->layout != SHM_LAYOUT ||
               h->kind != kind || h->size != size) {
        b24_error_set(err, B24_E_USAGE,
                      "shared limiter: %s has another header (layout %u, "
                      "this b24hook writes layout %u): another b24hook "
                      "version shares it; stop it, or remove the file",
                      path.data, h->magic == SHM_MAGIC ? h->layout : 0u,
                      SHM_LAYOUT);
        munmap(map, size);
        map = NULL;
    }
out:
    if (fd >= 0) {
        /* unlock explicitly: the mapping keeps the open file description
         * (and so an flock) alive past close() */
        flock(fd, LOCK_UN);
        close(fd);
    }
    b24_buf_free(&path);
    return map;
}

typedef void (*repair_fn)(void *self, double now);

/* Take the file's lock; a dead owner's state is checked and repaired by
 * repair(self, now) first.  0, or -1 when the lock is unusable
 * (ENOTRECOVERABLE: a holder gave it up without repairing): the ledger's
 * ops then do nothing and the bucket's run on this process's own bucket,
 * so a limiter never fails nor stalls a call. */
static int
shm_lock(struct shm_header *h, repair_fn repair, void *self, double now)
{
    int rc = pthread_mutex_lock(&h->mu);
    if (rc == EOWNERDEAD) {
        repair(self, now);
        h->repairs++;
        pthread_mutex_consistent(&h->mu);
        return 0;
    }
    return rc == 0 ? 0 : -1;
}

static void
shm_unlock(struct shm_header *h)
{
    pthread_mutex_unlock(&h->mu);
}

/* ---- the rate limiter ----------------------------------------------------- */

struct shm_rate {
    struct shm_rate_file *f;
    struct b24_limits_config cfg; /* this process's (for a repair) */
    double created;               /* `now` of create() */
    struct b24_rate_state local;  /* used only while the lock is unusable */
};

static void
rate_init_file(void *map, void *ctx)
{
    struct shm_rate_file *f = map;
    const struct shm_rate *r = ctx;
    b24_rate_state_init(&f->st, &r->cfg, r->created);
}

static void
rate_repair(void *self, double now)
{
    struct shm_rate *r = self;
    if (!b24_rate_state_sane(&r->f->st))
        b24_rate_state_init(&r->f->st, &r->cfg, now);
}

static int
same_rates(const struct b24_rate_state *s, const struct b24_limits_config *c)
{
    return s->orig_burst == c->burst_limit && s->orig_drain == c->drain_rate &&
           s->adaptive == (c->rate_adaptive != 0);
}

static void *
shm_rate_create(const struct b24_limits_config *cfg,
                const struct b24_limiter_scope *scope, double now,
                struct b24_error *err)
{
    struct shm_rate *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        b24_error_set(err, B24_E_NOMEM, "out of memory");
        return NULL;
    }
    r->cfg = *cfg;
    r->cfg.hard_codes = r->cfg.soft_codes = NULL;
    r->cfg.nhard = r->cfg.nsoft = 0;
    r->cfg.rate_adaptive = cfg->rate_adaptive != 0;
    r->created = now;
    b24_rate_state_init(&r->local, &r->cfg, now);
    r->f = map_file("rate", scope ? scope->portal : NULL, sizeof(struct shm_rate_file),
                    KIND_RATE, rate_init_file, r, err);
    if (r->f == NULL) {
        free(r);
        return NULL;
    }
    if (shm_lock(&r->f->h, rate_repair, r, now) == 0) {
        if (!same_rates(&r->f->st, &r->cfg))
            b24_rate_state_configure(&r->f->st, &r->cfg);
        shm_unlock(&r->f->h);
    }
    return r;
}

static void
shm_rate_destroy(void *self)
{
    struct shm_rate *r = self;
    munmap(r->f, sizeof(*r->f));
    free(r);
}

static void
shm_rate_configure(void *self, const struct b24_limits_config *cfg)
{
    struct shm_rate *r = self;
    r->cfg.burst_limit = cfg->burst_limit;
    r->cfg.drain_rate = cfg->drain_rate;
    r->cfg.rate_adaptive = cfg->rate_adaptive != 0;
    b24_rate_state_configure(&r->local, &r->cfg);
    if (shm_lock(&r->f->h, rate_repair, r, 0) == 0) {
        b24_rate_state_configure(&r->f->st, &r->cfg);
        shm_unlock(&r->f->h);
    }
}

/* `now` was read before the file's lock was taken, so two processes can
 * reach the lock in the other order than they read the clock: the later
 * one's `now` is then a little behind last_refill, and setting it back
 * would count that stretch of refill twice (tokens the portal never
 * gave).  Such a `now` is taken as last_refill; a step back larger than
 * any lock wait (the wall clock itself stepped) is kept, so the bucket
 * refills from there as the in-process one does instead of stalling. */
#define SHM_ORDER_SLACK_MS 2000.0

static double
in_order(const struct shm_rate *r, double now)
{
    double last = r->f->st.last_refill;
    return now < last && last - now <= SHM_ORDER_SLACK_MS ? last : now;
}

static double
shm_rate_reserve(void *self, double now)
{
    struct shm_rate *r = self;
    double w;
    if (shm_lock(&r->f->h, rate_repair, r, now) != 0)
        return b24_rate_state_reserve(&r->local, now);
    w = b24_rate_state_reserve(&r->f->st, in_order(r, now));
    shm_unlock(&r->f->h);
    return w;
}

static double
shm_rate_exceeded(void *self, double now, int *lowered)
{
    struct shm_rate *r = self;
    double w;
    *lowered = 0;
    if (shm_lock(&r->f->h, rate_repair, r, now) != 0)
        return b24_rate_state_exceeded(&r->local, now, lowered);
    w = b24_rate_state_exceeded(&r->f->st, in_order(r, now), lowered);
    shm_unlock(&r->f->h);
    return w;
}

static int
shm_rate_success(void *self, double now)
{
    struct shm_rate *r = self;
    int restored;
    if (shm_lock(&r->f->h, rate_repair, r, now) != 0)
        return b24_rate_state_success(&r->local, now);
    restored = b24_rate_state_success(&r->f->st, now);
    shm_unlock(&r->f->h);
    return restored;
}

static void
shm_rate_stats(void *self, double now, struct b24_limiter_stats *out)
{
    struct shm_rate *r = self;
    if (shm_lock(&r->f->h, rate_repair, r, now) != 0) {
        b24_rate_state_stats(&r->local, now, out);
        return;
    }
    b24_rate_state_stats(&r->f->st, in_order(r, now), out);
    shm_unlock(&r->f->h);
}

static void
shm_rate_reset(void *self, double now)
{
    struct shm_rate *r = self;
    if (shm_lock(&r->f->h, rate_repair, r, now) != 0) {
        b24_rate_state_reset(&r->local, now);
        return;
    }
    b24_rate_state_reset(&r->f->st, now);
    shm_unlock(&r->f->h);
}

const struct b24_rate_ops b24_rate_shm = {
    .name = "host",
    .create = shm_rate_create,
    .destroy = shm_rate_destroy,
    .configure = shm_rate_configure,
    .reserve = shm_rate_reserve,
    .exceeded = shm_rate_exceeded,
    .success = shm_rate_success,
    .stats = shm_rate_stats,
    .reset = shm_rate_reset,
};

/* ---- the operating ledger -------------------------------------------------- */

struct shm_ops {
    struct shm_ops_file *f;
    double window_ms, limit_ms, threshold_percent; /* this process's */
};

/* FNV-1a over a then b[0:nb]. */
static uint64_t
fnv_two(const char *a, size_t na, const char *b, size_t nb)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;
    for (i = 0; i < na; i++)
        h = (h ^ (unsigned char)a[i]) * 0x100000001b3ULL;
    for (i = 0; i < nb; i++)
        h = (h ^ (unsigned char)b[i]) * 0x100000001b3ULL;
    return h;
}

/* Does slot s hold the name a + b[0:nb] (hash given)? */
static int
slot_is(const struct shm_op_slot *s, uint64_t hash, const char *a, size_t na,
        const char *b, size_t nb)
{
    size_t len = na + nb, kept = len < SLOT_NAME - 1 ? len : SLOT_NAME - 1;
    size_t fa = na < kept ? na : kept;
    if (s->name_hash != hash || s->name_len != len)
        return 0;
    return memcmp(s->name, a, fa) == 0 &&
           memcmp(s->name + fa, b, kept - fa) == 0;
}

static int
slot_sane(const struct shm_op_slot *s)
{
    size_t kept = s->name_len < SLOT_NAME - 1 ? s->name_len : SLOT_NAME - 1;
    return s->name_len > 0 && memchr(s->name, '\0', SLOT_NAME) != NULL &&
           strlen(s->name) == kept && isfinite(s->e.operating_ms) &&
           isfinite(s->e.reset_at_ms) && isfinite(s->last_updated) &&
           (s->e.have_reset == 0 || s->e.have_reset == 1);
}

static void
ops_init_file(void *map, void *ctx)
{
    (void)map; /* zeroed: no entries */
    (void)ctx;
}

/* After a dead owner: keep the slots that are whole and not repeated (an
 * interrupted compaction can leave one slot twice). */
static void
ops_repair(void *self, double now)
{
    struct shm_ops *o = self;
    struct shm_ops_file *f = o->f;
    uint32_t i, j, k = 0, n = f->nops;
    (void)now;
    if (n > B24_OPS_SOFT_CAP)
        n = B24_OPS_SOFT_CAP;
    for (i = 0; i < n; i++) {
        int dup = 0;
        if (!slot_sane(&f->slots[i]))
            continue;
        for (j = 0; j < k && !dup; j++)
            dup = f->slots[j].name_hash == f->slots[i].name_hash &&
                  f->slots[j].name_len == f->slots[i].name_len &&
                  strcmp(f->slots[j].name, f->slots[i].name) == 0;
        if (!dup) {
            if (k != i)
                f->slots[k] = f->slots[i];
            k++;
        }
    }
    f->nops = k;
}

static void *
shm_ops_create(const struct b24_limits_config *cfg,
               const struct b24_limiter_scope *scope, struct b24_error *err)
{
    struct shm_ops *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        b24_error_set(err, B24_E_NOMEM, "out of memory");
        return NULL;
    }
    o->window_ms = cfg->window_ms;
    o->limit_ms = cfg->limit_ms;
    o->threshold_percent = cfg->threshold_percent;
    o->f = map_file("ops", scope ? scope->webhook : NULL, sizeof(struct shm_ops_file),
                    KIND_OPS, ops_init_file, o, err);
    if (o->f == NULL) {
        free(o);
        return NULL;
    }
    return o;
}

static void
shm_ops_destroy(void *self)
{
    struct shm_ops *o = self;
    munmap(o->f, sizeof(*o->f));
    free(o);
}

static void
shm_ops_configure(void *self, const struct b24_limits_config *cfg)
{
    struct shm_ops *o = self;
    o->window_ms = cfg->window_ms;
    o->limit_ms = cfg->limit_ms;
    o->threshold_percent = cfg->threshold_percent;
}

static int
slot_expired(const struct shm_ops *o, const struct shm_op_slot *s, double now)
{
    return now - s->last_updated > o->window_ms + B24_OP_EXPIRY_EXTRA_MS;
}

static void
expire_slots(struct shm_ops *o, double now)
{
    struct shm_ops_file *f = o->f;
    uint32_t i, k = 0;
    for (i = 0; i < f->nops; i++)
        if (!slot_expired(o, &f->slots[i], now)) {
            if (k != i)
                f->slots[k] = f->slots[i];
            k++;
        }
    f->nops = k;
}

static struct shm_op_slot *
find_slot(struct shm_ops_file *f, const char *a, const char *b, size_t nb)
{
    size_t na = strlen(a);
    uint64_t hash = fnv_two(a, na, b, nb);
    uint32_t i;
    for (i = 0; i < f->nops; i++)
        if (slot_is(&f->slots[i], hash, a, na, b, nb))
            return &f->slots[i];
    return NULL;
}

/* The in-process table's rule: at the cap, drop the harmless entry updated
 * longest ago.  The file cannot grow, so when every entry could cause a
 * wait the new method is not stored (record answers 0). */
static void
evict_slot(struct shm_ops *o)
{
    struct shm_ops_file *f = o->f;
    uint32_t i, victim = f->nops;
    for (i = 0; i < f->nops; i++)
        if (b24_op_harmless(f->slots[i].e.operating_ms, o->limit_ms,
                            o->threshold_percent) &&
            (victim == f->nops ||
             f->slots[i].last_updated < f->slots[victim].last_updated))
            victim = i;
    if (victim == f->nops)
        return;
    f->slots[victim] = f->slots[f->nops - 1];
    f->nops--;
}

static int
shm_ops_record(void *self, const char *method, const struct b24_op_entry *e,
               double now)
{
    struct shm_ops *o = self;
    struct shm_ops_file *f = o->f;
    struct shm_op_slot *s;
    size_t len = strlen(method);
    int stored = 0;
    if (len == 0 || len > UINT32_MAX ||
        shm_lock(&f->h, ops_repair, o, now) != 0)
        return 0;
    expire_slots(o, now);
    s = find_slot(f, "", method, len);
    if (s == NULL) {
        if (f->nops >= B24_OPS_SOFT_CAP)
            evict_slot(o);
        if (f->nops < B24_OPS_SOFT_CAP) {
            size_t kept = len < SLOT_NAME - 1 ? len : SLOT_NAME - 1;
            s = &f->slots[f->nops];
            memset(s, 0, sizeof(*s));
            memcpy(s->name, method, kept);
            s->name[kept] = '\0';
            s->name_len = (uint32_t)len;
            s->name_hash = fnv_two("", 0, method, len);
            f->nops++;
        }
    }
    if (s != NULL) {
        s->e = *e;
        s->last_updated = now;
        stored = 1;
    }
    shm_unlock(&f->h);
    return stored;
}

static int
shm_ops_get(void *self, const char *prefix, const char *name, size_t n,
            double now, struct b24_op_entry *out)
{
    struct shm_ops *o = self;
    const struct shm_op_slot *s;
    int found = 0;
    if (shm_lock(&o->f->h, ops_repair, o, now) != 0)
        return 0;
    s = find_slot(o->f, prefix, name, n);
    if (s != NULL && !slot_expired(o, s, now)) {
        *out = s->e;
        found = 1;
    }
    shm_unlock(&o->f->h);
    return found;
}

static enum b24_status
shm_ops_stats(void *self, double now, struct b24_method_count **out,
              size_t *n)
{
    struct shm_ops *o = self;
    struct shm_ops_file *f = o->f;
    struct b24_method_count *c = NULL;
    enum b24_status st = B24_OK;
    uint32_t i, k = 0;
    *out = NULL;
    *n = 0;
    if (shm_lock(&f->h, ops_repair, o, now) != 0)
        return B24_OK;
    expire_slots(o, now);
    if (f->nops > 0) {
        c = calloc(f->nops, sizeof(*c));
        if (c == NULL)
            st = B24_E_NOMEM;
        for (i = 0; c != NULL && i < f->nops; i++, k++) {
            c[i].method = b24_strdup(f->slots[i].name);
            if (c[i].method == NULL) {
                b24_method_counts_free(c, i);
                c = NULL;
                k = 0;
                st = B24_E_NOMEM;
                break;
            }
            c[i].count = b24_round2(f->slots[i].e.operating_ms / 1000.0);
        }
    }
    shm_unlock(&f->h);
    *out = c;
    *n = c != NULL ? k : 0;
    return st;
}

static void
shm_ops_reset(void *self)
{
    struct shm_ops *o = self;
    if (shm_lock(&o->f->h, ops_repair, o, 0) != 0)
        return;
    o->f->nops = 0;
    shm_unlock(&o->f->h);
}

const struct b24_operating_ops b24_operating_shm = {
    .name = "host",
    .create = shm_ops_create,
    .destroy = shm_ops_destroy,
    .configure = shm_ops_configure,
    .record = shm_ops_record,
    .get = shm_ops_get,
    .stats = shm_ops_stats,
    .reset = shm_ops_reset,
};

/* ---- test seam -------------------------------------------------------------- */

int
b24_shm_test_hold(void *rate_self, void *ops_self, int what)
{
    struct shm_rate *r = rate_self;
    struct shm_ops *o = ops_self;
    if ((what & B24_SHM_TEST_RATE_POISON) != 0) {
        /* a dead owner's lock given up unrepaired: ENOTRECOVERABLE */
        int rc = pthread_mutex_lock(&r->f->h.mu);
        if (rc == 0 || rc == EOWNERDEAD)
            pthread_mutex_unlock(&r->f->h.mu);
        return rc == EOWNERDEAD ? 0 : -1;
    }
    if ((what & B24_SHM_TEST_RATE) != 0) {
        if (pthread_mutex_lock(&r->f->h.mu) != 0)
            return -1;
        if ((what & B24_SHM_TEST_RATE_CORRUPT) != 0)
            r->f->st.tokens = NAN;
    }
    if ((what & B24_SHM_TEST_OPS) != 0) {
        if (pthread_mutex_lock(&o->f->h.mu) != 0)
            return -1;
        if ((what & B24_SHM_TEST_OPS_CORRUPT) != 0 && o->f->nops > 0) {
            /* the first slot's name without its NUL, the count past the
             * cap: what a writer killed mid-copy could leave */
            memset(o->f->slots[0].name, 'x', SLOT_NAME);
            o->f->nops = B24_OPS_SOFT_CAP + 7;
        }
    }
    return 0;
}

double
b24_shm_test_repairs(void *rate_self, void *ops_self, int ops)
{
    struct shm_rate *r = rate_self;
    struct shm_ops *o = ops_self;
    struct shm_header *h = ops ? &o->f->h : &r->f->h;
    return (double)__atomic_load_n(&h->repairs, __ATOMIC_RELAXED);
}

/* The limiter's test hooks of this backend (b24_limiter_ops.h), here so the
 * front end (b24_limiter.c) names no backend. */
int
b24_limiter_test_hold_shared(struct b24_limiter *l, int what)
{
    if (l->rate.ops != &b24_rate_shm || l->op.ops != &b24_operating_shm)
        return -1;
    return b24_shm_test_hold(l->rate.self, l->op.self, what);
}

double
b24_limiter_test_shared_repairs(struct b24_limiter *l, int ops)
{
    if (l->rate.ops != &b24_rate_shm || l->op.ops != &b24_operating_shm)
        return -1;
    return b24_shm_test_repairs(l->rate.self, l->op.self, ops);
}

/* b24_http.c - libcurl transport with a pool of easy handles. */
#include "b24_http.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "b24_redact.h"
#include "b24_url.h"

/* ---- process-wide: curl_global_init once, fork handlers ---------------- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

/* Fork safety (docs/decisions.md "fork").  Every live object is in a list;
 * pthread_atfork's prepare handler takes the list lock and every object's
 * locks, so no lock is held by a thread that does not exist in the child
 * and no pool or curl share is half-updated there; the child handler
 * releases them and bumps `fork_gen`.  A handle acquired under an older
 * generation belongs to the parent's connections: the child abandons it
 * (handle_abandon) and opens its own. */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct b24_http *reg_head; /* guarded by reg_mu */
static atomic_uint fork_gen;

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void
global_init_once(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (global_rc == CURLE_OK &&
        pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        global_rc = CURLE_FAILED_INIT;
}

enum b24_status
b24_http_global_init(void)
{
    pthread_once(&global_once, global_init_once);
    return global_rc == CURLE_OK ? B24_OK : B24_E_CURL;
}

/* ---- the object -------------------------------------------------------- */

struct b24_http {
    atomic_int refcount;
    atomic_int closed;
    atomic_ullong connections; /* new connections made so far */

    char *base_url;   /* owned */
    char *secret;     /* owned */
    size_t secret_len;
    char *ca_path;    /* owned or NULL */
    int ca_is_dir;
    int ca_file_only; /* trust one CA file: libcurl may cache its store */
    int verify;
    size_t max_body;
    int max_redirects;
    struct b24_url_origin origin; /* owned: origin of base_url */

    pthread_mutex_t pool_mu; /* guards idle[], nidle, aidle */
    CURL **idle;             /* owned handles not in use */
    size_t nidle, aidle;

    CURLSH *share;                               /* DNS + TLS sessions */
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST]; /* one per data kind */

    unsigned gen;                  /* fork_gen of idle[]; guarded by pool_mu */
    /* The last call URL's part before its query, parsed once (libcurl
     * would parse and re-print the whole URL at every transfer): each
     * exchange to the same base and method gets a copy with only its
     * query set (CURLOPT_CURLU).  Guarded by pool_mu. */
    CURLU *url_tpl;                /* owned or NULL */
    char *url_key;                 /* owned: the text url_tpl was parsed from */
    size_t url_key_len;
    /* Copies of url_tpl that finished exchanges gave back (libcurl reads a
     * CURLOPT_CURLU and works on its own copy): the next call only sets
     * its query on one, no curl_url_dup/cleanup per call.  Emptied when
     * url_tpl changes (tpl_gen counts the changes).  Guarded by pool_mu. */
    CURLU **spare_u;
    size_t nspare_u;
    unsigned tpl_gen;
    struct b24_http *prev, *next;  /* the live list; guarded by reg_mu */
    int registered;                /* in the list; guarded by reg_mu */
};

static void
fork_prepare(void)
{
    struct b24_http *h;
    size_t i;
    pthread_mutex_lock(&reg_mu);
    for (h = reg_head; h != NULL; h = h->next) {
        pthread_mutex_lock(&h->pool_mu);
        for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_lock(&h->share_mu[i]);
    }
}

static void
fork_release(void)
{
    struct b24_http *h;
    size_t i;
    for (h = reg_head; h != NULL; h = h->next) {
        for (i = CURL_LOCK_DATA_LAST; i-- > 0;)
            pthread_mutex_unlock(&h->share_mu[i]);
        pthread_mutex_unlock(&h->pool_mu);
    }
    pthread_mutex_unlock(&reg_mu);
}

static void
fork_parent(void)
{
    fork_release();
}

static void
fork_child(void)
{
    atomic_fetch_add(&fork_gen, 1);
    fork_release();
}

/* Release a handle of an older generation (a parent's) without a byte on
 * its connection.  curl_easy_cleanup would SSL_read what is pending (the
 * parent's answer) and send a TLS close_notify (or an HTTP/2 GOAWAY) on
 * the parent's session; so the descriptor of its cached connection is
 * first pointed at one end of a local non-blocking socketpair (`dummy`):
 * the child's reference to the parent's socket is closed (a close(2) of a
 * shared descriptor sends nothing while the parent holds it), cleanup's
 * reads find nothing and its writes land in the pair.  Without a dummy
 * the handle is leaked (bounded: the handles of one pool at fork time)
 * rather than touched. */
static void
handle_abandon(CURL *c, int dummy)
{
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK &&
        fd != CURL_SOCKET_BAD && (dummy < 0 || dup2(dummy, fd) < 0))
        return;
    curl_easy_cleanup(c);
}

static void
handles_abandon(CURL **v, size_t n)
{
    int sp[2] = {-1, -1};
    size_t i;
    if (n == 0)
        return;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   sp) != 0)
        sp[0] = sp[1] = -1;
    for (i = 0; i < n; i++)
        handle_abandon(v[i], sp[0]);
    if (sp[0] >= 0) {
        close(sp[0]);
        close(sp[1]);
    }
}

/* Release idle handles: cleanup when they are this process's, abandon
 * when they were inherited. */
static void
handles_release(CURL **v, size_t n, int inherited)
{
    size_t i;
    if (inherited) {
        handles_abandon(v, n);
        return;
    }
    for (i = 0; i < n; i++)
        curl_easy_cleanup(v[i]);
}

static void
share_lock(CURL *handle, curl_lock_data data, curl_lock_access access,
           void *userptr)
{
    struct b24_http *h = userptr;
    (void)handle;
    (void)access;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&h->share_mu[data]);
}

static void
share_unlock(CURL *handle, curl_lock_data data, void *userptr)
{
    struct b24_http *h = userptr;
    (void)handle;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&h->share_mu[data]);
}

static void
http_free(struct b24_http *h)
{
    size_t i;
    pthread_mutex_lock(&reg_mu);
    if (h->registered) {
        if (h->prev != NULL)
            h->prev->next = h->next;
        else
            reg_head = h->next;
        if (h->next != NULL)
            h->next->prev = h->prev;
    }
    pthread_mutex_unlock(&reg_mu);
    handles_release(h->idle, h->nidle, h->gen != atomic_load(&fork_gen));
    free(h->idle);
    curl_url_cleanup(h->url_tpl);
    free(h->url_key);
    for (i = 0; i < h->nspare_u; i++)
        curl_url_cleanup(h->spare_u[i]);
    free(h->spare_u);
    if (h->share != NULL)
        curl_share_cleanup(h->share);
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&h->share_mu[i]);
    pthread_mutex_destroy(&h->pool_mu);
    b24_url_origin_clear(&h->origin);
    free(h->base_url);
    free(h->secret);
    free(h->ca_path);
    free(h);
}

/* Nonzero when the client trusts exactly one CA file: the caller's file, or
 * libcurl's default bundle when the caller gave none and it exists.  The
 * CA directory libcurl also consults by default (Debian: /etc/ssl/certs,
 * the same certificates hashed) is then turned off, which lets libcurl
 * keep the parsed store (CURLOPT_CA_CACHE_TIMEOUT, one per multi handle)
 * instead of parsing the whole bundle again for every new connection
 * (~10-25 ms of CPU for the system's ~140 certificates; decisions.md). */
static int
ca_file_only(const struct b24_http *h)
{
    if (!h->verify)
        return 0;
    if (h->ca_path != NULL)
        return !h->ca_is_dir;
#if LIBCURL_VERSION_NUM >= 0x075400 /* CURLINFO_CAINFO: 7.84 */
    {
        CURL *probe = curl_easy_init();
        char *def = NULL;
        int ok = 0;
        if (probe == NULL)
            return 0;
        if (curl_easy_getinfo(probe, CURLINFO_CAINFO, &def) == CURLE_OK &&
            def != NULL && access(def, R_OK) == 0)
            ok = 1;
        curl_easy_cleanup(probe);
        return ok;
    }
#else
    return 0;
#endif
}

struct b24_http *
b24_http_new(const struct b24_http_config *cfg, struct b24_error *err)
{
    struct b24_http *h;
    size_t i, blen;

    if (b24_http_global_init() != B24_OK) {
        b24_error_set(err, B24_E_CURL, "curl_global_init failed");
        return NULL;
    }
    if (cfg->base_url == NULL || cfg->secret == NULL) {
        b24_error_set(err, B24_E_USAGE, "base_url and secret are required");
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        b24_error_set(err, B24_E_NOMEM, "out of memory");
        return NULL;
    }
    atomic_init(&h->refcount, 1);
    atomic_init(&h->closed, 0);
    atomic_init(&h->connections, 0);
    pthread_mutex_init(&h->pool_mu, NULL);
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&h->share_mu[i], NULL);
    h->origin.port = -1;

    blen = strlen(cfg->base_url);
    while (blen > 0 && cfg->base_url[blen - 1] == '/')
        blen--;
    h->base_url = b24_strndup(cfg->base_url, blen);
    h->secret = b24_strdup(cfg->secret);
    if (h->base_url == NULL || h->secret == NULL)
        goto nomem;
    h->secret_len = strlen(h->secret);
    if (b24_url_origin_parse(h->base_url, blen, &h->origin) != B24_OK ||
        (strcmp(h->origin.scheme, "https") != 0 &&
         strcmp(h->origin.scheme, "http") != 0)) {
        b24_error_set(err, B24_E_USAGE,
                      "base_url must be an absolute http(s) URL");
        http_free(h);
        return NULL;
    }
    h->verify = cfg->verify ? 1 : 0;
    if (cfg->ca_path != NULL && cfg->ca_path[0] != '\0') {
        struct stat sb;
        h->ca_path = b24_strdup(cfg->ca_path);
        if (h->ca_path == NULL)
            goto nomem;
        h->ca_is_dir = stat(cfg->ca_path, &sb) == 0 && S_ISDIR(sb.st_mode);
    }
    h->ca_file_only = ca_file_only(h);
    h->max_body = cfg->max_body ? cfg->max_body : B24_BUF_DEFAULT_CAP;
    h->max_redirects =
        cfg->max_redirects < 0 ? B24_HTTP_MAX_REDIRECTS : cfg->max_redirects;

    h->share = curl_share_init();
    if (h->share == NULL)
        goto nomem;
    if (curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) ||
        curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
        curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE,
                          CURL_LOCK_DATA_SSL_SESSION)) {
        b24_error_set(err, B24_E_CURL, "curl_share_setopt failed");
        http_free(h);
        return NULL;
    }
    pthread_mutex_lock(&reg_mu);
    h->gen = atomic_load(&fork_gen);
    h->next = reg_head;
    if (reg_head != NULL)
        reg_head->prev = h;
    reg_head = h;
    h->registered = 1;
    pthread_mutex_unlock(&reg_mu);
    return h;
nomem:
    b24_error_set(err, B24_E_NOMEM, "out of memory");
    http_free(h);
    return NULL;
}

void
b24_http_incref(struct b24_http *h)
{
    atomic_fetch_add(&h->refcount, 1);
}

void
b24_http_decref(struct b24_http *h)
{
    if (h != NULL && atomic_fetch_sub(&h->refcount, 1) == 1)
        http_free(h);
}

void
b24_http_close(struct b24_http *h)
{
    CURL **idle;
    size_t n;
    int inherited;
    atomic_store(&h->closed, 1);
    pthread_mutex_lock(&h->pool_mu);
    idle = h->idle;
    n = h->nidle;
    inherited = h->gen != atomic_load(&fork_gen);
    h->idle = NULL;
    h->nidle = h->aidle = 0;
    h->gen = atomic_load(&fork_gen);
    pthread_mutex_unlock(&h->pool_mu);
    handles_release(idle, n, inherited);
    free(idle);
}

int
b24_http_closed(struct b24_http *h)
{
    return atomic_load(&h->closed);
}

unsigned long long
b24_http_connections_opened(struct b24_http *h)
{
    return atomic_load(&h->connections);
}

const char *
b24_http_base_url(const struct b24_http *h)
{
    return h->base_url;
}

static void setup_constant(struct b24_http *h, CURL *c);

/* True when the connection cached by `c` (its only one: CURLOPT_MAXCONNECTS
 * is 1) has something to read, or is closed or broken, while no request is
 * out: bytes a server sent after the body it declared (or a close).  Such
 * bytes would be taken as the answer to the next request sent on it, so
 * the connection must not be reused. */
static int
conn_unclean(CURL *c)
{
    curl_socket_t fd = CURL_SOCKET_BAD;
    struct pollfd p;
    if (curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK ||
        fd == CURL_SOCKET_BAD)
        return 0; /* nothing cached: the next exchange connects */
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, 0) != 0;
}

/* A handle for one exchange; *gen receives the fork generation it belongs
 * to (given back to pool_release). */
static CURL *
pool_acquire(struct b24_http *h, unsigned *gen)
{
    CURL *c = NULL, **inherited = NULL;
    size_t ninherited = 0;
    unsigned g = atomic_load(&fork_gen);
    pthread_mutex_lock(&h->pool_mu);
    if (h->gen != g) {
        /* first use in a forked child: the idle handles are the parent's */
        inherited = h->idle;
        ninherited = h->nidle;
        h->idle = NULL;
        h->nidle = h->aidle = 0;
        h->gen = g;
    }
    while (c == NULL && h->nidle > 0) {
        c = h->idle[--h->nidle];
        if (conn_unclean(c)) {
            pthread_mutex_unlock(&h->pool_mu);
            curl_easy_cleanup(c); /* ours: closing it is fine */
            c = NULL;
            pthread_mutex_lock(&h->pool_mu);
        }
    }
    pthread_mutex_unlock(&h->pool_mu);
    if (inherited != NULL || ninherited > 0) {
        handles_abandon(inherited, ninherited);
        free(inherited);
    }
    if (c == NULL) {
        c = curl_easy_init();
        if (c != NULL)
            setup_constant(h, c);
    }
    *gen = g;
    return c;
}

static void
pool_release(struct b24_http *h, CURL *c, unsigned gen)
{
    int keep = 0;
    if (gen != atomic_load(&fork_gen)) {
        /* the process forked during this exchange: in the child, the
         * connection is the parent's */
        handles_abandon(&c, 1);
        return;
    }
    pthread_mutex_lock(&h->pool_mu);
    if (!atomic_load(&h->closed) && h->gen == gen) {
        if (h->nidle == h->aidle) {
            size_t na = h->aidle ? h->aidle * 2 : 8;
            CURL **ni = realloc(h->idle, na * sizeof(*ni));
            if (ni != NULL) {
                h->idle = ni;
                h->aidle = na;
            }
        }
        if (h->nidle < h->aidle) {
            h->idle[h->nidle++] = c;
            keep = 1;
        }
    }
    pthread_mutex_unlock(&h->pool_mu);
    if (!keep)
        curl_easy_cleanup(c);
}

/* ---- requests ---------------------------------------------------------- */

void
b24_request_init(struct b24_request *r)
{
    b24_buf_init(&r->url, 0);
    b24_buf_init(&r->body, 0);
    r->headers = NULL;
    r->timeout_ms = 30000;
    r->fresh_connect = 0;
    r->abort_cb = NULL;
    r->abort_ctx = NULL;
}

void
b24_request_clear(struct b24_request *r)
{
    b24_buf_free(&r->url);
    b24_buf_free(&r->body);
    free(r->headers); /* one block: b24_request_set_headers */
    r->headers = NULL;
}

static int
is_token(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
            return 0;
    }
    return 1;
}

static int
ieq_str(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        int x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

static int
has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

/* One line of a request's header list: "name: value", "name;" for an
 * empty value (curl sends an empty header; "name:" would remove it), or
 * "name:" when value is NULL (removes a header curl would add). */
struct hline {
    const char *name;
    const char *value;
};

/* The list as ONE block: the nodes, then their text (libcurl only reads a
 * curl_slist; freed with free(), not curl_slist_free_all: one allocation
 * per request instead of three per line). */
static struct curl_slist *
slist_block(const struct hline *v, size_t n)
{
    size_t i, text = 0;
    struct curl_slist *nodes;
    char *p;
    for (i = 0; i < n; i++)
        text += strlen(v[i].name) + (v[i].value ? strlen(v[i].value) : 0) + 3;
    nodes = malloc(n * sizeof(*nodes) + text);
    if (nodes == NULL)
        return NULL;
    p = (char *)(nodes + n);
    for (i = 0; i < n; i++) {
        size_t nl = strlen(v[i].name);
        nodes[i].data = p;
        nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
        memcpy(p, v[i].name, nl);
        p += nl;
        if (v[i].value == NULL) {
            *p++ = ':';
        } else if (v[i].value[0] == '\0') {
            *p++ = ';';
        } else {
            size_t vl = strlen(v[i].value);
            *p++ = ':';
            *p++ = ' ';
            memcpy(p, v[i].value, vl);
            p += vl;
        }
        *p++ = '\0';
    }
    return nodes;
}

enum b24_status
b24_request_set_headers(struct b24_request *r, const char *user_agent,
                        const struct b24_header_ref *extra, size_t nextra,
                        const char *idempotency_key, struct b24_error *err)
{
    static const char *const def_names[] = {"Content-Type", "Accept",
                                            "User-Agent"};
    const char *def_values[3];
    struct hline *lines;
    struct curl_slist *list;
    size_t i, j, k, n = 0;

    def_values[0] = "application/json";
    def_values[1] = "application/json, text/plain, */*";
    def_values[2] = user_agent ? user_agent : "";
    for (i = 0; i < nextra; i++) {
        if (!is_token(extra[i].name))
            return b24_error_set(err, B24_E_USAGE,
                                 "invalid HTTP header name");
        if (has_crlf(extra[i].value))
            return b24_error_set(err, B24_E_USAGE,
                                 "HTTP header values must not contain CR "
                                 "or LF");
    }
    if (has_crlf(def_values[2]) ||
        (idempotency_key && has_crlf(idempotency_key)))
        return b24_error_set(err, B24_E_USAGE,
                             "HTTP header values must not contain CR or LF");
    /* at most: 3 defaults, the extras, Idempotency-Key, Expect */
    lines = malloc((nextra + 5) * sizeof(*lines));
    if (lines == NULL)
        return b24_error_set(err, B24_E_NOMEM, "out of memory");
    for (k = 0; k < 3; k++) {
        int overridden = 0;
        for (j = 0; j < nextra; j++)
            if (ieq_str(extra[j].name, def_names[k]))
                overridden = 1;
        if (!overridden) {
            lines[n].name = def_names[k];
            lines[n++].value = def_values[k];
        }
    }
    for (i = 0; i < nextra; i++) {
        int later = 0;
        for (j = i + 1; j < nextra; j++)
            if (ieq_str(extra[i].name, extra[j].name))
                later = 1;
        if (idempotency_key && ieq_str(extra[i].name, "Idempotency-Key"))
            later = 1;
        if (!later) {
            lines[n].name = extra[i].name;
            lines[n++].value = extra[i].value;
        }
    }
    if (idempotency_key) {
        lines[n].name = "Idempotency-Key";
        lines[n++].value = idempotency_key;
    }
    /* No "Expect: 100-continue" round trip for large bodies. */
    lines[n].name = "Expect";
    lines[n++].value = NULL;
    list = slist_block(lines, n);
    free(lines);
    if (list == NULL)
        return b24_error_set(err, B24_E_NOMEM, "out of memory");
    free(r->headers);
    r->headers = list;
    return B24_OK;
}

/* ---- the exchange ------------------------------------------------------ */

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct b24_xfer_io *x = userdata;
    size_t n = size * nmemb;
    enum b24_status st = b24_buf_append(&x->body, ptr, n);
    if (st != B24_OK) {
        if (st == B24_E_LIMIT)
            x->overflow = 1;
        else
            x->nomem = 1;
        return 0;
    }
    return n;
}

/* The body buffer sized from Content-Length in one allocation (the
 * bytes on the wire: a compressed body still grows past it), at most
 * BODY_PRESIZE_MAX (a header alone never makes a large allocation). */
#define BODY_PRESIZE_MAX ((size_t)4 * 1024 * 1024)
static void
presize_body(struct b24_buf *body, const char *v, size_t n)
{
    size_t k, cl = 0;
    if (n == 0 || n > 12 || body->len > 0)
        return;
    for (k = 0; k < n; k++) {
        if (v[k] < '0' || v[k] > '9')
            return;
        cl = cl * 10 + (size_t)(v[k] - '0');
    }
    /* a failed reservation is not an error: the appends grow it */
    (void)b24_buf_reserve(body, cl < BODY_PRESIZE_MAX ? cl : BODY_PRESIZE_MAX);
}

static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct b24_xfer_io *x = userdata;
    size_t n = size * nmemb, nl, vs, ve;
    const char *colon;
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        b24_outcome_clear_headers(x->out); /* a new response begins */
        return n;
    }
    colon = memchr(ptr, ':', n);
    if (colon == NULL || colon == ptr || ptr[0] == ' ' || ptr[0] == '\t')
        return n;
    nl = (size_t)(colon - ptr);
    vs = nl + 1;
    ve = n;
    while (vs < ve && (ptr[vs] == ' ' || ptr[vs] == '\t'))
        vs++;
    while (ve > vs && (ptr[ve - 1] == '\r' || ptr[ve - 1] == '\n' ||
                       ptr[ve - 1] == ' ' || ptr[ve - 1] == '\t'))
        ve--;
    if (nl == 14 && strncasecmp(ptr, "content-length", 14) == 0)
        presize_body(&x->body, ptr + vs, ve - vs);
    if (b24_outcome_add_header(x->out, ptr, nl, ptr + vs, ve - vs) !=
        B24_OK) {
        x->nomem = 1;
        return 0;
    }
    return n;
}

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Replace *field (owned, may be NULL) by its b24_redact_text scrub. */
static enum b24_status
scrub_field(const struct b24_http *h, char **field)
{
    struct b24_buf b;
    enum b24_status st;
    if (*field == NULL)
        return B24_OK;
    b24_buf_init(&b, 0);
    st = b24_redact_text(&b, *field, strlen(*field), h->secret,
                         h->secret_len);
    if (st == B24_OK && (b.len != strlen(*field) ||
                         memcmp(b24_buf_cstr(&b), *field, b.len) != 0)) {
        char *s = b24_buf_steal(&b);
        if (s == NULL)
            st = B24_E_NOMEM;
        else {
            free(*field);
            *field = s;
        }
    }
    b24_buf_free(&b);
    return st;
}

/* Every server-supplied text of an outcome that can reach an error, a log
 * or a stat, scrubbed (spec §11.1): code, message and answer of a failure,
 * and the header values (every one of a failure; Location and
 * Content-Location always), so no raw Location ever reaches Python. */
static enum b24_status
scrub_outcome(const struct b24_http *h, struct b24_outcome *o)
{
    enum b24_status st = B24_OK;
    size_t i;
    int failed = o->kind != B24_KIND_OK;
    if (failed) {
        if ((st = scrub_field(h, &o->code)) ||
            (st = scrub_field(h, &o->message)))
            return st;
        if (o->answer != NULL) {
            if ((st = scrub_field(h, &o->answer)))
                return st;
            o->answer_len = strlen(o->answer);
        }
    }
    for (i = 0; i < o->nheaders && st == B24_OK; i++)
        if (failed || strcmp(o->headers[i].name, "location") == 0 ||
            strcmp(o->headers[i].name, "content-location") == 0)
            st = scrub_field(h, &o->headers[i].value);
    return st;
}

/* Scrubbed "<curl text>: <error buffer>" into o->detail. */
static enum b24_status
set_detail(struct b24_http *h, struct b24_outcome *o, CURLcode rc,
           const char *errbuf)
{
    struct b24_buf raw;
    enum b24_status st;
    b24_buf_init(&raw, 0);
    st = b24_buf_appends(&raw, curl_easy_strerror(rc));
    if (st == B24_OK && errbuf[0] != '\0')
        st = b24_buf_printf(&raw, ": %s", errbuf);
    while (st == B24_OK && raw.len > 0 &&
           (raw.data[raw.len - 1] == '\n' || raw.data[raw.len - 1] == '\r'))
        raw.data[--raw.len] = '\0';
    if (st == B24_OK) {
        free(o->detail);
        o->detail = b24_buf_steal(&raw);
        if (o->detail == NULL)
            st = B24_E_NOMEM;
    }
    b24_buf_free(&raw);
    return st == B24_OK ? scrub_field(h, &o->detail) : st;
}

static int
failed_before_send(CURLcode rc)
{
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
        return 1;
    default:
        return 0;
    }
}

static int
on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
            curl_off_t ultotal, curl_off_t ulnow)
{
    const struct b24_request *req = clientp;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return req->abort_cb(req->abort_ctx) ? 1 : 0;
}

/* The options that are the same for every call of this client: set once,
 * when pool_acquire creates the handle (no curl_easy_reset per call). */
static void
setup_constant(struct b24_http *h, CURL *c)
{
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_SHARE, h->share);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    /* The method is the last path segment: libcurl must send it as built
     * ("/rest/1/<secret>/.." normalised to "/rest/1/" would drop the
     * secret and call another URL). */
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    /* One cached connection per handle: the one its last exchange used, so
     * pool_acquire can check it (CURLINFO_ACTIVESOCKET) before reuse. */
    curl_easy_setopt(c, CURLOPT_MAXCONNECTS, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->verify ? 2L : 0L);
    if (h->ca_path != NULL)
        curl_easy_setopt(c, h->ca_is_dir ? CURLOPT_CAPATH : CURLOPT_CAINFO,
                         h->ca_path);
    if (h->ca_file_only)
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
}

/* The per-call options.  Every option a call may set is set on every call
 * (to its default when unused), so nothing leaks from one call to the next
 * on a pooled handle. */
/* The parsed URL of a call's first hop: a copy of the client's template
 * for the part before the query (parsed again only when the base or the
 * method changes) with this call's query set; NULL (then CURLOPT_URL, as
 * libcurl would parse it) for a URL without a query or on any failure. */
/* Spare copies of the template kept at most (a pool serves this many
 * calls at once without a dup; more are made and freed as before). */
#define B24_SPARE_URLS 8

static void
spares_clear(struct b24_http *h)
{
    while (h->nspare_u > 0)
        curl_url_cleanup(h->spare_u[--h->nspare_u]);
}

static CURLU *
call_curlu(struct b24_http *h, const char *url, unsigned *gen)
{
    const char *q = strchr(url, '?');
    size_t pl;
    CURLU *u = NULL;
    if (q == NULL)
        return NULL;
    pl = (size_t)(q - url);
    pthread_mutex_lock(&h->pool_mu);
    if (h->url_tpl == NULL || h->url_key_len != pl ||
        memcmp(h->url_key, url, pl) != 0) {
        CURLU *t = curl_url();
        char *k = b24_strndup(url, pl);
        /* the flags libcurl itself parses CURLOPT_URL with (PATH_AS_IS:
         * setup_constant) */
        if (t == NULL || k == NULL ||
            curl_url_set(t, CURLUPART_URL, k,
                         CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME |
                             CURLU_PATH_AS_IS) != CURLUE_OK) {
            curl_url_cleanup(t);
            free(k);
            pthread_mutex_unlock(&h->pool_mu);
            return NULL;
        }
        curl_url_cleanup(h->url_tpl);
        free(h->url_key);
        h->url_tpl = t;
        h->url_key = k;
        h->url_key_len = pl;
        h->tpl_gen++;
        spares_clear(h);
    }
    *gen = h->tpl_gen;
    u = h->nspare_u > 0 ? h->spare_u[--h->nspare_u]
                        : curl_url_dup(h->url_tpl);
    pthread_mutex_unlock(&h->pool_mu);
    if (u != NULL && curl_url_set(u, CURLUPART_QUERY, q + 1, 0) != CURLUE_OK) {
        curl_url_cleanup(u);
        u = NULL;
    }
    return u;
}

/* Give back a call's URL (after CURLOPT_CURLU was unset): kept as a spare
 * when it is a copy of the current template and there is room. */
static void
call_curlu_release(struct b24_http *h, CURLU *u, unsigned gen)
{
    if (u == NULL)
        return;
    pthread_mutex_lock(&h->pool_mu);
    if (gen == h->tpl_gen && !atomic_load(&h->closed)) {
        if (h->spare_u == NULL)
            h->spare_u = malloc(B24_SPARE_URLS * sizeof(*h->spare_u));
        if (h->spare_u != NULL && h->nspare_u < B24_SPARE_URLS) {
            h->spare_u[h->nspare_u++] = u;
            u = NULL;
        }
    }
    pthread_mutex_unlock(&h->pool_mu);
    curl_url_cleanup(u); /* NULL when kept */
}

static void
setup_handle(CURL *c, const char *url, CURLU *u, const struct b24_request *req,
             long timeout_ms, struct b24_xfer_io *x, char *errbuf)
{
    if (u != NULL) {
        curl_easy_setopt(c, CURLOPT_CURLU, u);
    } else {
        curl_easy_setopt(c, CURLOPT_CURLU, NULL);
        curl_easy_setopt(c, CURLOPT_URL, url);
    }
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, b24_buf_cstr(&req->body));
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)req->body.len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, req->fresh_connect ? 1L : 0L);
    if (req->abort_cb != NULL) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)req);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    } else {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 1L);
    }
}

/* Drop the pointers into this call's stack and request before the handle
 * goes back to the pool (a later curl_easy_cleanup may still report into
 * the error buffer while closing connections). */
static void
unset_call_pointers(CURL *c)
{
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_CURLU, NULL);
}

/* Set up the handle for the next hop; B24_OK, or the outcome's status
 * when the time budget is spent (a timeout outcome, *done = 1). */
static void
xfer_setup_hop(struct b24_xfer *xf, int *done)
{
    long left = xf->req->timeout_ms - (long)(now_ms() - xf->t0);
    *done = 0;
    b24_buf_reset(&xf->x.body);
    b24_outcome_clear_headers(xf->out);
    xf->x.overflow = xf->x.nomem = 0;
    xf->errbuf[0] = '\0';
    if (left <= 0) {
        xf->st = b24_envelope_timeout(xf->out);
        xf->out->maybe_sent = 1; /* an earlier hop reached the server */
        *done = 1;
        return;
    }
    if (xf->hops > 0 && xf->u != NULL) { /* a redirect: its own URL */
        curl_easy_setopt(xf->c, CURLOPT_CURLU, NULL);
        curl_url_cleanup(xf->u);
        xf->u = NULL;
    }
    setup_handle(xf->c, b24_buf_cstr(&xf->url), xf->u, xf->req, left, &xf->x,
                 xf->errbuf);
}

enum b24_status
b24_xfer_begin(struct b24_http *h, const struct b24_request *req,
               struct b24_outcome *out, struct b24_xfer *xf)
{
    int done;
    memset(xf, 0, sizeof(*xf));
    xf->h = h;
    xf->req = req;
    xf->out = out;
    xf->t0 = now_ms();
    xf->c = pool_acquire(h, &xf->gen);
    if (xf->c == NULL)
        return B24_E_CURL;
    b24_buf_init(&xf->url, 0);
    b24_buf_init(&xf->x.body, h->max_body);
    xf->x.out = out;
    if (b24_buf_append(&xf->url, b24_buf_cstr(&req->url), req->url.len)) {
        xf->st = B24_E_NOMEM;
        xf->finished = 1;
        return B24_OK;
    }
    xf->u = call_curlu(h, b24_buf_cstr(&xf->url), &xf->u_gen);
    xfer_setup_hop(xf, &done);
    xf->finished = done;
    return B24_OK;
}

CURL *
b24_xfer_handle(struct b24_xfer *xf)
{
    return xf->c;
}

int
b24_xfer_finish(struct b24_xfer *xf, int curl_rc)
{
    struct b24_http *h = xf->h;
    struct b24_outcome *out = xf->out;
    CURL *c = xf->c;
    CURLcode rc = (CURLcode)curl_rc;
    long status = 0;
    curl_off_t pretransfer = 0;
    long nconn = 0;
    char *redirect = NULL;
    int done;

    xf->finished = 1;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nconn);
    if (nconn > 0)
        atomic_fetch_add(&h->connections, (unsigned long long)nconn);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (xf->x.nomem) {
        xf->st = B24_E_NOMEM;
        return 0;
    }
    if (xf->x.overflow) {
        char m[128];
        snprintf(m, sizeof(m),
                 "Unexpected answer: the body exceeds %zu bytes",
                 h->max_body);
        out->status = status;
        out->maybe_sent = 1;
        xf->st = b24_outcome_set(out, B24_KIND_ERROR,
                                 "ERROR_UNEXPECTED_ANSWER", m);
        return 0;
    }
    if (rc != CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
        out->curl_code = (int)rc;
        out->maybe_sent =
            (!failed_before_send(rc) && pretransfer > 0) || xf->hops > 0;
        xf->st = rc == CURLE_OPERATION_TIMEDOUT
                     ? b24_envelope_timeout(out)
                     : b24_envelope_network_error(out);
        if (xf->st == B24_OK)
            xf->st = set_detail(h, out, rc, xf->errbuf);
        return 0;
    }
    out->maybe_sent = 1;
    if (status >= 300 && status <= 399 &&
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &redirect) == CURLE_OK &&
        redirect != NULL) {
        struct b24_url_origin to = {NULL, NULL, -1};
        enum b24_status ps =
            b24_url_origin_parse(redirect, strlen(redirect), &to);
        if (ps == B24_E_NOMEM) {
            xf->st = ps;
            return 0;
        }
        if (ps != B24_OK || !b24_url_origin_equal(&h->origin, &to)) {
            struct b24_buf m;
            enum b24_status st;
            b24_buf_init(&m, 0);
            st = b24_buf_appends(&m, "Portal moved to ");
            if (st == B24_OK)
                st = ps == B24_OK ? b24_url_origin_format(&to, &m)
                                  : b24_buf_appends(&m, "another address");
            out->status = status;
            if (st == B24_OK)
                st = b24_outcome_set(out, B24_KIND_ERROR, "PORTAL_MOVED",
                                     b24_buf_cstr(&m));
            xf->st = st;
            b24_buf_free(&m);
            b24_url_origin_clear(&to);
            return 0;
        }
        b24_url_origin_clear(&to);
        if (xf->hops >= h->max_redirects) {
            out->status = status;
            xf->st = b24_outcome_set(out, B24_KIND_ERROR,
                                     "ERR_FR_TOO_MANY_REDIRECTS",
                                     "Maximum number of redirects exceeded");
            return 0;
        }
        b24_buf_reset(&xf->url);
        if (b24_buf_appends(&xf->url, redirect)) {
            xf->st = B24_E_NOMEM;
            return 0;
        }
        xf->hops++;
        xfer_setup_hop(xf, &done);
        if (done)
            return 0;
        xf->finished = 0;
        return 1;
    }
    xf->st = b24_envelope_classify_buf(out, status, &xf->x.body);
    return 0;
}

enum b24_status
b24_xfer_end(struct b24_xfer *xf)
{
    enum b24_status st = xf->st;
    if (xf->c == NULL)
        return st;
    if (st == B24_OK)
        st = scrub_outcome(xf->h, xf->out);
    xf->out->elapsed_ms = now_ms() - xf->t0;
    b24_buf_free(&xf->x.body);
    b24_buf_free(&xf->url);
    unset_call_pointers(xf->c);
    call_curlu_release(xf->h, xf->u, xf->u_gen);
    xf->u = NULL;
    pool_release(xf->h, xf->c, xf->gen);
    xf->c = NULL;
    return st;
}

enum b24_status
b24_http_perform(struct b24_http *h, const struct b24_request *req,
                 struct b24_outcome *out)
{
    struct b24_xfer xf;
    enum b24_status st = b24_xfer_begin(h, req, out, &xf);
    if (st != B24_OK)
        return st;
    while (!xf.finished &&
           b24_xfer_finish(&xf, (int)curl_easy_perform(xf.c)))
        ;
    return b24_xfer_end(&xf);
}

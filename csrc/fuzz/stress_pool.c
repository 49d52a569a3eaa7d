/* stress_pool.c - the handle pool of b24_http under ThreadSanitizer
 * (`make tsan`).  Not a fuzz target: a threaded stress driver.
 *
 * A keep-alive HTTP/1.1 server on 127.0.0.1 (one thread per connection)
 * answers every POST with a small JSON envelope.  THREADS client threads
 * share ONE struct b24_http; each runs CALLS exchanges, borrowing handles
 * from the pool, holding its own reference (incref/decref) like a call in
 * flight does, while the main thread reads the counters.  At the end one
 * thread closes the object while others still call (calls after close
 * must stay safe).  Exit status 0 when every exchange before close was
 * OK; TSan aborts the run on any race report (halt_on_error=1). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "b24_http.h"
#include "b24_url.h"

#define THREADS 16
#define CALLS 150

static int listen_fd;
static atomic_int stop;
static atomic_int ok_calls, bad_calls;
static struct b24_http *shared;

static const char answer[] =
    "{\"result\":{\"ID\":\"1\",\"TITLE\":\"x\"},\"time\":{\"start\":1.0}}";

static void *
serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    size_t have = 0;
    for (;;) {
        char *eoh;
        ssize_t r;
        long clen = 0;
        size_t need;
        char out[512];
        int n;
        buf[have] = '\0';
        eoh = strstr(buf, "\r\n\r\n");
        if (eoh == NULL) {
            if (have >= sizeof(buf) - 1)
                break;
            r = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
            if (r <= 0)
                break;
            have += (size_t)r;
            continue;
        }
        {
            char *cl = strcasestr(buf, "content-length:");
            if (cl != NULL && cl < eoh)
                clen = strtol(cl + 15, NULL, 10);
        }
        need = (size_t)(eoh + 4 - buf) + (size_t)clen;
        if (need >= sizeof(buf))
            break;
        while (have < need) {
            r = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
            if (r <= 0)
                goto out;
            have += (size_t)r;
        }
        n = snprintf(out, sizeof(out),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nX-Test: 1\r\n\r\n%s",
                     strlen(answer), answer);
        if (send(fd, out, (size_t)n, MSG_NOSIGNAL) != n)
            break;
        memmove(buf, buf + need, have - need);
        have -= need;
    }
out:
    close(fd);
    return NULL;
}

static void *
server(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        pthread_t t;
        int one = 1;
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd) != 0) {
            close(fd);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

static void *
client(void *arg)
{
    int id = (int)(intptr_t)arg, i;
    struct b24_request r;
    struct b24_error err;
    b24_request_init(&r);
    if (b24_request_set_headers(&r, "stress/1", NULL, 0, NULL, &err)) {
        atomic_fetch_add(&bad_calls, 1);
        return NULL;
    }
    for (i = 0; i < CALLS; i++) {
        struct b24_outcome o;
        char rid[32];
        b24_http_incref(shared); /* like a call in flight */
        snprintf(rid, sizeof(rid), "t%d-%d", id, i);
        b24_buf_reset(&r.url);
        b24_buf_reset(&r.body);
        if (b24_url_build_call(&r.url, b24_http_base_url(shared),
                               "crm.item.get", 12, rid, "0.1", "b24hook") ||
            b24_buf_printf(&r.body, "{\"id\":%d}", i)) {
            atomic_fetch_add(&bad_calls, 1);
            b24_http_decref(shared);
            break;
        }
        r.timeout_ms = 10000;
        b24_outcome_init(&o);
        if (b24_http_perform(shared, &r, &o) == B24_OK &&
            o.kind == B24_KIND_OK && o.status == 200 && o.answer != NULL)
            atomic_fetch_add(&ok_calls, 1);
        else
            atomic_fetch_add(&bad_calls, 1);
        b24_outcome_clear(&o);
        b24_http_decref(shared);
    }
    b24_request_clear(&r);
    return NULL;
}

int
main(void)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    pthread_t srv, th[THREADS];
    struct b24_http_config cfg;
    struct b24_error err;
    char url[128];
    int i, one = 1;

    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) ||
        listen(listen_fd, 128) ||
        getsockname(listen_fd, (struct sockaddr *)&a, &al)) {
        perror("listen");
        return 2;
    }
    pthread_create(&srv, NULL, server, NULL);

    if (b24_http_global_init() != B24_OK)
        return 2;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/rest/1/stress-secret",
             ntohs(a.sin_port));
    memset(&cfg, 0, sizeof(cfg));
    cfg.base_url = url;
    cfg.secret = "stress-secret";
    cfg.verify = 1;
    cfg.max_redirects = -1;
    shared = b24_http_new(&cfg, &err);
    if (shared == NULL) {
        fprintf(stderr, "b24_http_new: %s\n", err.message);
        return 2;
    }
    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, client, (void *)(intptr_t)i);
    for (i = 0; i < 20; i++) {
        (void)b24_http_connections_opened(shared);
        (void)b24_http_closed(shared);
        usleep(1000);
    }
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    printf("tsan-pool: %d ok, %d failed, %llu connections for %d threads\n",
           atomic_load(&ok_calls), atomic_load(&bad_calls),
           b24_http_connections_opened(shared), THREADS);

    /* close while calls are in flight: they finish (ok or not), no race */
    b24_http_incref(shared);
    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, client, (void *)(intptr_t)(100 + i));
    usleep(2000);
    b24_http_close(shared);
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    b24_http_decref(shared);
    b24_http_decref(shared);

    atomic_store(&stop, 1);
    shutdown(listen_fd, SHUT_RDWR);
    close(listen_fd);
    pthread_join(srv, NULL);
    return atomic_load(&ok_calls) >= THREADS * CALLS ? 0 : 1;
}

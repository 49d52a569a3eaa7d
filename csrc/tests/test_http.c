/* test_http.c - request building and local transport failures (no
 * network beyond 127.0.0.1). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "b24_http.h"
#include "b24_pipeline.h"
#include "b24_url.h"
#include "harness.h"

static int
count_header(const struct curl_slist *l, const char *line)
{
    int n = 0;
    for (; l != NULL; l = l->next)
        if (strcmp(l->data, line) == 0)
            n++;
    return n;
}

/* A port on 127.0.0.1 with nothing listening (bound, then closed). */
static int
free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

void
test_http(void)
{
    struct b24_request r;
    struct b24_error err;
    struct b24_header_ref extra[] = {{"accept", "text/x"},
                                     {"X-Custom", "1"},
                                     {"x-custom", "2"},
                                     {"X-Empty", ""}};
    struct b24_header_ref badname[] = {{"Bad Name", "1"}};
    struct b24_header_ref badval[] = {{"X", "a\r\nInjected: 1"}};
    struct b24_http_config cfg;
    struct b24_http *h;
    struct b24_outcome o;
    struct b24_pipeline p;
    char url[128];
    int port;

    CHECK(b24_http_global_init() == B24_OK);
    b24_request_init(&r);
    CHECK(b24_request_set_headers(&r, "b24hook/0.1", extra, 4, "idem-1",
                                  &err) == B24_OK);
    CHECK(count_header(r.headers, "Content-Type: application/json") == 1);
    CHECK(count_header(r.headers,
                       "Accept: application/json, text/plain, */*") == 0);
    CHECK(count_header(r.headers, "accept: text/x") == 1);
    CHECK(count_header(r.headers, "User-Agent: b24hook/0.1") == 1);
    CHECK(count_header(r.headers, "X-Custom: 1") == 0);
    CHECK(count_header(r.headers, "x-custom: 2") == 1);
    CHECK(count_header(r.headers, "X-Empty;") == 1);
    CHECK(count_header(r.headers, "Idempotency-Key: idem-1") == 1);
    CHECK(count_header(r.headers, "Expect:") == 1);
    CHECK(b24_request_set_headers(&r, "ua", badname, 1, NULL, &err) ==
          B24_E_USAGE);
    CHECK(b24_request_set_headers(&r, "ua", badval, 1, NULL, &err) ==
          B24_E_USAGE);
    CHECK(strstr(err.message, "Injected") == NULL);
    CHECK(b24_request_set_headers(&r, "ua", NULL, 0, NULL, &err) == B24_OK);
    CHECK(count_header(r.headers,
                       "Accept: application/json, text/plain, */*") == 1);
    CHECK(count_header(r.headers, "User-Agent: ua") == 1);

    /* Connection refused: NETWORK_ERROR, not sent, secret-free detail. */
    port = free_port();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/rest/1/s3cr3tXYZ", port);
    memset(&cfg, 0, sizeof(cfg));
    cfg.base_url = url;
    cfg.secret = "s3cr3tXYZ";
    cfg.verify = 1;
    cfg.max_redirects = -1;
    h = b24_http_new(&cfg, &err);
    CHECK(h != NULL);
    if (h != NULL) {
        b24_buf_reset(&r.url);
        CHECK(b24_url_build_call(&r.url, b24_http_base_url(h), "user.current",
                                 12, "rid", "0.1.0", "b24hook") == B24_OK);
        CHECK(b24_buf_appends(&r.body, "{}") == B24_OK);
        r.timeout_ms = 5000;
        b24_outcome_init(&o);
        b24_pipeline_init(&p);
        CHECK(b24_pipeline_run(&p, h, &r, &o) == B24_OK);
        CHECK(o.kind == B24_KIND_ERROR);
        CHECK_STR(o.code, "NETWORK_ERROR");
        CHECK(o.status == 0);
        CHECK(o.maybe_sent == 0);
        CHECK(o.detail != NULL && strstr(o.detail, "s3cr3tXYZ") == NULL);
        CHECK(o.curl_code == CURLE_COULDNT_CONNECT);
        b24_outcome_clear(&o);
        /* A reference held by a call in flight outlives close. */
        b24_http_incref(h);
        b24_http_close(h);
        CHECK(b24_http_closed(h));
        b24_http_close(h);
        b24_outcome_init(&o);
        CHECK(b24_http_perform(h, &r, &o) == B24_OK); /* still safe */
        b24_outcome_clear(&o);
        b24_http_decref(h);
        b24_http_decref(h);
    }
    cfg.base_url = "not a url";
    CHECK(b24_http_new(&cfg, &err) == NULL);
    CHECK(err.status == B24_E_USAGE);
    b24_http_decref(NULL);
    b24_request_clear(&r);
}

/* The floor of workload 1: what libcurl + cJSON cost with nothing else.
 *
 * usage: floor URL CALLS THREADS CAFILE [BODY]
 * Each thread owns one curl easy handle (keep-alive, TLS verified against
 * CAFILE) and POSTs BODY (default "{}") with Content-Type: application/json
 * CALLS/THREADS times, parsing every answer with cJSON and checking it has
 * "result".
 * Prints one JSON line: {"calls":n,"ok":n,"wall":s,"cpu":s,"maxrss_kb":n}.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct { char *p; size_t n, cap; } buf_t;
typedef struct { const char *url, *ca, *body; long calls, ok; } job_t;
static pthread_barrier_t start_line;

static size_t on_data(char *ptr, size_t sz, size_t nm, void *ud) {
    buf_t *b = ud; size_t len = sz * nm;
    if (b->n + len + 1 > b->cap) {
        size_t cap = (b->n + len + 1) * 2; char *q = realloc(b->p, cap);
        if (!q) return 0;
        b->p = q; b->cap = cap;
    }
    memcpy(b->p + b->n, ptr, len); b->n += len; b->p[b->n] = 0;
    return len;
}

static void *run(void *arg) {
    job_t *j = arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hd = NULL;
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, "Accept: application/json");
    buf_t b = {0};
    curl_easy_setopt(h, CURLOPT_URL, j->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(j->body));
    curl_easy_setopt(h, CURLOPT_CAINFO, j->ca);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    for (long i = -1; i < j->calls; i++) {
        if (i == 0) { j->ok = 0; pthread_barrier_wait(&start_line); }  /* untimed warm-up call first */
        b.n = 0;
        if (curl_easy_perform(h) != CURLE_OK) continue;
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        cJSON *doc = cJSON_ParseWithLength(b.p ? b.p : "", b.n);
        if (code == 200 && doc && cJSON_GetObjectItemCaseSensitive(doc, "result")) j->ok++;
        cJSON_Delete(doc);
    }
    free(b.p);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

static double now(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(long *maxrss) {
    struct rusage ru; getrusage(RUSAGE_SELF, &ru);
    if (maxrss) *maxrss = ru.ru_maxrss;
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) { fprintf(stderr, "usage: floor URL CALLS THREADS CAFILE [BODY]\n"); return 2; }
    const char *body = argc == 6 ? argv[5] : "{}";
    long calls = atol(argv[2]); int threads = atoi(argv[3]);
    if (threads < 1 || threads > 64 || calls < 1) return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* every thread makes one untimed call (connection + TLS handshake), then
     * all meet at the barrier and the clock starts */
    job_t jobs[64]; pthread_t th[64];
    pthread_barrier_init(&start_line, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job_t){argv[1], argv[4], body, calls / threads + (i < calls % threads), 0};
        pthread_create(&th[i], NULL, run, &jobs[i]);
    }
    pthread_barrier_wait(&start_line);
    double c0 = cpu(NULL), t0 = now();
    long ok = 0;
    for (int i = 0; i < threads; i++) { pthread_join(th[i], NULL); ok += jobs[i].ok; }
    double t1 = now(); long rss; double c1 = cpu(&rss);
    printf("{\"calls\":%ld,\"ok\":%ld,\"wall\":%.6f,\"cpu\":%.6f,\"maxrss_kb\":%ld}\n", calls, ok, t1 - t0, c1 - c0, rss);
    curl_global_cleanup();
    return ok == calls ? 0 : 1;
}

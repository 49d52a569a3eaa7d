/* b24_envelope.h - JSON parsing of answers and the outcome mapping of
 * spec §4.4 (A: 2xx answers, B: transport failures and non-2xx answers).
 *
 * Pure C: no I/O, no locks.  An answer is read by the reader (b24_json.h)
 * in one pass that also notes where the top-level members `error`,
 * `error_description` and `time` are; only those small members are
 * checked in full and parsed with cJSON_ParseWithLengthOpts (explicit
 * length, explicit end pointer; the library's global error pointer is
 * never read) and looked up with case-sensitive getters only.  The whole
 * answer is kept as text: the glue converts it once, straight to Python
 * objects.
 *
 * One strict pass per answer: a 2xx body is read from its end when it
 * can be (b24_envelope_tail: an object whose last member is `time` and
 * which has no key named `error` or `error_description`; only `time` is
 * read), else skimmed (its structure, keys, numbers and literals checked,
 * string values not), and the decode that reads it anyway checks the
 * rest; a body the decode
 * rejects becomes ERROR_UNEXPECTED_ANSWER through b24_envelope_reject(),
 * with the code and message classify gives a body its strict reader
 * rejects.  A consumer that does not decode calls b24_envelope_check().
 * Non-2xx bodies (small error answers) are read strictly here. */
#ifndef B24_ENVELOPE_H
#define B24_ENVELOPE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "b24.h"
#include "b24_buf.h"
#include "b24_json.h"

enum b24_outcome_kind {
    B24_KIND_OK = 0,     /* 2xx, JSON, no error member */
    B24_KIND_FAILED = 1, /* 2xx JSON whose `error` yields an error (§4.4 A) */
    B24_KIND_ERROR = 2   /* transport failure, non-2xx, non-JSON 2xx (B) */
};

struct b24_header {
    char *name;  /* owned, lower-cased */
    char *value; /* owned, surrounding whitespace trimmed */
};

/* The plain-C result of one exchange.  Every pointer is owned by the
 * outcome and released by b24_outcome_clear(). */
struct b24_outcome {
    enum b24_outcome_kind kind;
    long status;        /* HTTP status; 0 without response; 408 on timeout */
    char *answer;       /* owned: the body when it is JSON (see
                           answer_checked; BOM removed; NUL-terminated),
                           else NULL */
    size_t answer_len;  /* bytes of `answer` */
    int answer_checked; /* 1: `answer` passed the strict reader in full;
                           0: a 2xx answer whose string values are still
                           to be checked (by the decode, or by
                           b24_envelope_check) */
    cJSON *envelope;    /* owned: an object holding only the top-level
                           members error, error_description and time of an
                           object answer (NULL when the answer is not an
                           object) */
    char *code;         /* owned; NULL for OK */
    char *message;      /* owned; NULL for OK; secret-free */
    int maybe_sent;     /* 1: the request may have reached the server */
    double elapsed_ms;  /* wall time of the exchange */
    char *detail;       /* owned; libcurl/OS text, secret-scrubbed; or NULL */
    int curl_code;      /* CURLcode of a transport failure, else 0 */
    /* time.operating and time.operating_reset_at of an object answer, read
     * straight from the text (numbers only; the last of duplicate keys),
     * for the limiter: no tree is built for `time` */
    int have_time; /* `time` is an object */
    int have_operating, have_reset_at;
    double operating, reset_at;
    struct b24_header *headers; /* owned array of `nheaders` */
    size_t nheaders;
    size_t aheaders;
};

/* The member `name` of object `obj` (case-sensitive), the LAST one when
 * the name is repeated (cJSON keeps every duplicate and its getters return
 * the first; answers follow json.loads: the last wins).  NULL when `obj`
 * is not an object or has no such member. */
const cJSON *b24_json_member(const cJSON *obj, const char *name);

void b24_outcome_init(struct b24_outcome *o);
void b24_outcome_clear(struct b24_outcome *o);
/* Set kind/code/message (copied); replaces previous code/message. */
enum b24_status b24_outcome_set(struct b24_outcome *o,
                                enum b24_outcome_kind kind, const char *code,
                                const char *message);
/* Add or replace (last wins) a response header; name is lower-cased. */
enum b24_status b24_outcome_add_header(struct b24_outcome *o,
                                       const char *name, size_t nlen,
                                       const char *value, size_t vlen);
void b24_outcome_clear_headers(struct b24_outcome *o);

/* Check that `len` bytes are one strict RFC 8259 JSON text (json.loads'
 * grammar: no leading zeros, no "1.", no control characters in strings,
 * only space/tab/CR/LF as whitespace, well-formed UTF-8; an escaped lone
 * surrogate is rejected like cJSON does), nested at most
 * B24_JSON_MAX_DEPTH deep, no string longer than B24_JSON_MAX_STRING.
 * Iterative, O(len), no allocation, no globals (b24_json_read without
 * callbacks).  B24_E_JSON (syntax,
 * invalid UTF-8) or B24_E_LIMIT (a cap), err->offset = byte offset. */
enum b24_status b24_json_validate(const char *text, size_t len,
                                  struct b24_error *err);

/* Parse a complete JSON text of `len` bytes (trailing whitespace allowed,
 * anything else after the value is an error; one leading UTF-8 BOM is
 * skipped).  The text is validated first (b24_json_validate), so cJSON
 * only ever sees valid JSON and never writes its global error pointer for
 * a syntax error.  On B24_OK *out is a tree the CALLER OWNS
 * (cJSON_Delete).  On B24_E_JSON / B24_E_LIMIT err->offset is the byte
 * offset of the problem and err->message says what it is; B24_E_NOMEM
 * when cJSON fails on a text that validated. */
enum b24_status b24_json_parse(const char *text, size_t len, cJSON **out,
                               struct b24_error *err);

/* Classify an HTTP answer (status + body) per spec §4.4 A/B into `o`
 * (kind, status, code, message, answer, envelope).  `o->answer` receives
 * a copy of the body when it is JSON (owned by the outcome), without a
 * full tree: only the members the classification and the limiter read
 * are parsed (`o->envelope`).  A 2xx answer's string values are not
 * checked yet (answer_checked 0): decode it, or b24_envelope_check().
 * Returns B24_E_NOMEM only. */
enum b24_status b24_envelope_classify(struct b24_outcome *o, long status,
                                      const char *body, size_t len);

/* b24_envelope_classify without the tail read (every 2xx body skimmed):
 * the reference the tests and the fuzzer hold the tail read to. */
enum b24_status b24_envelope_classify_skim(struct b24_outcome *o,
                                           long status, const char *body,
                                           size_t len);

/* Bytes before a 2xx body's last '}' in which the tail read looks for the
 * `time` key (a portal's `time` object is ~250 bytes). */
#define B24_ENVELOPE_TAIL_WINDOW 4096

/* The tail read of a 2xx body (`len` bytes, BOM already skipped): 1 when
 * the body is, but for what the decode checks, an object answer with no
 * key named `error` or `error_description` (raw or written with \u
 * escapes, at any depth) whose last member is the key "time" (its
 * quote preceded, whitespace aside, by a comma or the opening brace, the
 * last "time" within B24_ENVELOPE_TAIL_WINDOW bytes of the end) with an
 * object value: [*time_start, *time_end) is that value up to the body's
 * last '}' (whitespace allowed after the object), which the caller reads
 * strictly; the body is then classified from `time` alone.  In valid JSON
 * such a key is the top-level object's last member, so the last `time`
 * (duplicates: the last wins, as everywhere).  0: the full reading.
 * Nothing before the key is validated: a body broken there is found by
 * the decode (b24_envelope_reject) or b24_envelope_check. */
int b24_envelope_tail(const char *text, size_t len, size_t *time_start,
                      size_t *time_end);

/* The tail read's scan: 1 when a key spelling `error` or
 * `error_description` (raw or with \u escapes, any depth) may open at a
 * quote in text[0, upto) (the text goes on to `n`: a key may end past
 * `upto`).  A quote inside a string that looks like such a key answers 1
 * too (the full reading then decides).  `simd`: 2 AVX2 when the CPU has
 * it, else 1 SSE2 where compiled in, else 0 bytes one by one (the tests
 * hold every level to the same answer). */
int b24_envelope_error_key(const char *text, size_t n, size_t upto,
                           int simd);

/* b24_envelope_classify of a received body: when it is JSON its storage
 * becomes `o->answer` (no copy; the buffer is left empty), else the
 * buffer is untouched.  Returns B24_E_NOMEM only. */
enum b24_status b24_envelope_classify_buf(struct b24_outcome *o, long status,
                                          struct b24_buf *body);

/* A 2xx outcome whose answer the strict reader rejected with `st`
 * (B24_E_JSON or B24_E_LIMIT) and `err`: the answer and envelope dropped,
 * ERROR_UNEXPECTED_ANSWER with classify's message.  B24_E_NOMEM only. */
enum b24_status b24_envelope_reject(struct b24_outcome *o,
                                    enum b24_status st,
                                    const struct b24_error *err);

/* Finish an outcome whose answer is not decoded: the strict reader over an
 * answer not yet checked, b24_envelope_reject() when it fails.  No-op for
 * a checked or absent answer.  B24_E_NOMEM only. */
enum b24_status b24_envelope_check(struct b24_outcome *o);

/* The fixed transport outcomes of §4.4 B. */
enum b24_status b24_envelope_network_error(struct b24_outcome *o);
enum b24_status b24_envelope_timeout(struct b24_outcome *o);

#endif /* B24_ENVELOPE_H */

/* b24_json.h - the strict JSON reader of answers, driven by callbacks
 * (STYLE §1.1: a Python-free parser and a table of callbacks with
 * privdata; the glue's callbacks build the Python objects).
 *
 * One pass, iterative, O(len): the grammar is json.loads' (RFC 8259: no
 * leading zeros, no "1.", no control characters in strings, only
 * space/tab/CR/LF as whitespace, well-formed UTF-8, an escaped lone
 * surrogate rejected), nesting at most B24_JSON_MAX_DEPTH, no string
 * longer than B24_JSON_MAX_STRING.  Pure C, no globals; it allocates only
 * a scratch buffer of code points for strings with escapes or non-ASCII
 * text, and only when a string or key callback is set. */
#ifndef B24_JSON_H
#define B24_JSON_H

#include <stddef.h>

#include "b24.h"

/* Caps of the reader (hostile answers fail cleanly, not slowly). */
#define B24_JSON_MAX_DEPTH 1000 /* nested arrays/objects (= cJSON's limit) */
#define B24_JSON_MAX_STRING ((size_t)16 * 1024 * 1024) /* bytes of one string */

/* A string or key as the reader hands it to a callback, valid only during
 * the call.  `raw` is always the bytes between the quotes as written (so
 * equal raw bytes mean equal strings).  When `cp` is NULL the string is
 * `raw` itself: ASCII without escapes, `len` == `raw_len` (the fast path).
 * Otherwise `cp` holds its `len` code points, escapes resolved and
 * surrogate pairs joined (\u0000 gives a 0), and `maxchar` is at least
 * the largest non-ASCII one (0 when all are ASCII): a consumer that builds
 * a Python str (PyUnicode_New) needs no second look at the text. */
struct b24_json_str {
    const char *raw;
    size_t raw_len;
    const unsigned *cp; /* NULL: ASCII, no escape: the text is raw */
    size_t len;         /* code points */
    unsigned maxchar;
    int escaped; /* raw had an escape */
};

/* Callbacks (any may be NULL).  Each returns 0 to go on; anything else
 * stops the reader, which then returns B24_E_USAGE ("stopped by a
 * callback").  A number is its raw token (json grammar, not
 * NUL-terminated); `is_int` is 1 when it has no fraction and no
 * exponent. */
struct b24_json_cb {
    int (*start_object)(void *priv);
    int (*key)(void *priv, const struct b24_json_str *s);
    int (*end_object)(void *priv);
    int (*start_array)(void *priv);
    int (*end_array)(void *priv);
    int (*string)(void *priv, const struct b24_json_str *s);
    int (*number)(void *priv, const char *tok, size_t n, int is_int);
    int (*boolean)(void *priv, int value);
    int (*null)(void *priv);
    /* Optional, and used only without `top` (b24_json_read's last but
     * one argument NULL): before a key is read, the consumer may
     * recognise it.  `at` is the text after the key's opening quote,
     * `avail` bytes of it.  Setting *len = k > 0 claims that at[0..k) are
     * the raw bytes of a key this reader already delivered in this text
     * (so they are valid) and that at[k] is '"': the reader then skips
     * the key, without a `key` call (the consumer has taken it).
     * *len = 0: no claim, the key is read and delivered as usual. */
    int (*key_guess)(void *priv, const char *at, size_t avail, size_t *len);
};

/* Byte spans of chosen members of a top-level object, filled by the reader
 * on the way (the last occurrence of each name: duplicate keys follow one
 * rule everywhere, the last wins, like json.loads and b24_json_member).
 * A top-level key written with an escape cannot be matched by its raw
 * bytes: `escaped_key` is then set and the caller must not rely on the
 * spans. */
struct b24_json_span {
    size_t start, end; /* value bytes [start, end) of the text */
    int found;
};
struct b24_json_top {
    const char *const *names; /* in */
    size_t nnames;            /* in; at most 8 */
    int skim; /* in: 1 = skim the strings below the top-level keys (their
                 contents unchecked: the closing quote is found past
                 escaped quotes, the cap still applies); the structure,
                 the top-level keys, numbers and literals are checked as
                 ever.  Only without string callbacks. */
    struct b24_json_span spans[8];
    int is_object;   /* the text is an object */
    int escaped_key; /* a top-level key had an escape */
};

/* Read `len` bytes as one JSON text (no BOM handling here; trailing
 * whitespace allowed, anything else after the value is an error), calling
 * `cb` (may be NULL: validation only) and filling `top` (may be NULL).
 * B24_E_JSON (syntax, invalid UTF-8) or B24_E_LIMIT (a cap) with
 * err->offset = byte offset and err->message "... at byte N";
 * B24_E_NOMEM; B24_E_USAGE when a callback stopped it. */
enum b24_status b24_json_read(const char *text, size_t len,
                              const struct b24_json_cb *cb, void *priv,
                              struct b24_json_top *top,
                              struct b24_error *err);

/* b24_json_read of a complete answer: one leading UTF-8 BOM is skipped
 * (offsets still count it); an empty text is "invalid JSON (empty text)". */
enum b24_status b24_json_sax_parse(const char *text, size_t len,
                                   const struct b24_json_cb *cb, void *priv,
                                   struct b24_error *err);

/* Append the string's text as UTF-8 to `out` (for consumers that want
 * bytes: the tests, the fuzz targets).  B24_OK or B24_E_NOMEM. */
struct b24_buf;
enum b24_status b24_json_str_utf8(const struct b24_json_str *s,
                                  struct b24_buf *out);

#endif /* B24_JSON_H */

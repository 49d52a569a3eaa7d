/* ext.h - shared declarations of the CPython glue (module state, converters).
 * Only csrc/ext includes Python.h. */
#ifndef B24_EXT_H
#define B24_EXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cjson/cJSON.h>

#include "b24_buf.h"
#include "b24_json.h"

/* Per-module state (m_size = sizeof).  Every PyObject* is owned. */

struct mod_state {
    PyTypeObject *transport_type;
    PyTypeObject *outcome_type;
    PyObject *params_error;
    PyObject *closed_error;
    PyObject *cancelled_error;
    PyObject *date_types;   /* (datetime.date, datetime.time) */
    PyObject *decimal_type; /* decimal.Decimal */
    PyObject *enum_type;    /* enum.Enum */
    PyObject *str_isoformat;
    PyObject *str_value;
    PyObject *str_strip;
    PyObject *ajax_error_create; /* b24hook._errors.AjaxError.create, or
                                    NULL until first needed */
};

/* convert.c */
#define CONV_MAX_DEPTH 512
#define CONV_LIST_AS_OBJECT 1 /* top-level list/tuple -> {"0":..,"1":..} */
#define CONV_DROP_DATA_START 2 /* top-level dict: data.start removed */

/* Append the JSON text of `obj` to `out`.  Returns 0, or -1 with an
 * exception set (ParamsError for unencodable input, MemoryError). */
int conv_encode(struct mod_state *st, PyObject *obj, struct b24_buf *out,
                int flags);
/* New reference: the JSON text of `len` bytes (one UTF-8 BOM skipped)
 * read in one pass straight to Python objects; or NULL with ValueError
 * ("invalid JSON ... at byte N", a cap) or MemoryError. */
PyObject *conv_decode_json(const char *text, size_t len);
/* The same, for an answer: when the text is not strict JSON (or hits a
 * cap) NULL WITHOUT an exception, *rc B24_E_JSON or B24_E_LIMIT and *err
 * the reader's first error (for b24_envelope_reject); NULL with an
 * exception for anything else. */
PyObject *conv_decode_answer(const char *text, size_t len,
                             enum b24_status *rc, struct b24_error *err);

/* actions.c: lists, batches, export (b24_qs, b24_list, b24_batch) */
int actions_register(PyObject *module);
/* JS parseInt(String(v)) (b24_parse_int_prefix; None, bools, NaN and
 * out-of-range ints read as NaN): 1 with *out, 0 for NaN, -1 with an
 * exception.  v borrowed, may be NULL (NaN). */
int ext_cursor_of(PyObject *v, long long *out);

/* walk.c: the Walk type (the page walks of lists, b24_walk). */
extern PyType_Spec walk_spec;

/* status.c: the leaf (uses nothing else of csrc/ext).
 *
 * Set the Python exception of a core status and return NULL (the one
 * mapping of an enum b24_status): B24_E_NOMEM -> MemoryError; refused input
 * (B24_E_USAGE, B24_E_JSON, B24_E_LIMIT) -> `refused` (NULL: ValueError)
 * with `message`; any other status -> RuntimeError naming it. */
PyObject *ext_raise_status(enum b24_status rc, const char *message,
                           PyObject *refused);
/* New reference: str of a core text (invalid UTF-8 replaced), None for
 * NULL. */
PyObject *ext_text_or_none(const char *s);

/* errors.c: the one mapping from an answer's classification to an
 * exception.
 *
 * New reference: AjaxError.create(code or "JSSDK_UNKNOWN_ERROR", status,
 * message, RuntimeError(detail) or None, query,
 * maybe_committed=maybe_committed); NULL with an exception set.  code,
 * message, detail, query: borrowed, str/None (query: a mapping). */
PyObject *ext_ajax_error(struct mod_state *st, PyObject *code,
                         PyObject *message, long status, PyObject *detail,
                         int maybe_committed, PyObject *query);
int errors_register(PyObject *module);

/* outcome.c: the Outcome type and b24_outcome -> Outcome. */
enum outcome_field {
    OUTCOME_KIND,
    OUTCOME_STATUS,
    OUTCOME_ANSWER,
    OUTCOME_CODE,
    OUTCOME_MESSAGE,
    OUTCOME_MAYBE_SENT,
    OUTCOME_ELAPSED_MS,
    OUTCOME_DETAIL,
    OUTCOME_HEADERS,
    OUTCOME_NFIELDS
};
struct b24_outcome;
/* New reference: an Outcome of `o` (its answer decoded once, the decode
 * being the strict check of a 2xx answer: one the reader rejects turns `o`
 * into ERROR_UNEXPECTED_ANSWER first, b24_envelope_reject); NULL with
 * an exception set. */
PyObject *ext_outcome_new(struct mod_state *st, struct b24_outcome *o);
/* Borrowed: field `field` (< OUTCOME_HEADERS) of an Outcome (never NULL). */
PyObject *ext_outcome_field(PyObject *outcome, int field);
/* Borrowed: the headers of an Outcome (the dict is made on first use);
 * NULL with an exception set. */
PyObject *ext_outcome_headers(PyObject *outcome);
int outcome_register(PyObject *module, struct mod_state *st);

/* redis.c: the limiter's Redis backend from Python, installed once at
 * module exec: the GIL block hooks and the outage notices logged to
 * `b24hook.limiter`. */
void ext_redis_install(void);

/* limiter.c: the Limiter type. */
struct b24_limiter;
struct b24_call_methods;
/* The core limiter of a Limiter (borrowed), or NULL when `o` is not one. */
struct b24_limiter *limiter_core(PyObject *o);
/* batch_methods (None or a sequence of str) -> names; *hold keeps the
 * strings alive until ext_batch_names_free.  0, or -1 with an exception. */
int ext_batch_names(PyObject *obj, struct b24_call_methods *bm,
                    PyObject **hold);
void ext_batch_names_free(struct b24_call_methods *bm, PyObject *hold);
/* Static name of an enum b24_retry_reason ("rate", "hard", ...). */
const char *ext_retry_reason_name(int reason);
extern PyType_Spec limiter_spec;

/* cancel.c: the CancelToken type. */
/* New reference to the token bound to the calling thread, or NULL. */
PyObject *cancel_bound_token(void);
/* Nonzero once `token` (a CancelToken or NULL) is cancelled; no GIL
 * needed. */
int cancel_token_is_set(PyObject *token);
extern PyType_Spec cancel_spec;

/* events.c: what a call running without the GIL shares with Python. */
struct b24_event;
struct call_ctx {
    PyThreadState *ts;       /* saved thread state while the GIL is out */
    PyObject *on_event;      /* borrowed, or NULL */
    int details;             /* also deliver the per-attempt events */
    struct mod_state *st;
    int main_thread;
    int stop;
    int cancelled;           /* stopped by the CancelToken */
    PyObject *cancel;        /* owned: the thread's token at call start */
    double last_check;
    PyObject *et, *ev, *etb; /* owned: the exception that stopped the call */
};
/* Fill `c` for one call (GIL held; takes the thread's CancelToken). */
void ext_call_begin(struct call_ctx *c, struct mod_state *st,
                    PyObject *on_event, int details);
/* b24_pipeline callbacks (called without the GIL, ctx = struct call_ctx). */
int ext_call_interrupted(void *ctx);
/* With the GIL held: stop the call with the exception now set. */
void ext_call_fail(struct call_ctx *c);
void ext_call_event(void *ctx, const struct b24_event *ev);
/* Deliver one engine event to `on_event` (NULL: nothing) with the GIL
 * held: an Exception it raises is swallowed (0); -1 with a BaseException
 * (KeyboardInterrupt, SystemExit...) set: the caller stops the call. */
int ext_event_held(PyObject *on_event, int details,
                   const struct b24_event *ev);
/* After the pipeline (GIL held): releases what `c` holds; -1 with the
 * exception that stopped the call set (KeyboardInterrupt, CancelledError,
 * a BaseException of on_event), else 0.  Safe to call twice. */
int ext_call_end(struct call_ctx *c);

/* transport.c: the Transport type. */
int transport_register(PyObject *module, struct mod_state *st);
struct b24_request;
struct b24_http;
/* Build `req` for one call on the real Transport `t` (GIL held); *http is
 * its core client (borrowed).  0, or -1 with an exception set (TypeError
 * for a scripted transport, ParamsError, ClosedError, ...). */
/* The core client of the real Transport `t` (borrowed), for a driver that
 * builds its requests later: 0, or -1 with TypeError (not a Transport, a
 * scripted one) or ClosedError set. */
int ext_transport_core(PyObject *t, struct b24_http **http);
int ext_transport_build(PyObject *t, PyObject *method, PyObject *params,
                        PyObject *rid, PyObject *ikey, PyObject *timeout,
                        struct b24_request *req, struct b24_http **http);
/* Transport.call(method, params, rid, **kwargs) on the Transport `t` (a
 * scripted one too): the same engine and driver with the GIL released.
 * New reference to the final Outcome, or NULL with the exception (what
 * call() raises).  Every argument borrowed; kwargs a dict of call()'s
 * keyword arguments. */
PyObject *ext_transport_call(PyObject *t, PyObject *method, PyObject *params,
                             PyObject *rid, PyObject *kwargs);
/* Minimal METH_FASTCALL|METH_KEYWORDS parser: `names` lists every
 * parameter; the first `npos` may be positional; the first `nreq` are
 * required.  out[] receives borrowed references (NULL when absent). */
int parse_fast(const char *fname, PyObject *const *args, Py_ssize_t nargs,
               PyObject *kwnames, const char *const *names, int nnames,
               int npos, int nreq, PyObject **out);

/* multi.c: the Multi type (many calls at once on one thread). */
extern PyType_Spec multi_spec;

/* aio.c: the AioMulti type (the engine's calls on an asyncio loop). */
extern PyType_Spec aio_spec;

#endif /* B24_EXT_H */

/* events.c - the bridge between a running call pipeline (b24_pipeline,
 * without the GIL) and Python: its events to the on_event callable, and
 * the stop checks -- the thread's CancelToken always, Ctrl-C (signal
 * handlers) in the main thread, at most every 20 ms.  Each crossing takes
 * the GIL briefly and gives it back; the first exception that stops the
 * call is kept and raised when the pipeline returns.  ext_event_held is
 * the delivery itself, for a driver that runs with the GIL held (the
 * asyncio driver, aio.c). */
#include "ext.h"

#include <string.h>

#include "b24_pipeline.h"

void
ext_call_begin(struct call_ctx *c, struct mod_state *st, PyObject *on_event,
               int details)
{
    memset(c, 0, sizeof(*c));
    c->st = st;
    c->on_event = on_event;
    c->details = details;
    c->main_thread = _PyOS_IsMainThread();
    c->last_check = -1e18;
    c->cancel = cancel_bound_token();
}

int
ext_call_end(struct call_ctx *c)
{
    int stopped = c->stop;
    if (stopped) {
        if (c->et != NULL)
            PyErr_Restore(c->et, c->ev, c->etb);
        else if (c->cancelled)
            PyErr_SetString(c->st->cancelled_error, "the call was cancelled");
        else
            PyErr_SetNone(PyExc_KeyboardInterrupt);
        c->et = c->ev = c->etb = NULL;
    }
    Py_CLEAR(c->cancel);
    return stopped ? -1 : 0;
}

static void
ctx_stash(struct call_ctx *c)
{
    if (c->et == NULL)
        PyErr_Fetch(&c->et, &c->ev, &c->etb);
    else
        PyErr_Clear();
    c->stop = 1;
}

void
ext_call_fail(struct call_ctx *c)
{
    ctx_stash(c);
}

int
ext_call_interrupted(void *vctx)
{
    struct call_ctx *c = vctx;
    double t;
    if (c->stop)
        return 1;
    if (cancel_token_is_set(c->cancel)) {
        c->cancelled = 1;
        c->stop = 1;
        return 1;
    }
    if (!c->main_thread)
        return 0;
    t = b24_clock_mono_ms(NULL);
    if (t - c->last_check < 20)
        return 0;
    c->last_check = t;
    PyEval_RestoreThread(c->ts);
    if (PyErr_CheckSignals() < 0)
        ctx_stash(c);
    c->ts = PyEval_SaveThread();
    return c->stop;
}

static const char *
event_name(enum b24_event_kind k)
{
    switch (k) {
    case B24_EV_ATTEMPT: return "attempt";
    case B24_EV_BLOCKED: return "blocked";
    case B24_EV_POST_SEND: return "send";
    case B24_EV_RESPONSE: return "response";
    case B24_EV_SUCCESS: return "success";
    case B24_EV_CATCH: return "catch";
    case B24_EV_FAILED: return "failed";
    case B24_EV_DECIDED: return "decided";
    case B24_EV_RATE_LOWERED: return "rate_lowered";
    case B24_EV_RATE_RESTORED: return "rate_restored";
    case B24_EV_HEAVY: return "heavy";
    case B24_EV_WAIT: return "wait";
    case B24_EV_AUTH_ERROR: return "auth_error";
    case B24_EV_AUTH_REFRESH: return "auth_refresh";
    case B24_EV_EXHAUSTED: return "exhausted";
    }
    return "unknown";
}

static PyObject *
event_dict(const struct b24_event *ev)
{
    const struct b24_outcome *o = ev->outcome;
    PyObject *d = Py_BuildValue(
        "{s:s,s:I,s:I,s:d,s:k,s:s,s:s,s:d}", "method", ev->method,
        "attempt", ev->attempt, "max", ev->max_attempts, "wait", ev->wait_ms,
        "count", ev->count, "limiter", b24_gate_title(ev->gate), "reason",
        ev->kind == B24_EV_DECIDED ? ext_retry_reason_name(ev->reason) : "",
        "duration", ev->duration_ms);
    if (d == NULL || o == NULL)
        return d;
    {
        PyObject *v = Py_BuildValue(
            "{s:l,s:N,s:N}", "status", o->status, "code",
            ext_text_or_none(o->code), "message",
            ext_text_or_none(o->message));
        if (v == NULL || PyDict_Update(d, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    if (ev->kind == B24_EV_RESPONSE || ev->kind == B24_EV_CATCH) {
        PyObject *a = o->answer ? conv_decode_json(o->answer, o->answer_len)
                                 : Py_NewRef(Py_None);
        if (a == NULL) {
            PyErr_Clear();
            a = Py_NewRef(Py_None);
        }
        if (PyDict_SetItemString(d, "answer", a) < 0) {
            Py_DECREF(a);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(a);
    }
    return d;
}

/* The events a quiet logger still wants: limiter decisions and give-ups
 * (notice level and above).  The others come once or more per attempt and
 * carry the decoded answer: they are only built for details=True. */
static int
event_is_detail(enum b24_event_kind k)
{
    switch (k) {
    case B24_EV_BLOCKED:
    case B24_EV_DECIDED:
    case B24_EV_RATE_LOWERED:
    case B24_EV_RATE_RESTORED:
    case B24_EV_EXHAUSTED:
        return 0;
    default:
        return 1;
    }
}

int
ext_event_held(PyObject *on_event, int details, const struct b24_event *ev)
{
    PyObject *d, *r = NULL;
    if (on_event == NULL)
        return 0;
    if (!details && event_is_detail(ev->kind))
        return 0;
    d = event_dict(ev);
    if (d != NULL) {
        r = PyObject_CallFunction(on_event, "sO", event_name(ev->kind), d);
        Py_DECREF(d);
    }
    if (r == NULL) {
        /* logging is fire-and-forget; only a KeyboardInterrupt (or another
         * BaseException) raised while Python ran stops the call */
        if (PyErr_ExceptionMatches(PyExc_Exception)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

void
ext_call_event(void *vctx, const struct b24_event *ev)
{
    struct call_ctx *c = vctx;
    if (c->on_event == NULL || c->stop)
        return;
    if (!c->details && event_is_detail(ev->kind))
        return;
    PyEval_RestoreThread(c->ts);
    if (ext_event_held(c->on_event, c->details, ev) < 0)
        ctx_stash(c);
    c->ts = PyEval_SaveThread();
}

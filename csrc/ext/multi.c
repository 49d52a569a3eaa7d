/* multi.c - the Multi type: many calls at once on one thread (issue 10
 * item 2).  Each add() starts one call machine of the engine on the
 * transport's core client; run() releases the GIL and drives them all on
 * one libcurl multi handle (b24_drive.c) until at least one is done.  The
 * events and stop checks are those of a single call (events.c): the
 * thread's CancelToken, Ctrl-C in the main thread, on_event per call.
 *
 *     m = Multi(transport, limiter)
 *     m.add(key, method, params, request_id, ...)   # as Transport.call
 *     while m.active: for key, outcome in m.run(): ...
 *     m.close()
 */
#include "ext.h"

#include <string.h>

#include "b24_drive.h"
#include "b24_limiter.h"

struct item {
    struct b24_flight f;
    PyObject *key;       /* owned */
    PyObject *on_event;  /* owned or NULL */
    int details;
    PyObject *hold;      /* owned: keeps batch names alive */
    struct b24_call_methods names;
    struct call_ctx *cc; /* the running add()/run()'s, while it runs */
};

typedef struct {
    PyObject_HEAD
    struct mod_state *state;
    PyObject *transport;   /* owned */
    PyObject *limiter;     /* owned */
    struct b24_http *http; /* a reference, for the multi's lifetime */
    struct b24_multi *m;   /* NULL once closed */
    int busy;              /* an add()/run() is running (GIL released) */
} MultiObject;

static void
item_free(struct item *it)
{
    Py_XDECREF(it->key);
    Py_XDECREF(it->on_event);
    ext_batch_names_free(&it->names, it->hold);
    b24_flight_clear(&it->f);
    PyMem_Free(it);
}

/* The engine's event for one call: through the running call_ctx, with
 * this call's callable. */
static void
item_event(void *ctx, const struct b24_event *ev)
{
    struct item *it = ctx;
    struct call_ctx *cc = it->cc;
    if (cc == NULL || it->on_event == NULL)
        return;
    cc->on_event = it->on_event;
    cc->details = it->details;
    ext_call_event(cc, ev);
    cc->on_event = NULL;
}

static int
check_usable(MultiObject *self)
{
    if (self->m == NULL) {
        PyErr_SetString(self->state->closed_error, "the Multi is closed");
        return -1;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "a Multi is used by one thread at a time");
        return -1;
    }
    return 0;
}

static PyObject *
multi_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"transport", "limiter", NULL};
    PyObject *t, *lim;
    MultiObject *self;
    struct b24_http *http = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:Multi", kwlist, &t,
                                     &lim))
        return NULL;
    if (limiter_core(lim) == NULL) {
        PyErr_SetString(PyExc_TypeError, "limiter must be a Limiter");
        return NULL;
    }
    if (ext_transport_core(t, &http) < 0)
        return NULL;
    self = (MultiObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->state = PyType_GetModuleState(type);
    self->transport = Py_NewRef(t);
    self->limiter = Py_NewRef(lim);
    b24_http_incref(http);
    self->http = http;
    self->m = b24_multi_new(http);
    if (self->m == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

/* Free the multi and every call it still holds (GIL held). */
static void
multi_shut(MultiObject *self)
{
    struct b24_multi *m = self->m;
    struct item **held = NULL;
    size_t n = 0, i;
    if (m == NULL)
        return;
    self->m = NULL;
    /* the driver stops the flights; their items are freed after */
    n = b24_multi_active(m);
    if (n > 0) {
        struct b24_flight **v = NULL;
        held = PyMem_Calloc(n, sizeof(*held));
        if (held != NULL) {
            v = b24_multi_flights(m);
            for (i = 0; i < n; i++)
                held[i] = v[i]->user;
        }
    }
    b24_multi_free(m);
    for (i = 0; held != NULL && i < n; i++)
        item_free(held[i]);
    PyMem_Free(held);
}

static int
multi_tp_traverse(MultiObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->transport);
    Py_VISIT(self->limiter);
    return 0;
}

static int
multi_tp_clear(MultiObject *self)
{
    Py_CLEAR(self->transport);
    Py_CLEAR(self->limiter);
    return 0;
}

static void
multi_tp_dealloc(MultiObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    multi_shut(self);
    if (self->http != NULL) {
        b24_http_decref(self->http);
        self->http = NULL;
    }
    multi_tp_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
multi_add(MultiObject *self, PyObject *const *args, Py_ssize_t nargs,
          PyObject *kwnames)
{
    static const char *const names[] = {
        "key", "method", "params", "request_id", "idempotency_key",
        "is_write", "batch_methods", "on_event", "timeout", "event_details"};
    PyObject *a[10];
    struct item *it;
    struct call_ctx ctx;
    struct b24_http *http;
    enum b24_status rc;
    int is_write = 0, details = 1;

    if (parse_fast("add", args, nargs, kwnames, names, 10, 4, 4, a) < 0)
        return NULL;
    if (check_usable(self) < 0)
        return NULL;
    if (a[5] != NULL && (is_write = PyObject_IsTrue(a[5])) < 0)
        return NULL;
    if (a[9] != NULL && (details = PyObject_IsTrue(a[9])) < 0)
        return NULL;
    if (a[7] != NULL && a[7] != Py_None && !PyCallable_Check(a[7])) {
        PyErr_SetString(PyExc_TypeError, "on_event must be callable");
        return NULL;
    }
    it = PyMem_Calloc(1, sizeof(*it));
    if (it == NULL)
        return PyErr_NoMemory();
    b24_flight_init(&it->f);
    it->f.user = it;
    it->key = Py_NewRef(a[0]);
    if (ext_transport_build(self->transport, a[1], a[2], a[3], a[4], a[8],
                            &it->f.req, &http) < 0 ||
        ext_batch_names(a[6], &it->names, &it->hold) < 0) {
        item_free(it);
        return NULL;
    }
    if (a[7] != NULL && a[7] != Py_None)
        it->on_event = Py_NewRef(a[7]);
    it->details = details;
    it->f.call.limiter = limiter_core(self->limiter);
    it->f.call.method = PyUnicode_AsUTF8(a[1]); /* checked by the build */
    it->f.call.batch = it->names;
    it->f.call.is_write = is_write;
    it->f.call.idempotent = a[4] != NULL && a[4] != Py_None;
    it->f.call.on_event = item_event;
    it->f.call.ctx = it;

    /* the first steps run now (events may cross into Python) */
    ext_call_begin(&ctx, self->state, NULL, details);
    it->cc = &ctx;
    self->busy = 1;
    ctx.ts = PyEval_SaveThread();
    rc = b24_multi_add(self->m, &it->f);
    PyEval_RestoreThread(ctx.ts);
    self->busy = 0;
    it->cc = NULL;
    if (rc != B24_OK) {
        ext_call_end(&ctx);
        item_free(it);
        return PyErr_NoMemory();
    }
    if (ext_call_end(&ctx) < 0)
        return NULL; /* the call stays in the multi; close() frees it */
    Py_RETURN_NONE;
}

/* The (key, Outcome) pairs of the done flights; frees their items. */
static PyObject *
take_done(MultiObject *self, struct b24_flight **done, size_t n)
{
    PyObject *out = PyList_New(0);
    size_t i;
    int failed = out == NULL;
    for (i = 0; i < n; i++) {
        struct item *it = done[i]->user;
        if (!failed) {
            PyObject *o = it->f.status == B24_OK
                              ? ext_outcome_new(self->state, &it->f.out)
                              : ext_raise_status(it->f.status,
                                                 "transport failure", NULL);
            PyObject *pair = o ? PyTuple_Pack(2, it->key, o) : NULL;
            Py_XDECREF(o);
            if (pair == NULL || PyList_Append(out, pair) < 0)
                failed = 1;
            Py_XDECREF(pair);
        }
        item_free(it);
    }
    if (failed) {
        Py_CLEAR(out);
    }
    return out;
}

static PyObject *
multi_run(MultiObject *self, PyObject *Py_UNUSED(ignored))
{
    struct call_ctx ctx;
    struct b24_flight **done = NULL;
    size_t ndone = 0, i, n;
    struct b24_flight **v;
    enum b24_status rc;
    int stopped = 0;

    if (check_usable(self) < 0)
        return NULL;
    ext_call_begin(&ctx, self->state, NULL, 1);
    n = b24_multi_active(self->m);
    v = b24_multi_flights(self->m);
    for (i = 0; i < n; i++)
        ((struct item *)v[i]->user)->cc = &ctx;
    self->busy = 1;
    ctx.ts = PyEval_SaveThread();
    rc = b24_multi_run(self->m, ext_call_interrupted, &ctx, &done, &ndone,
                       &stopped);
    PyEval_RestoreThread(ctx.ts);
    self->busy = 0;
    /* every item of this run, done or not, forgets the context */
    for (i = 0; i < ndone; i++)
        ((struct item *)done[i]->user)->cc = NULL;
    n = b24_multi_active(self->m);
    v = b24_multi_flights(self->m);
    for (i = 0; i < n; i++)
        ((struct item *)v[i]->user)->cc = NULL;
    if (ext_call_end(&ctx) < 0 || stopped) {
        if (!PyErr_Occurred())
            PyErr_SetNone(PyExc_KeyboardInterrupt);
        /* the done ones are dropped with the rest at close() */
        for (i = 0; i < ndone; i++)
            item_free(done[i]->user);
        return NULL;
    }
    if (rc != B24_OK) {
        for (i = 0; i < ndone; i++)
            item_free(done[i]->user);
        return ext_raise_status(rc, "the multi driver failed", NULL);
    }
    return take_done(self, done, ndone);
}

static PyObject *
multi_close(MultiObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "a Multi is used by one thread at a time");
        return NULL;
    }
    multi_shut(self);
    Py_RETURN_NONE;
}

static PyObject *
multi_enter(MultiObject *self, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(self);
}

static PyObject *
multi_exit(MultiObject *self, PyObject *const *Py_UNUSED(args),
           Py_ssize_t Py_UNUSED(nargs))
{
    return multi_close(self, NULL);
}

static PyObject *
multi_get_active(MultiObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromSize_t(self->m ? b24_multi_active(self->m) : 0);
}

static PyObject *
multi_get_peak(MultiObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromSize_t(self->m ? b24_multi_peak(self->m) : 0);
}

static PyGetSetDef multi_getset[] = {
    {"active", (getter)multi_get_active, NULL,
     "Calls added and not yet returned by run().", NULL},
    {"peak", (getter)multi_get_peak, NULL,
     "The most exchanges this Multi had running at once.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMethodDef multi_methods[] = {
    {"add", (PyCFunction)(void (*)(void))multi_add,
     METH_FASTCALL | METH_KEYWORDS,
     "add($self, key, method, params, request_id, *, idempotency_key=None, "
     "is_write=False, batch_methods=None, on_event=None, timeout=None, "
     "event_details=True)\n--\n\nStart one call (the arguments of "
     "Transport.call); run() returns it as (key, Outcome)."},
    {"run", (PyCFunction)multi_run, METH_NOARGS,
     "run($self, /)\n--\n\nDrive every call with the GIL released until at "
     "least one is done; its (key, Outcome) pairs ([] when none is "
     "active)."},
    {"close", (PyCFunction)multi_close, METH_NOARGS,
     "close($self, /)\n--\n\nStop the calls still running. Idempotent."},
    {"__enter__", (PyCFunction)multi_enter, METH_NOARGS,
     "__enter__($self, /)\n--\n\n"},
    {"__exit__", (PyCFunction)(void (*)(void))multi_exit, METH_FASTCALL,
     "__exit__($self, /, *exc)\n--\n\nclose()."},
    {NULL, NULL, 0, NULL}};

static PyType_Slot multi_slots[] = {
    {Py_tp_doc, "Multi(transport, limiter)\n--\n\n"
                "Many calls at once on one thread: the engine's call "
                "machines on one libcurl multi handle."},
    {Py_tp_new, multi_tp_new},
    {Py_tp_dealloc, multi_tp_dealloc},
    {Py_tp_traverse, multi_tp_traverse},
    {Py_tp_clear, multi_tp_clear},
    {Py_tp_methods, multi_methods},
    {Py_tp_getset, multi_getset},
    {0, NULL}};

PyType_Spec multi_spec = {
    .name = "b24hook._core.Multi",
    .basicsize = sizeof(MultiObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = multi_slots,
};


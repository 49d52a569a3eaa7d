/* walk.c - the Walk type: the page loop of a list walk (spec §6.2-6.4).
 *
 * Every rule is the core's machine (b24_walk.h): what to request next,
 * whether a page is delivered, when and why the walk ends.  This file puts
 * the cursor into each page's params (v2: filter[">"+key] with order
 * {key: ASC} and start -1; v3: the filter list + [key, ">", cursor] with
 * pagination; tail: cursor {field, value, order, limit}), runs the page's
 * call through the same engine and blocking driver as Transport.call
 * (ext_transport_call: b24_pipeline_run with the GIL released), reads the
 * page out of the decoded answer (result, then the custom key) and feeds
 * the machine its facts.
 *
 * Two drivers share the machine and this glue: iterating the Walk is the
 * blocking driver (each step prepares, runs and feeds one page); the step
 * interface request()/feed() is sans-I/O for another driver (the asyncio
 * one, b24hook/_aio.py): request() gives ('request', params) for the page
 * to send, the driver runs that call its own way and feed()s the Outcome.
 *
 * Each step (or feed) gives Python one item:
 *     ("page", rows)     deliver these rows (the list of the answer)
 *     ("end", reason)    the walk ended; reason None, or the name of
 *                        b24_walk_end_name ("no_result", "no_int_id", ...)
 *     ("answer", Outcome) a page's call did not succeed (FAILED or ERROR);
 *                        the walk ended, the face maps the Outcome
 * then StopIteration.  Before each call `prepare(params)` (the face's
 * per-call preparation: checks, request id, logging, write class) returns
 * (transport, request_id, call keywords). */
#include "ext.h"

#include <string.h>

#include "b24_envelope.h"
#include "b24_walk.h"

enum { WALK_RUNNING = 0, WALK_SENT, WALK_ENDING, WALK_FINISHED };

typedef struct {
    PyObject_HEAD
    struct b24_walk w;
    int state;           /* WALK_*: ENDING gives ("end", end) next; SENT
                            waits for the requested page's answer */
    int busy;            /* a step is running (the GIL may be out) */
    PyObject *method;    /* str */
    PyObject *base;      /* dict: every page's params but the cursor */
    PyObject *filter;    /* v2: dict, its >key taken out; v3: list; else NULL
                            (None given: empty) */
    PyObject *key;       /* str: the cursor field of the request */
    PyObject *gt;        /* v2: ">" + key */
    PyObject *id_key;    /* the field read from the last row */
    PyObject *custom_key; /* the key of the rows under result, or None */
    PyObject *order;     /* tail: the cursor's order */
    PyObject *limit;     /* tail: the cursor's limit (as given) */
    PyObject *value;     /* tail: the cursor value of the next request */
    PyObject *prepare;   /* callable(params) -> (transport, rid, kwargs),
                            or None: driven by request()/feed() only */
} WalkObject;

static int
walk_tp_traverse(WalkObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->method);
    Py_VISIT(self->base);
    Py_VISIT(self->filter);
    Py_VISIT(self->key);
    Py_VISIT(self->gt);
    Py_VISIT(self->id_key);
    Py_VISIT(self->custom_key);
    Py_VISIT(self->order);
    Py_VISIT(self->limit);
    Py_VISIT(self->value);
    Py_VISIT(self->prepare);
    return 0;
}

static int
walk_tp_clear(WalkObject *self)
{
    Py_CLEAR(self->method);
    Py_CLEAR(self->base);
    Py_CLEAR(self->filter);
    Py_CLEAR(self->key);
    Py_CLEAR(self->gt);
    Py_CLEAR(self->id_key);
    Py_CLEAR(self->custom_key);
    Py_CLEAR(self->order);
    Py_CLEAR(self->limit);
    Py_CLEAR(self->value);
    Py_CLEAR(self->prepare);
    return 0;
}

static void
walk_tp_dealloc(WalkObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    walk_tp_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* d[k] = v for a C-string key, v stolen (NULL: an error already set). */
static int
set_steal(PyObject *d, const char *k, PyObject *v)
{
    int rc;
    if (v == NULL)
        return -1;
    rc = PyDict_SetItemString(d, k, v);
    Py_DECREF(v);
    return rc;
}

static PyObject *
walk_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"kind",   "method", "params", "prepare",
                             "key",    "id_key", "custom_key", "filter",
                             "limit",  "order",  "cursor", NULL};
    const char *kind;
    PyObject *method, *params, *prepare, *key = NULL, *id_key = Py_None;
    PyObject *custom_key = Py_None, *filter = Py_None, *order = NULL;
    PyObject *cursor = Py_None, *limit = NULL, *own;
    Py_ssize_t nlimit = B24_V3_PAGE_DEFAULT;
    enum b24_walk_kind wk;
    long long start = 0;
    WalkObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "sUO!O|$OOOOOOO:Walk",
                                     kwlist, &kind, &method, &PyDict_Type,
                                     &params, &prepare, &key, &id_key,
                                     &custom_key, &filter, &limit, &order,
                                     &cursor))
        return NULL;
    if (strcmp(kind, "v2") == 0)
        wk = B24_WALK_V2;
    else if (strcmp(kind, "v3") == 0)
        wk = B24_WALK_V3;
    else if (strcmp(kind, "tail") == 0)
        wk = B24_WALK_TAIL;
    else {
        PyErr_SetString(PyExc_ValueError, "kind must be 'v2', 'v3' or 'tail'");
        return NULL;
    }
    if (prepare != Py_None && !PyCallable_Check(prepare)) {
        PyErr_SetString(PyExc_TypeError, "prepare must be callable or None");
        return NULL;
    }
    if (key == NULL) {
        PyErr_SetString(PyExc_TypeError, "Walk() requires key=");
        return NULL;
    }
    if (limit != NULL) {
        nlimit = PyNumber_AsSsize_t(limit, PyExc_OverflowError);
        if (nlimit == -1 && PyErr_Occurred())
            return NULL;
        if (nlimit < 0) {
            PyErr_SetString(PyExc_ValueError, "limit must not be negative");
            return NULL;
        }
    }
    if (wk == B24_WALK_V2 && filter != Py_None && !PyDict_Check(filter)) {
        PyErr_SetString(PyExc_TypeError, "a v2 walk's filter must be a dict");
        return NULL;
    }
    if (wk == B24_WALK_V3 && filter != Py_None && !PyList_Check(filter) &&
        !PyTuple_Check(filter)) {
        PyErr_SetString(PyExc_TypeError,
                        "a v3 walk's filter must be a list or a tuple");
        return NULL;
    }

    self = (WalkObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->method = Py_NewRef(method);
    self->key = Py_NewRef(key);
    self->id_key = Py_NewRef(id_key == Py_None ? key : id_key);
    self->custom_key = Py_NewRef(custom_key);
    self->prepare = Py_NewRef(prepare);
    self->base = PyDict_Copy(params);
    if (self->base == NULL)
        goto fail;
    if (wk == B24_WALK_V2) {
        /* [DIVERGE] the caller's own >key bound is the first cursor */
        PyObject *mark = PyUnicode_FromString(">");
        self->gt = mark ? PyNumber_Add(mark, key) : NULL; /* ">" + key */
        Py_XDECREF(mark);
        self->filter = filter == Py_None ? PyDict_New() : PyDict_Copy(filter);
        if (self->gt == NULL || self->filter == NULL)
            goto fail;
        own = PyDict_GetItemWithError(self->filter, self->gt);
        if (own == NULL && PyErr_Occurred())
            goto fail;
        if (own != NULL) {
            int r;
            Py_INCREF(own);
            r = ext_cursor_of(own, &start);
            Py_DECREF(own);
            if (r < 0)
                goto fail;
            if (r == 0)
                start = 0;
            if (PyDict_DelItem(self->filter, self->gt) < 0)
                goto fail;
        }
        if (set_steal(self->base, "order",
                      Py_BuildValue("{O:s}", key, "ASC")) < 0 ||
            set_steal(self->base, "start", PyLong_FromLong(-1)) < 0)
            goto fail;
    } else if (wk == B24_WALK_V3) {
        self->filter = filter == Py_None ? PyList_New(0)
                                         : PySequence_List(filter);
        if (self->filter == NULL)
            goto fail;
        if (set_steal(self->base, "order",
                      Py_BuildValue("{O:s}", key, "ASC")) < 0 ||
            set_steal(self->base, "pagination",
                      Py_BuildValue("{s:i,s:n}", "page", 0, "limit",
                                    nlimit)) < 0)
            goto fail;
    } else {
        self->order = order != NULL ? Py_NewRef(order)
                                    : PyUnicode_FromString("ASC");
        self->limit = limit != NULL ? Py_NewRef(limit)
                                    : PyLong_FromSsize_t(nlimit);
        self->value = cursor == Py_None ? PyLong_FromLong(0)
                                        : Py_NewRef(cursor);
        if (self->order == NULL || self->limit == NULL || self->value == NULL)
            goto fail;
    }
    b24_walk_init(&self->w, wk, (size_t)nlimit, start);
    self->state = WALK_RUNNING;
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

/* New reference: the params of the next page (the cursor put in). */
static PyObject *
page_params(WalkObject *self)
{
    PyObject *send = PyDict_Copy(self->base), *f = NULL, *cur = NULL;
    int rc = -1;
    if (send == NULL)
        return NULL;
    if (self->w.kind == B24_WALK_TAIL) {
        f = Py_BuildValue("{s:O,s:O,s:O,s:O}", "field", self->key, "value",
                          self->value, "order", self->order, "limit",
                          self->limit);
        if (f != NULL)
            rc = PyDict_SetItemString(send, "cursor", f);
        goto done;
    }
    cur = PyLong_FromLongLong(self->w.cursor);
    if (cur == NULL)
        goto done;
    if (self->w.kind == B24_WALK_V2) {
        /* {**filter, ">key": cursor} */
        f = PyDict_Copy(self->filter);
        if (f == NULL || PyDict_SetItem(f, self->gt, cur) < 0)
            goto done;
    } else {
        /* [*filter, [key, ">", cursor]] */
        PyObject *cond = Py_BuildValue("[OsO]", self->key, ">", cur);
        f = PySequence_List(self->filter);
        if (cond == NULL || f == NULL || PyList_Append(f, cond) < 0) {
            Py_XDECREF(cond);
            goto done;
        }
        Py_DECREF(cond);
    }
    rc = PyDict_SetItemString(send, "filter", f);
done:
    Py_XDECREF(f);
    Py_XDECREF(cur);
    if (rc < 0)
        Py_CLEAR(send);
    return send;
}

/* The facts of the page in a successful answer; *rows (borrowed from
 * `answer`) is the list, *next (borrowed) the tail's next cursor value.
 * 0, or -1 with an exception. */
static int
read_page(WalkObject *self, PyObject *answer, struct b24_walk_page *p,
          PyObject **rows, PyObject **next)
{
    PyObject *result = NULL, *page, *last, *v = NULL;
    memset(p, 0, sizeof(*p));
    *rows = *next = NULL;
    if (PyDict_Check(answer)) {
        result = PyDict_GetItemString(answer, "result");
    }
    if (result == NULL || result == Py_None) {
        p->shape = B24_SHAPE_NO_RESULT;
        return 0;
    }
    if (self->w.kind == B24_WALK_V2 && self->custom_key == Py_None) {
        page = result;
        if (!PyList_Check(page)) {
            p->shape = B24_SHAPE_NOT_A_LIST;
            return 0;
        }
    } else {
        page = NULL;
        if (PyDict_Check(result)) {
            page = PyDict_GetItemWithError(result, self->custom_key);
            if (page == NULL && PyErr_Occurred())
                return -1;
        }
        if (page == NULL || !PyList_Check(page)) {
            p->shape = B24_SHAPE_NO_LIST;
            return 0;
        }
    }
    p->shape = B24_SHAPE_LIST;
    p->len = (size_t)PyList_GET_SIZE(page);
    *rows = page;
    if (p->len == 0)
        return 0;
    last = PyList_GET_ITEM(page, PyList_GET_SIZE(page) - 1);
    if (PyDict_Check(last)) {
        v = PyDict_GetItemWithError(last, self->id_key);
        if (v == NULL && PyErr_Occurred())
            return -1;
    }
    if (self->w.kind == B24_WALK_TAIL) {
        p->last_ok = v != NULL && v != Py_None;
        *next = v;
        return 0;
    }
    p->last_ok = ext_cursor_of(v, &p->last);
    return p->last_ok < 0 ? -1 : 0;
}

static PyObject *
end_item(WalkObject *self)
{
    self->state = WALK_FINISHED;
    if (self->w.end == B24_WALK_END_NONE)
        return Py_BuildValue("(sO)", "end", Py_None);
    return Py_BuildValue("(ss)", "end", b24_walk_end_name(self->w.end));
}

/* The request the machine wants next: 1 with *send (new reference: the
 * page's params; the walk now waits for that page's answer), 0 with *item
 * (new reference: the end item) or with nothing (the walk is over), -1
 * with an exception. */
static int
walk_request(WalkObject *self, PyObject **send, PyObject **item)
{
    *send = *item = NULL;
    if (self->state == WALK_SENT) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the answer of the page requested is due (feed() it)");
        return -1;
    }
    if (self->state == WALK_ENDING) {
        *item = end_item(self);
        return *item == NULL ? -1 : 0;
    }
    if (self->state == WALK_FINISHED || !b24_walk_next(&self->w)) {
        self->state = WALK_FINISHED;
        return 0;
    }
    /* the state is FINISHED unless the answer is fed */
    self->state = WALK_FINISHED;
    *send = page_params(self);
    if (*send == NULL)
        return -1;
    self->state = WALK_SENT;
    return 1;
}

/* Feed the Outcome of the page requested: new reference to the item
 * ("page", rows), ("end", reason) or ("answer", outcome); NULL with an
 * exception (the walk is then over). */
static PyObject *
walk_answer(WalkObject *self, PyObject *outcome)
{
    struct mod_state *st = PyType_GetModuleState(Py_TYPE(self));
    PyObject *answer, *rows, *next, *item;
    struct b24_walk_page page;
    enum b24_walk_verdict verdict;
    long kind;

    if (self->state != WALK_SENT) {
        PyErr_SetString(PyExc_RuntimeError,
                        "no page was requested (call request() first)");
        return NULL;
    }
    self->state = WALK_FINISHED;
    if (st == NULL || !Py_IS_TYPE(outcome, st->outcome_type)) {
        PyErr_SetString(PyExc_TypeError, "feed() takes the page call's Outcome");
        return NULL;
    }
    kind = PyLong_AsLong(ext_outcome_field(outcome, OUTCOME_KIND));
    if (kind == -1 && PyErr_Occurred())
        return NULL;
    if (kind != B24_KIND_OK) {
        b24_walk_fail(&self->w);
        return Py_BuildValue("(sO)", "answer", outcome);
    }
    answer = ext_outcome_field(outcome, OUTCOME_ANSWER);
    if (read_page(self, answer, &page, &rows, &next) < 0)
        return NULL;
    verdict = b24_walk_page(&self->w, &page);
    if (verdict == B24_WALK_STOP)
        return end_item(self);
    if (verdict == B24_WALK_MORE) {
        if (self->w.kind == B24_WALK_TAIL)
            Py_XSETREF(self->value, Py_NewRef(next));
        self->state = WALK_RUNNING;
    } else {
        self->state = WALK_ENDING;
    }
    item = Py_BuildValue("(sO)", "page", rows);
    if (item == NULL)
        self->state = WALK_FINISHED;
    return item;
}

/* One step of the blocking driver, the walk marked busy: the request the
 * machine wants, prepared by `prepare` and run as Transport.call runs it
 * (GIL released), its Outcome fed back. */
static PyObject *
walk_step(WalkObject *self)
{
    PyObject *send, *prep, *outcome, *item = NULL;
    int rc;

    if (self->prepare == Py_None) {
        PyErr_SetString(PyExc_TypeError, "a Walk made with prepare=None is "
                                         "driven by request()/feed()");
        return NULL;
    }
    rc = walk_request(self, &send, &item);
    if (rc <= 0)
        return item;
    prep = PyObject_CallOneArg(self->prepare, send);
    if (prep == NULL)
        goto fail_send;
    if (!PyTuple_Check(prep) || PyTuple_GET_SIZE(prep) != 3) {
        PyErr_SetString(PyExc_TypeError, "prepare() must return "
                                         "(transport, request_id, kwargs)");
        goto fail_prep;
    }
    outcome = ext_transport_call(PyTuple_GET_ITEM(prep, 0), self->method,
                                 send, PyTuple_GET_ITEM(prep, 1),
                                 PyTuple_GET_ITEM(prep, 2));
    if (outcome == NULL)
        goto fail_prep;
    item = walk_answer(self, outcome);
    Py_DECREF(outcome);
    Py_DECREF(prep);
    Py_DECREF(send);
    return item;
fail_prep:
    Py_DECREF(prep);
fail_send:
    Py_DECREF(send);
    self->state = WALK_FINISHED;
    return NULL;
}

static PyObject *
walk_iternext(WalkObject *self)
{
    PyObject *item;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the walk is already running");
        return NULL;
    }
    self->busy = 1;
    item = walk_step(self);
    self->busy = 0;
    return item;
}

static PyObject *
walk_request_meth(WalkObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *send, *item;
    int rc;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the walk is already running");
        return NULL;
    }
    rc = walk_request(self, &send, &item);
    if (rc < 0)
        return NULL;
    if (rc == 1) {
        item = Py_BuildValue("(sN)", "request", send);
        if (item == NULL)
            self->state = WALK_FINISHED;
        return item;
    }
    return item != NULL ? item : Py_NewRef(Py_None);
}

static PyObject *
walk_feed_meth(WalkObject *self, PyObject *outcome)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the walk is already running");
        return NULL;
    }
    return walk_answer(self, outcome);
}

static PyMethodDef walk_methods[] = {
    {"request", (PyCFunction)walk_request_meth, METH_NOARGS,
     "request($self, /)\n--\n\n"
     "The step interface (no I/O): ('request', params) -- send that page's "
     "call, then feed() its Outcome --, ('end', reason), or None once the "
     "walk is over."},
    {"feed", (PyCFunction)walk_feed_meth, METH_O,
     "feed($self, outcome, /)\n--\n\n"
     "The Outcome of the page request() asked for: ('page', rows), "
     "('end', reason) or ('answer', outcome)."},
    {NULL, NULL, 0, NULL}};

static PyObject *
walk_get_cursor(WalkObject *self, void *Py_UNUSED(c))
{
    if (self->w.kind == B24_WALK_TAIL)
        return Py_NewRef(self->value);
    return PyLong_FromLongLong(self->w.cursor);
}

static PyObject *
walk_get_pages(WalkObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLong(self->w.pages);
}

static PyGetSetDef walk_getset[] = {
    {"cursor", (getter)walk_get_cursor, NULL,
     "The cursor of the next request (keyset: an int; tail: the value).",
     NULL},
    {"pages", (getter)walk_get_pages, NULL,
     "Answers read as pages so far.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot walk_slots[] = {
    {Py_tp_doc,
     "Walk(kind, method, params, prepare, *, key, id_key=None, "
     "custom_key=None, filter=None, limit=50, order='ASC', cursor=None)"
     "\n--\n\n"
     "The page loop of a list walk (kind 'v2', 'v3' or 'tail'): an "
     "iterator of ('page', rows), then ('end', reason) or ('answer', "
     "Outcome)."},
    {Py_tp_new, walk_tp_new},
    {Py_tp_dealloc, walk_tp_dealloc},
    {Py_tp_traverse, walk_tp_traverse},
    {Py_tp_clear, walk_tp_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, walk_iternext},
    {Py_tp_getset, walk_getset},
    {Py_tp_methods, walk_methods},
    {0, NULL}};

PyType_Spec walk_spec = {
    .name = "b24hook._core.Walk",
    .basicsize = sizeof(WalkObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = walk_slots,
};


/* outcome.c - the Outcome type and the conversion of a core exchange
 * (struct b24_outcome) into one: the answer decoded once, straight to
 * Python objects; the response headers kept as the core's C strings
 * (taken over, not copied) and made a dict only when `headers` is read.
 * The face reads kind/status/answer of every call and the headers of
 * almost none, so a call no longer builds a dict of every header. */
#include "ext.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "b24_envelope.h"

#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h>
#define EXT_T_OBJECT_EX T_OBJECT_EX
#define EXT_READONLY READONLY
#else
#define EXT_T_OBJECT_EX Py_T_OBJECT_EX
#define EXT_READONLY Py_READONLY
#endif

typedef struct {
    PyObject_HEAD
    PyObject *f[OUTCOME_HEADERS]; /* kind .. detail, never NULL */
    PyObject *headers;            /* the dict, or NULL while `hdr` has them */
    struct b24_header *hdr;       /* owned (names lower-cased by the core) */
    size_t nhdr;
} OutcomeObject;

PyObject *
ext_outcome_field(PyObject *outcome, int field)
{
    return ((OutcomeObject *)outcome)->f[field];
}

static void
free_c_headers(OutcomeObject *self)
{
    size_t i;
    for (i = 0; i < self->nhdr; i++) {
        free(self->hdr[i].name);
        free(self->hdr[i].value);
    }
    free(self->hdr);
    self->hdr = NULL;
    self->nhdr = 0;
}

static PyObject *
header_text(const char *s)
{
    PyObject *r = PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), NULL);
    if (r == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        r = PyUnicode_DecodeLatin1(s, (Py_ssize_t)strlen(s), NULL);
    }
    return r;
}

PyObject *
ext_outcome_headers(PyObject *outcome)
{
    OutcomeObject *self = (OutcomeObject *)outcome;
    PyObject *d;
    size_t i;
    if (self->headers != NULL)
        return self->headers;
    if ((d = PyDict_New()) == NULL)
        return NULL;
    for (i = 0; i < self->nhdr; i++) {
        PyObject *k = header_text(self->hdr[i].name);
        PyObject *v = k ? header_text(self->hdr[i].value) : NULL;
        int rc = v ? PyDict_SetItem(d, k, v) : -1;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (rc < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    free_c_headers(self);
    self->headers = d;
    return d;
}

static OutcomeObject *
outcome_alloc(struct mod_state *st)
{
    OutcomeObject *self =
        (OutcomeObject *)st->outcome_type->tp_alloc(st->outcome_type, 0);
    return self; /* fields NULL: filled by the caller before it is seen */
}

PyObject *
ext_outcome_new(struct mod_state *st, struct b24_outcome *o)
{
    OutcomeObject *res;
    PyObject *answer = NULL;

    if (o->answer != NULL) {
        enum b24_status rc;
        struct b24_error err;
        answer = conv_decode_answer(o->answer, o->answer_len, &rc, &err);
        if (answer == NULL) {
            if (PyErr_Occurred())
                return NULL;
            if (b24_envelope_reject(o, rc, &err) != B24_OK)
                return PyErr_NoMemory();
        }
    }
    if (answer == NULL)
        answer = Py_NewRef(Py_None);
    res = outcome_alloc(st);
    if (res == NULL) {
        Py_DECREF(answer);
        return NULL;
    }
    res->f[OUTCOME_ANSWER] = answer;
    if ((res->f[OUTCOME_KIND] = PyLong_FromLong((long)o->kind)) == NULL ||
        (res->f[OUTCOME_STATUS] = PyLong_FromLong(o->status)) == NULL ||
        (res->f[OUTCOME_CODE] = ext_text_or_none(o->code)) == NULL ||
        (res->f[OUTCOME_MESSAGE] = ext_text_or_none(o->message)) == NULL ||
        (res->f[OUTCOME_MAYBE_SENT] = PyBool_FromLong(o->maybe_sent)) ==
            NULL ||
        (res->f[OUTCOME_ELAPSED_MS] = PyFloat_FromDouble(o->elapsed_ms)) ==
            NULL ||
        (res->f[OUTCOME_DETAIL] = ext_text_or_none(o->detail)) == NULL) {
        Py_DECREF(res);
        return NULL;
    }
    /* the headers change hands: the core's array is the Outcome's now */
    res->hdr = o->headers;
    res->nhdr = o->nheaders;
    o->headers = NULL;
    o->nheaders = o->aheaders = 0;
    return (PyObject *)res;
}

/* ---- the Outcome type -------------------------------------------------- */

static const char *const field_names[OUTCOME_NFIELDS] = {
    "kind",       "status", "answer",     "code",   "message",
    "maybe_sent", "elapsed_ms", "detail", "headers"};

/* Outcome((kind, status, answer, code, message, maybe_sent, elapsed_ms,
 * detail, headers)): one made by hand (tests, scripted transports). */
static PyObject *
outcome_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *seq, *fast;
    OutcomeObject *self;
    Py_ssize_t i;

    if (kwds != NULL && PyDict_GET_SIZE(kwds) != 0) {
        PyErr_SetString(PyExc_TypeError, "Outcome() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O:Outcome", &seq))
        return NULL;
    fast = PySequence_Fast(seq, "Outcome() takes a sequence of 9 fields");
    if (fast == NULL)
        return NULL;
    if (PySequence_Fast_GET_SIZE(fast) != OUTCOME_NFIELDS) {
        PyErr_Format(PyExc_TypeError, "Outcome() takes a %d-sequence (%zd given)",
                     OUTCOME_NFIELDS, PySequence_Fast_GET_SIZE(fast));
        Py_DECREF(fast);
        return NULL;
    }
    self = (OutcomeObject *)type->tp_alloc(type, 0);
    if (self != NULL) {
        for (i = 0; i < OUTCOME_HEADERS; i++)
            self->f[i] = Py_NewRef(PySequence_Fast_GET_ITEM(fast, i));
        self->headers =
            Py_NewRef(PySequence_Fast_GET_ITEM(fast, OUTCOME_HEADERS));
    }
    Py_DECREF(fast);
    return (PyObject *)self;
}

static int
outcome_tp_traverse(OutcomeObject *self, visitproc visit, void *arg)
{
    int i;
    Py_VISIT(Py_TYPE(self));
    for (i = 0; i < OUTCOME_HEADERS; i++)
        Py_VISIT(self->f[i]);
    Py_VISIT(self->headers);
    return 0;
}

static int
outcome_tp_clear(OutcomeObject *self)
{
    int i;
    for (i = 0; i < OUTCOME_HEADERS; i++)
        Py_CLEAR(self->f[i]);
    Py_CLEAR(self->headers);
    return 0;
}

static void
outcome_tp_dealloc(OutcomeObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    outcome_tp_clear(self);
    free_c_headers(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
outcome_get_headers(OutcomeObject *self, void *closure)
{
    (void)closure;
    return Py_XNewRef(ext_outcome_headers((PyObject *)self));
}

static PyObject *
outcome_tp_repr(OutcomeObject *self)
{
    PyObject *parts = PyList_New(0), *sep = NULL, *joined = NULL, *r = NULL;
    int i;
    if (parts == NULL)
        return NULL;
    for (i = 0; i < OUTCOME_NFIELDS; i++) {
        PyObject *v = i == OUTCOME_HEADERS
                          ? ext_outcome_headers((PyObject *)self)
                          : self->f[i];
        PyObject *s = v ? PyUnicode_FromFormat("%s=%R", field_names[i], v)
                        : NULL;
        int rc = s ? PyList_Append(parts, s) : -1;
        Py_XDECREF(s);
        if (rc < 0)
            goto done;
    }
    if ((sep = PyUnicode_FromString(", ")) == NULL ||
        (joined = PyUnicode_Join(sep, parts)) == NULL)
        goto done;
    r = PyUnicode_FromFormat("b24hook._core.Outcome(%U)", joined);
done:
    Py_DECREF(parts);
    Py_XDECREF(sep);
    Py_XDECREF(joined);
    return r;
}

/* == and != field by field (the headers as dicts), like the structseq it
 * replaces; an Outcome compares unequal to anything else. */
static PyObject *
outcome_tp_richcompare(PyObject *a, PyObject *b, int op)
{
    int i, eq = 1;
    if ((op != Py_EQ && op != Py_NE) || !Py_IS_TYPE(b, Py_TYPE(a)))
        Py_RETURN_NOTIMPLEMENTED;
    for (i = 0; i < OUTCOME_NFIELDS && eq == 1; i++) {
        PyObject *x, *y;
        if (i == OUTCOME_HEADERS) {
            x = ext_outcome_headers(a);
            y = x ? ext_outcome_headers(b) : NULL;
            if (y == NULL)
                return NULL;
        } else {
            x = ((OutcomeObject *)a)->f[i];
            y = ((OutcomeObject *)b)->f[i];
        }
        eq = PyObject_RichCompareBool(x, y, Py_EQ);
    }
    if (eq < 0)
        return NULL;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

#define FIELD_MEMBER(i_, name_, doc_)                                     \
    {name_, EXT_T_OBJECT_EX,                                              \
     (Py_ssize_t)(offsetof(OutcomeObject, f) + (i_) * sizeof(PyObject *)), \
     EXT_READONLY, doc_}

static PyMemberDef outcome_members[] = {
    FIELD_MEMBER(OUTCOME_KIND, "kind", "OK, FAILED or ERROR"),
    FIELD_MEMBER(OUTCOME_STATUS, "status",
                 "HTTP status; 0 without response; 408 on timeout"),
    FIELD_MEMBER(OUTCOME_ANSWER, "answer", "parsed JSON body or None"),
    FIELD_MEMBER(OUTCOME_CODE, "code", "error code or None"),
    FIELD_MEMBER(OUTCOME_MESSAGE, "message",
                 "error message or None (secret-free)"),
    FIELD_MEMBER(OUTCOME_MAYBE_SENT, "maybe_sent",
                 "the request may have reached the server"),
    FIELD_MEMBER(OUTCOME_ELAPSED_MS, "elapsed_ms", "wall time of the exchange"),
    FIELD_MEMBER(OUTCOME_DETAIL, "detail",
                 "libcurl/OS text, secret scrubbed, or None"),
    {NULL, 0, 0, 0, NULL}};

static PyGetSetDef outcome_getset[] = {
    {"headers", (getter)outcome_get_headers, NULL,
     "response headers, lower-cased names (a dict made on first read)", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot outcome_slots[] = {
    {Py_tp_doc, "Outcome((kind, status, answer, code, message, maybe_sent, "
                "elapsed_ms, detail, headers))\n--\n\n"
                "Result of Transport.perform / Transport.call."},
    {Py_tp_new, outcome_tp_new},
    {Py_tp_dealloc, outcome_tp_dealloc},
    {Py_tp_traverse, outcome_tp_traverse},
    {Py_tp_clear, outcome_tp_clear},
    {Py_tp_repr, outcome_tp_repr},
    {Py_tp_richcompare, outcome_tp_richcompare},
    {Py_tp_members, outcome_members},
    {Py_tp_getset, outcome_getset},
    {0, NULL}};

static PyType_Spec outcome_spec = {
    .name = "b24hook._core.Outcome",
    .basicsize = sizeof(OutcomeObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = outcome_slots,
};

int
outcome_register(PyObject *module, struct mod_state *st)
{
    PyObject *match = NULL;
    int i, rc = -1;
    st->outcome_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &outcome_spec, NULL);
    if (st->outcome_type == NULL)
        return -1;
    /* positional patterns: case Outcome(kind, status, ...) */
    if ((match = PyTuple_New(OUTCOME_NFIELDS)) == NULL)
        return -1;
    for (i = 0; i < OUTCOME_NFIELDS; i++) {
        PyObject *s = PyUnicode_FromString(field_names[i]);
        if (s == NULL)
            goto done;
        PyTuple_SET_ITEM(match, i, s);
    }
    if (PyObject_SetAttrString((PyObject *)st->outcome_type, "__match_args__",
                               match) < 0)
        goto done;
    /* frozen from here on, like the other types of the module */
    st->outcome_type->tp_flags |= Py_TPFLAGS_IMMUTABLETYPE;
    PyType_Modified(st->outcome_type);
    rc = PyModule_AddObjectRef(module, "Outcome",
                               (PyObject *)st->outcome_type);
done:
    Py_DECREF(match);
    return rc;
}

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

/* actions.c: lists, batches, export (b24_qs, b24_list, b24_batch) */
int actions_register(PyObject *module);

/* transport.c */
int transport_register(PyObject *module, struct mod_state *st);

#endif /* B24_EXT_H */

/* fuzz_convert.c - libFuzzer target: JSON bytes -> b24_json_parse ->
 * conv_decode (csrc/ext/convert.c) against json.loads, in an embedded
 * CPython.
 *
 * Oracle (STYLE §3.8): for text json.loads accepts (UTF-8, no NaN/Infinity
 * constants), decode == json.loads after the number rule (integral values
 * below 2**53 are int, others float; beyond the double range +-inf).
 * Known, documented differences are skipped: an escaped \u0000 cuts a
 * string, escaped lone surrogates are rejected, nesting is capped at 1000.
 * Texts json.loads rejects must be rejected with a clean error. */
#include "ext.h"

#include <stdint.h>
#include <stdlib.h>

#include "b24_envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static PyObject *check_fn; /* owned for the process lifetime */

static const char oracle[] =
    "import json, math\n"
    "def _const(name):\n"
    "    raise ValueError('constant ' + name)\n"
    "def _norm(x):\n"
    "    if isinstance(x, bool) or x is None or isinstance(x, str):\n"
    "        return x\n"
    "    if isinstance(x, int):\n"
    "        if abs(x) < 2**53: return x\n"
    "        try: return float(x)\n"
    "        except OverflowError: return math.inf if x > 0 else -math.inf\n"
    "    if isinstance(x, float):\n"
    "        return int(x) if x.is_integer() and abs(x) < 2**53 else x\n"
    "    if isinstance(x, list): return [_norm(v) for v in x]\n"
    "    return {k: _norm(v) for k, v in x.items()}\n"
    "def check(data, got, ok, limit):\n"
    "    try:\n"
    "        want = _norm(json.loads(data.decode('utf-8-sig'),\n"
    "                                parse_constant=_const))\n"
    "    except (ValueError, RecursionError):\n"
    "        if ok: raise AssertionError('accepted invalid JSON')\n"
    "        return\n"
    "    if not ok:\n"
    "        if limit or b'\\\\u' in data: return\n"
    "        raise AssertionError('rejected valid JSON')\n"
    "    if b'\\\\u0000' in data: return\n"
    "    if want != got:\n"
    "        raise AssertionError('decode differs from json.loads')\n";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    PyObject *mod, *code;
    (void)argc;
    (void)argv;
    Py_InitializeEx(0);
    code = Py_CompileString(oracle, "fuzz_convert_oracle", Py_file_input);
    if (code == NULL)
        goto fail;
    mod = PyImport_ExecCodeModule("fuzz_convert_oracle", code);
    Py_DECREF(code);
    if (mod == NULL)
        goto fail;
    check_fn = PyObject_GetAttrString(mod, "check");
    Py_DECREF(mod);
    if (check_fn == NULL)
        goto fail;
    return 0;
fail:
    PyErr_Print();
    abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct b24_error err;
    cJSON *tree = NULL;
    PyObject *got = NULL, *bytes, *r;
    enum b24_status st;

    memset(&err, 0, sizeof(err));
    st = b24_json_parse((const char *)data, size, &tree, &err);
    if (st == B24_OK) {
        got = conv_decode(tree);
        cJSON_Delete(tree);
        if (got == NULL) {
            PyErr_Print(); /* a validated tree must always convert */
            abort();
        }
    } else if (st != B24_E_JSON && st != B24_E_LIMIT) {
        abort();
    }
    bytes = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)size);
    if (bytes == NULL)
        abort();
    r = PyObject_CallFunction(check_fn, "OOii", bytes,
                              got ? got : Py_None, st == B24_OK,
                              st == B24_E_LIMIT);
    Py_DECREF(bytes);
    Py_XDECREF(got);
    if (r == NULL) {
        PyErr_Print();
        abort();
    }
    Py_DECREF(r);
    return 0;
}

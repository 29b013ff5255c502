/* The batch decoder of fast.py, compiled: the same loop over the same opcodes, with the same effects on
 * the machine, the same stopping points and the same errors. fast.py's Python loop is the reference and
 * the fallback where this module is not built; tests/scanners/test_fastloop.py holds the two equal, and
 * the differential tests hold both equal to the machine's reference loop.
 *
 * What the loop only moves (memo puts and gets, ints, strings, MARK, small tuples, constants) runs here
 * without the interpreter; what the analysis judges (REDUCE, TUPLE's container, BINPERSID, the opcodes
 * the machine's own methods run) calls back into the same Python the reference calls. Every read of the
 * buffer is bounded by its length: at least LOOKAHEAD bytes are checked to be there before an opcode's
 * fixed-size argument is read, and a string's length is checked against the buffer before it is copied.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* Bumped with every change to this file. fast.py runs a built module only when its REVISION is the one the
 * source beside it expects: an editable install does not rebuild the module when the source changes. */
#define REVISION 1

#if PY_VERSION_HEX < 0x030B0000 /* public from 3.11 */
#define PyFloat_Unpack8(p, le) _PyFloat_Unpack8((const unsigned char *)(p), (le))
#endif

enum {
    K_OTHER = 0, /* left to the reference: the loop stops at it */
    K_PUT,
    K_GET,
    K_BININT1,
    K_MARK,
    K_STRING,
    K_TUPLE,
    K_REDUCE,
    K_BINPERSID,
    K_METHOD,
    K_SMALL_TUPLE,
    K_CONSTANT,
    K_EMPTY,
    K_EMPTY_DICT,
    K_BININT2,
    K_BININT,
    K_BINFLOAT,
    K_FRAME,
};

/* Set once by configure(), from fast.py's own tables. */
static unsigned char kinds[256];
static unsigned char suspect[256];
static PyObject *constant_of[256]; /* strong references */
static PyObject *empty_kind[256];  /* strong references: "list", "tuple", "set" */
static PyObject *name_of[256];     /* strong references: opcode names */
static PyObject *Seq, *Dict, *Persistent, *Op, *tuple_kind;
static long long memo_entry_bytes, max_constant;
static long long size_text, size_container, size_item, size_other; /* values.ESTIMATED_SIZES */
static Py_ssize_t lookahead, check_every;
static int configured;

/* Attribute names, interned once. */
static PyObject *s_src, *s_limits, *s_memo, *s_dense, *s_sparse, *s_stack, *s_metastack, *s_below, *s_ops,
    *s_memo_bytes, *s_pos, *s_buffered, *s_check_budget, *s_fill, *s_call, *s_step_method, *s_pop,
    *s_max_pickle_memo, *s_max_pickle_memo_bytes, *s_max_pickle_stack, *s_max_inline_bytes, *s_items;

static uint32_t
u32_le(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static int
long_attr(PyObject *obj, PyObject *name, long long *out)
{
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return -1;
    }
    *out = PyLong_AsLongLong(value);
    Py_DECREF(value);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int
set_long_attr(PyObject *obj, PyObject *name, long long value)
{
    PyObject *boxed = PyLong_FromLongLong(value);
    if (boxed == NULL) {
        return -1;
    }
    int rc = PyObject_SetAttr(obj, name, boxed);
    Py_DECREF(boxed);
    return rc;
}

static int
add_long_attr(PyObject *obj, PyObject *name, long long delta)
{
    long long value;
    if (long_attr(obj, name, &value) < 0) {
        return -1;
    }
    return set_long_attr(obj, name, value + delta);
}

/* values.estimate(value): -1 with an exception set when a container's items cannot be counted. */
static long long
estimate_of(PyObject *value)
{
    PyTypeObject *cls = Py_TYPE(value);
    if (value == Py_None || cls == &PyBool_Type) {
        return 0;
    }
    if (cls == &PyUnicode_Type) {
        return size_text + PyUnicode_GET_LENGTH(value);
    }
    if (cls == &PyBytes_Type) {
        return size_text + PyBytes_GET_SIZE(value);
    }
    if ((PyObject *)cls == Seq || (PyObject *)cls == Dict) {
        PyObject *items = PyObject_GetAttr(value, s_items);
        if (items == NULL) {
            return -1;
        }
        Py_ssize_t n = PyObject_Length(items);
        Py_DECREF(items);
        return n < 0 ? -1 : size_container + size_item * (long long)n;
    }
    return size_other;
}

static PyObject *
estimate(PyObject *module, PyObject *value)
{
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "_fastloop.configure() was not called");
        return NULL;
    }
    long long size = estimate_of(value);
    return size < 0 ? NULL : PyLong_FromLongLong(size);
}

/* Append a new reference to the stack, giving it up: -1 when there is none or appending fails. */
static int
push_new(PyObject *stack, PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    int rc = PyList_Append(stack, value);
    Py_DECREF(value);
    return rc;
}

/* tuple.__new__(Op, (code, NAMES[code], None, offset)), as fast.py makes them. */
static PyObject *
new_op(int code, long long offset)
{
    PyObject *fields = Py_BuildValue("(iOOL)", code, name_of[code], Py_None, offset);
    if (fields == NULL) {
        return NULL;
    }
    PyObject *args = PyTuple_Pack(1, fields);
    Py_DECREF(fields);
    if (args == NULL) {
        return NULL;
    }
    PyObject *op = PyTuple_Type.tp_new((PyTypeObject *)Op, args, NULL);
    Py_DECREF(args);
    return op;
}

/* src.buffered(lookahead): a new reference to the buffer, its position, base and length. */
static int
refill(PyObject *src, PyObject **buf, Py_ssize_t *pos, long long *base, Py_ssize_t *end)
{
    PyObject *wanted = PyLong_FromSsize_t(lookahead);
    if (wanted == NULL) {
        return -1;
    }
    PyObject *got = PyObject_CallMethodOneArg(src, s_buffered, wanted);
    Py_DECREF(wanted);
    if (got == NULL) {
        return -1;
    }
    PyObject *data;
    Py_ssize_t at;
    long long offset;
    if (!PyArg_ParseTuple(got, "SnL", &data, &at, &offset)) {
        Py_DECREF(got);
        return -1;
    }
    if (at < 0 || at > PyBytes_GET_SIZE(data)) {
        Py_DECREF(got);
        PyErr_SetString(PyExc_ValueError, "source position outside its buffer");
        return -1;
    }
    Py_INCREF(data);
    Py_XSETREF(*buf, data);
    *pos = at;
    *base = offset;
    *end = PyBytes_GET_SIZE(data);
    Py_DECREF(got);
    return 0;
}

static PyObject *
run_common(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "run_common(machine, deadline)");
        return NULL;
    }
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "_fastloop.configure() was not called");
        return NULL;
    }
    PyObject *m = args[0], *deadline = args[1];
    PyObject *src = NULL, *limits = NULL, *memo = NULL, *dense = NULL, *sparse = NULL, *stack = NULL;
    PyObject *buf = NULL;
    long long max_memo, max_memo_bytes, max_depth, max_inline, memo_bytes, base = 0;
    long long done = 0, ran = 0;
    Py_ssize_t pos = 0, end = 0;

    if ((src = PyObject_GetAttr(m, s_src)) == NULL || (limits = PyObject_GetAttr(m, s_limits)) == NULL ||
        (memo = PyObject_GetAttr(m, s_memo)) == NULL || (dense = PyObject_GetAttr(memo, s_dense)) == NULL ||
        (sparse = PyObject_GetAttr(memo, s_sparse)) == NULL || (stack = PyObject_GetAttr(m, s_stack)) == NULL ||
        long_attr(limits, s_max_pickle_memo, &max_memo) < 0 ||
        long_attr(limits, s_max_pickle_memo_bytes, &max_memo_bytes) < 0 ||
        long_attr(limits, s_max_pickle_stack, &max_depth) < 0 ||
        long_attr(limits, s_max_inline_bytes, &max_inline) < 0 || long_attr(m, s_memo_bytes, &memo_bytes) < 0) {
        goto fail_early;
    }
    if (!PyList_CheckExact(dense) || !PyDict_CheckExact(sparse) || !PyList_CheckExact(stack)) {
        PyErr_SetString(PyExc_TypeError, "machine state of an unexpected type");
        goto fail_early;
    }
    if (max_constant < max_inline) {
        max_inline = max_constant;
    }
    if (refill(src, &buf, &pos, &base, &end) < 0) {
        goto fail_early;
    }

    /* From here every exit writes back the position, the opcodes run and the memo's bytes (fast.py's
     * finally clause). */
    for (;;) {
        if (end - pos < lookahead) {
            if (set_long_attr(src, s_pos, pos) < 0 || refill(src, &buf, &pos, &base, &end) < 0) {
                goto fail;
            }
            if (end - pos < lookahead) {
                goto stop;
            }
        }
        if (done >= check_every) {
            long long ops;
            if (add_long_attr(m, s_ops, done) < 0) {
                goto fail;
            }
            ran += done;
            done = 0;
            if (long_attr(m, s_ops, &ops) < 0) {
                goto fail;
            }
            PyObject *boxed = PyLong_FromLongLong(ops);
            if (boxed == NULL) {
                goto fail;
            }
            PyObject *ok = PyObject_CallMethodObjArgs(m, s_check_budget, boxed, deadline, NULL);
            Py_DECREF(boxed);
            if (ok == NULL) {
                goto fail;
            }
            Py_DECREF(ok);
        }
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(buf);
        int code = p[pos];
        switch (kinds[code]) {
        case K_PUT: {
            long long index;
            Py_ssize_t step;
            Py_ssize_t n_dense = PyList_GET_SIZE(dense), n_sparse = PyDict_GET_SIZE(sparse);
            if (code == 0x72) {
                index = u32_le(p + pos + 1);
                step = 5;
            }
            else if (code == 0x71) {
                index = p[pos + 1];
                step = 2;
            }
            else {
                index = (long long)n_dense + n_sparse;
                step = 1;
            }
            Py_ssize_t depth = PyList_GET_SIZE(stack);
            if (depth == 0) {
                goto stop;
            }
            PyObject *value = PyList_GET_ITEM(stack, depth - 1);
            Py_INCREF(value);
            long long cost = estimate_of(value);
            if (cost < 0) {
                Py_DECREF(value);
                goto fail;
            }
            cost += memo_entry_bytes;
            if (memo_bytes + cost > max_memo_bytes) {
                Py_DECREF(value);
                goto stop;
            }
            if (index == n_dense && n_sparse == 0 && index < max_memo) {
                int rc = PyList_Append(dense, value);
                Py_DECREF(value);
                if (rc < 0) {
                    goto fail;
                }
            }
            else {
                PyObject *key = PyLong_FromLongLong(index);
                if (key == NULL) {
                    Py_DECREF(value);
                    goto fail;
                }
                int room = (long long)n_dense + n_sparse < max_memo;
                if (!room) {
                    room = PySequence_Contains(memo, key);
                }
                if (room < 0 || (room && PyObject_SetItem(memo, key, value) < 0)) {
                    Py_DECREF(key);
                    Py_DECREF(value);
                    goto fail;
                }
                Py_DECREF(key);
                Py_DECREF(value);
                if (!room) {
                    goto stop;
                }
            }
            memo_bytes += cost;
            pos += step;
            break;
        }
        case K_GET: {
            long long index;
            Py_ssize_t step;
            if (code == 0x68) {
                index = p[pos + 1];
                step = 2;
            }
            else {
                index = u32_le(p + pos + 1);
                step = 5;
            }
            PyObject *value;
            if (index < PyList_GET_SIZE(dense)) {
                value = PyList_GET_ITEM(dense, index);
            }
            else {
                PyObject *key = PyLong_FromLongLong(index);
                if (key == NULL) {
                    goto fail;
                }
                value = PyDict_GetItemWithError(sparse, key);
                Py_DECREF(key);
                if (value == NULL) {
                    if (PyErr_Occurred()) {
                        goto fail;
                    }
                    goto stop;
                }
            }
            if (PyList_Append(stack, value) < 0) {
                goto fail;
            }
            pos += step;
            break;
        }
        case K_BININT1:
        case K_BININT2:
        case K_BININT: {
            long value;
            Py_ssize_t step;
            if (code == 0x4B) {
                value = p[pos + 1];
                step = 2;
            }
            else if (code == 0x4D) {
                value = p[pos + 1] | (p[pos + 2] << 8);
                step = 3;
            }
            else {
                value = (int32_t)u32_le(p + pos + 1);
                step = 5;
            }
            if (push_new(stack, PyLong_FromLong(value)) < 0) {
                goto fail;
            }
            pos += step;
            break;
        }
        case K_BINFLOAT: {
            double value = PyFloat_Unpack8((const char *)p + pos + 1, 0);
            if (value == -1.0 && PyErr_Occurred()) {
                goto fail;
            }
            if (push_new(stack, PyFloat_FromDouble(value)) < 0) {
                goto fail;
            }
            pos += 9;
            break;
        }
        case K_MARK: {
            PyObject *metastack = PyObject_GetAttr(m, s_metastack);
            if (metastack == NULL) {
                goto fail;
            }
            Py_ssize_t depth = PyObject_Length(metastack);
            if (depth < 0) {
                Py_DECREF(metastack);
                goto fail;
            }
            if (depth >= max_depth) {
                Py_DECREF(metastack);
                goto stop;
            }
            int rc = PyList_Check(metastack) ? PyList_Append(metastack, stack) : -1;
            Py_DECREF(metastack);
            if (rc < 0) {
                if (!PyErr_Occurred()) {
                    PyErr_SetString(PyExc_TypeError, "machine metastack is not a list");
                }
                goto fail;
            }
            if (add_long_attr(m, s_below, PyList_GET_SIZE(stack)) < 0) {
                goto fail;
            }
            PyObject *fresh = PyList_New(0);
            if (fresh == NULL) {
                goto fail;
            }
            Py_SETREF(stack, fresh);
            if (PyObject_SetAttr(m, s_stack, stack) < 0) {
                goto fail;
            }
            pos += 1;
            break;
        }
        case K_STRING: {
            long long length;
            Py_ssize_t begin;
            if (code == 0x58 || code == 0x42) { /* BINUNICODE, BINBYTES */
                length = u32_le(p + pos + 1);
                begin = pos + 5;
            }
            else { /* SHORT_BINUNICODE, SHORT_BINBYTES */
                length = p[pos + 1];
                begin = pos + 2;
            }
            if (length > max_inline || begin + length > end || (length && suspect[p[begin]])) {
                goto stop;
            }
            PyObject *value;
            if (code == 0x58 || code == 0x8C) {
                value = PyUnicode_DecodeUTF8((const char *)p + begin, (Py_ssize_t)length, "surrogatepass");
                if (value == NULL) {
                    if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                        PyErr_Clear();
                        goto stop;
                    }
                    goto fail;
                }
            }
            else {
                value = PyBytes_FromStringAndSize((const char *)p + begin, (Py_ssize_t)length);
            }
            if (push_new(stack, value) < 0) {
                goto fail;
            }
            pos = begin + (Py_ssize_t)length;
            break;
        }
        case K_TUPLE: {
            PyObject *metastack = PyObject_GetAttr(m, s_metastack);
            if (metastack == NULL) {
                goto fail;
            }
            int empty = PyObject_Not(metastack);
            if (empty != 0) {
                Py_DECREF(metastack);
                if (empty < 0) {
                    goto fail;
                }
                goto stop;
            }
            PyObject *outer = PyObject_CallMethodNoArgs(metastack, s_pop);
            Py_DECREF(metastack);
            if (outer == NULL) {
                goto fail;
            }
            PyObject *items = stack; /* our reference moves to items */
            stack = outer;
            if (PyObject_SetAttr(m, s_stack, stack) < 0 || !PyList_CheckExact(stack) ||
                add_long_attr(m, s_below, -(long long)PyList_GET_SIZE(stack)) < 0) {
                if (!PyErr_Occurred()) {
                    PyErr_SetString(PyExc_TypeError, "machine stack is not a list");
                }
                Py_DECREF(items);
                goto fail;
            }
            PyObject *seq = PyObject_CallOneArg(Seq, tuple_kind);
            if (seq == NULL) {
                Py_DECREF(items);
                goto fail;
            }
            PyObject *ok = PyObject_CallMethodObjArgs(m, s_fill, seq, items, NULL);
            Py_DECREF(items);
            if (ok == NULL) {
                Py_DECREF(seq);
                goto fail;
            }
            Py_DECREF(ok);
            if (push_new(stack, seq) < 0) {
                goto fail;
            }
            pos += 1;
            break;
        }
        case K_REDUCE: {
            Py_ssize_t depth = PyList_GET_SIZE(stack);
            if (depth < 2) {
                goto stop;
            }
            PyObject *call_args = PyList_GET_ITEM(stack, depth - 1);
            PyObject *callee = PyList_GET_ITEM(stack, depth - 2);
            Py_INCREF(call_args);
            Py_INCREF(callee);
            PyObject *op = NULL, *result = NULL;
            if (PyList_SetSlice(stack, depth - 2, depth, NULL) == 0 && (op = new_op(code, base + pos)) != NULL) {
                result = PyObject_CallMethodObjArgs(m, s_call, callee, call_args, op, NULL);
            }
            Py_XDECREF(op);
            Py_DECREF(callee);
            Py_DECREF(call_args);
            if (push_new(stack, result) < 0) {
                goto fail;
            }
            pos += 1;
            break;
        }
        case K_BINPERSID: {
            Py_ssize_t depth = PyList_GET_SIZE(stack);
            if (depth == 0) {
                goto stop;
            }
            PyObject *pid = PyObject_CallOneArg(Persistent, PyList_GET_ITEM(stack, depth - 1));
            if (pid == NULL) {
                goto fail;
            }
            PyList_SetItem(stack, depth - 1, pid); /* steals pid, releases the old top */
            pos += 1;
            break;
        }
        case K_METHOD: {
            PyObject *op = new_op(code, base + pos);
            if (op == NULL) {
                goto fail;
            }
            pos += 1;
            PyObject *ok = PyObject_CallMethodOneArg(m, s_step_method, op);
            Py_DECREF(op);
            if (ok == NULL) {
                goto fail;
            }
            Py_DECREF(ok);
            PyObject *now = PyObject_GetAttr(m, s_stack);
            if (now == NULL) {
                goto fail;
            }
            Py_SETREF(stack, now);
            if (!PyList_CheckExact(stack)) {
                PyErr_SetString(PyExc_TypeError, "machine stack is not a list");
                goto fail;
            }
            break;
        }
        case K_SMALL_TUPLE: {
            Py_ssize_t n = code - 0x84, depth = PyList_GET_SIZE(stack);
            if (depth < n) {
                goto stop;
            }
            PyObject *items = PyList_GetSlice(stack, depth - n, depth);
            if (items == NULL) {
                goto fail;
            }
            if (PyList_SetSlice(stack, depth - n, depth, NULL) < 0) {
                Py_DECREF(items);
                goto fail;
            }
            PyObject *seq = PyObject_CallFunctionObjArgs(Seq, tuple_kind, items, NULL);
            Py_DECREF(items);
            if (push_new(stack, seq) < 0) {
                goto fail;
            }
            pos += 1;
            break;
        }
        case K_CONSTANT:
            if (PyList_Append(stack, constant_of[code]) < 0) {
                goto fail;
            }
            pos += 1;
            break;
        case K_EMPTY:
        case K_EMPTY_DICT: {
            PyObject *made = kinds[code] == K_EMPTY ? PyObject_CallOneArg(Seq, empty_kind[code])
                                                    : PyObject_CallNoArgs(Dict);
            if (push_new(stack, made) < 0) {
                goto fail;
            }
            pos += 1;
            break;
        }
        case K_FRAME:
            pos += 9;
            break;
        default:
            goto stop;
        }
        done += 1;
    }

stop:
    if (set_long_attr(src, s_pos, pos) < 0 || add_long_attr(m, s_ops, done) < 0 ||
        set_long_attr(m, s_memo_bytes, memo_bytes) < 0) {
        goto fail_early;
    }
    Py_DECREF(src);
    Py_DECREF(limits);
    Py_DECREF(memo);
    Py_DECREF(dense);
    Py_DECREF(sparse);
    Py_DECREF(stack);
    Py_XDECREF(buf);
    return PyLong_FromLongLong(ran + done);

fail: {
    /* the state is written back whatever failed, and the first error is the one raised */
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    if (set_long_attr(src, s_pos, pos) < 0 || add_long_attr(m, s_ops, done) < 0 ||
        set_long_attr(m, s_memo_bytes, memo_bytes) < 0) {
        PyErr_Clear();
    }
    PyErr_Restore(type, value, traceback);
}
fail_early:
    Py_XDECREF(src);
    Py_XDECREF(limits);
    Py_XDECREF(memo);
    Py_XDECREF(dense);
    Py_XDECREF(sparse);
    Py_XDECREF(stack);
    Py_XDECREF(buf);
    return NULL;
}

static int
table_of_ints(PyObject *codes, unsigned char *table, unsigned char mark)
{
    PyObject *it = PyObject_GetIter(codes);
    if (it == NULL) {
        return -1;
    }
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        long code = PyLong_AsLong(item);
        Py_DECREF(item);
        if (code < 0 || code > 255) {
            Py_DECREF(it);
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "opcode outside 0..255");
            }
            return -1;
        }
        table[code] = mark;
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static int
table_of_values(PyObject *mapping, PyObject **table, unsigned char mark)
{
    PyObject *key, *value;
    Py_ssize_t at = 0;
    if (!PyDict_Check(mapping)) {
        PyErr_SetString(PyExc_TypeError, "expected a dict of opcode to value");
        return -1;
    }
    while (PyDict_Next(mapping, &at, &key, &value)) {
        long code = PyLong_AsLong(key);
        if (code < 0 || code > 255) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "opcode outside 0..255");
            }
            return -1;
        }
        Py_INCREF(value);
        Py_XSETREF(table[code], value);
        if (mark) {
            kinds[code] = mark;
        }
    }
    return 0;
}

static PyObject *
configure(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"seq", "dict", "persistent", "op", "estimated_sizes", "memo_entry_bytes", "names",
                               "methods", "constants", "empties", "suspect", "max_constant", "lookahead",
                               "check_every", NULL};
    PyObject *seq, *dict, *persistent, *op, *names, *methods, *constants, *empties, *suspects;
    long long sizes[4], entry_bytes, constant_limit;
    Py_ssize_t ahead, every;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "$OOOO(LLLL)LOOOOOLnn", keywords, &seq, &dict, &persistent,
                                     &op, &sizes[0], &sizes[1], &sizes[2], &sizes[3], &entry_bytes, &names,
                                     &methods, &constants, &empties, &suspects, &constant_limit, &ahead,
                                     &every)) {
        return NULL;
    }
    if (!PyType_Check(op) || !PyType_IsSubtype((PyTypeObject *)op, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "op must be a tuple subclass");
        return NULL;
    }
    if (ahead < 9 || every < 1) { /* the loop reads up to 9 bytes of an opcode and its argument unchecked */
        PyErr_SetString(PyExc_ValueError, "lookahead must be at least 9 and check_every positive");
        return NULL;
    }
    configured = 0;
    memset(kinds, K_OTHER, sizeof kinds);
    memset(suspect, 0, sizeof suspect);
    kinds[0x72] = kinds[0x71] = kinds[0x94] = K_PUT; /* LONG_BINPUT, BINPUT, MEMOIZE */
    kinds[0x68] = kinds[0x6A] = K_GET;               /* BINGET, LONG_BINGET */
    kinds[0x4B] = K_BININT1;
    kinds[0x28] = K_MARK;
    kinds[0x58] = kinds[0x8C] = kinds[0x43] = kinds[0x42] = K_STRING;
    kinds[0x74] = K_TUPLE;
    kinds[0x52] = K_REDUCE;
    kinds[0x51] = K_BINPERSID;
    kinds[0x85] = kinds[0x86] = kinds[0x87] = K_SMALL_TUPLE;
    kinds[0x7D] = K_EMPTY_DICT;
    kinds[0x4D] = K_BININT2;
    kinds[0x4A] = K_BININT;
    kinds[0x47] = K_BINFLOAT;
    kinds[0x95] = K_FRAME;
    if (table_of_ints(methods, kinds, K_METHOD) < 0 || table_of_ints(suspects, suspect, 1) < 0 ||
        table_of_values(constants, constant_of, K_CONSTANT) < 0 ||
        table_of_values(empties, empty_kind, K_EMPTY) < 0 || table_of_values(names, name_of, 0) < 0) {
        return NULL;
    }
    for (int code = 0; code < 256; code++) {
        if ((kinds[code] == K_REDUCE || kinds[code] == K_METHOD) && name_of[code] == NULL) {
            PyErr_Format(PyExc_ValueError, "no name for opcode 0x%02x", code);
            return NULL;
        }
    }
    PyObject *kind = PyUnicode_InternFromString("tuple");
    if (kind == NULL) {
        return NULL;
    }
    Py_XSETREF(tuple_kind, kind);
    Py_INCREF(seq);
    Py_XSETREF(Seq, seq);
    Py_INCREF(dict);
    Py_XSETREF(Dict, dict);
    Py_INCREF(persistent);
    Py_XSETREF(Persistent, persistent);
    Py_INCREF(op);
    Py_XSETREF(Op, op);
    size_text = sizes[0];
    size_container = sizes[1];
    size_item = sizes[2];
    size_other = sizes[3];
    memo_entry_bytes = entry_bytes;
    max_constant = constant_limit;
    lookahead = ahead;
    check_every = every;
    configured = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", (PyCFunction)(void (*)(void))configure, METH_VARARGS | METH_KEYWORDS,
     "Take fast.py's tables and value classes (once, at its import)."},
    {"run_common", (PyCFunction)(void (*)(void))run_common, METH_FASTCALL,
     "run_common(machine, deadline): fast.run_common, compiled."},
    {"estimate", estimate, METH_O, "values.estimate, as the compiled loop counts the memo's bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_fastloop", "The common pickle opcodes, compiled (see fast.py).", -1, methods,
};

PyMODINIT_FUNC
PyInit__fastloop(void)
{
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_src, "src"},
        {&s_limits, "limits"},
        {&s_memo, "memo"},
        {&s_dense, "dense"},
        {&s_sparse, "sparse"},
        {&s_stack, "stack"},
        {&s_metastack, "metastack"},
        {&s_below, "below"},
        {&s_ops, "ops"},
        {&s_memo_bytes, "memo_bytes"},
        {&s_pos, "pos"},
        {&s_buffered, "buffered"},
        {&s_check_budget, "_check_budget"},
        {&s_fill, "_fill"},
        {&s_call, "_call"},
        {&s_step_method, "step_method"},
        {&s_pop, "pop"},
        {&s_max_pickle_memo, "max_pickle_memo"},
        {&s_max_pickle_memo_bytes, "max_pickle_memo_bytes"},
        {&s_max_pickle_stack, "max_pickle_stack"},
        {&s_max_inline_bytes, "max_inline_bytes"},
        {&s_items, "items"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (*names[i].slot == NULL && (*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) {
            return NULL;
        }
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module != NULL && PyModule_AddIntConstant(module, "REVISION", REVISION) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}

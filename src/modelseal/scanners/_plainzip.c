/* The members of a plain archive, read from its central directory and checked against their local headers
 * in one pass (see plainzip.py, which says what "plain" means and why the zip scanner may trust it).
 *
 * Every condition under which zipfile, torch's miniz and a reader walking the local headers could see
 * different members, or under which the zip scanner's reference path would report anything about the
 * archive's structure, makes this module answer None: the caller then reads the archive the reference way.
 * So this reader only ever says "these are the members, and nothing is wrong with them"; it never judges.
 * Every read of the directory is bounded by its length, and every read of the file by what pread returned.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bumped with every change to this file. plainzip.py uses a built module only when its REVISION is the one
 * the source beside it expects: an editable install does not rebuild the module when the source changes. */
#define REVISION 1

#define CENTRAL_SIZE 46
#define LOCAL_SIZE 30
#define HEAD_BYTES 6
#define READ_FLAGS 0x61u   /* encrypted, patched, strongly encrypted: they change how data is read */
#define PLAIN_FLAGS 0x808u /* data descriptor, UTF-8 name: the only flags a plain member may carry */
#define MAX_EXTRACT_VERSION 63 /* zipfile refuses to open an archive with a member needing a later one */

static uint16_t
u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Where the archive's bytes come from: a file descriptor (pread) or a buffer (an in-memory file). */
typedef struct {
    int fd;
    const unsigned char *buf;
    Py_ssize_t len;
} Source;

/* Up to n bytes at offset into out; returns how many were there (-1 on a read error). */
static Py_ssize_t
read_at(const Source *src, unsigned char *out, Py_ssize_t n, long long offset)
{
    if (src->buf != NULL) {
        if (offset >= src->len) {
            return 0;
        }
        Py_ssize_t have = src->len - (Py_ssize_t)offset;
        if (have > n) {
            have = n;
        }
        memcpy(out, src->buf + offset, (size_t)have);
        return have;
    }
    Py_ssize_t got = 0;
    while (got < n) {
        ssize_t r = pread(src->fd, out + got, (size_t)(n - got), (off_t)(offset + got));
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            break;
        }
        got += r;
    }
    return got;
}

typedef struct {
    long long header; /* local header offset */
    long long end;    /* end of the member's data */
} Extent;

static int
by_header(const void *a, const void *b)
{
    long long x = ((const Extent *)a)->header, y = ((const Extent *)b)->header;
    return (x > y) - (x < y);
}

/* A plain name: printable ASCII without a backslash (zipfile, miniz and the scanner's reports all read
 * it as the same string, on every platform and with either name encoding). */
static int
plain_name(const unsigned char *name, Py_ssize_t n)
{
    if (n == 0) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (name[i] < 0x20 || name[i] > 0x7e || name[i] == '\\') {
            return 0;
        }
    }
    return 1;
}

/* One member's local header checked against its central entry; sets *data and fills head. Returns 1 when
 * the two agree as plainzip.py requires, 0 when they do not, -1 on a read error (also "not plain"). */
static int
check_local(const Source *src, const unsigned char *central, const unsigned char *name, Py_ssize_t n,
            long long *data, unsigned char *head, Py_ssize_t *head_len)
{
    unsigned char raw[LOCAL_SIZE + 65535 + 128];
    long long at = u32(central + 42);
    uint32_t size = u32(central + 24);
    Py_ssize_t want = LOCAL_SIZE + n + 128;
    Py_ssize_t got = read_at(src, raw, want, at);
    if (got < LOCAL_SIZE + n || memcmp(raw, "PK\x03\x04", 4) != 0) {
        return got < 0 ? -1 : 0;
    }
    uint16_t flags = u16(raw + 6), method = u16(raw + 8), name_len = u16(raw + 26), extra = u16(raw + 28);
    if (name_len != n || memcmp(raw + LOCAL_SIZE, name, (size_t)n) != 0 || method != 0 ||
        ((flags ^ u16(central + 8)) & READ_FLAGS)) {
        return 0;
    }
    uint32_t crc = u32(raw + 14), csize = u32(raw + 18), usize = u32(raw + 22);
    int sized = !(flags & 0x08) && csize != 0xFFFFFFFFu && usize != 0xFFFFFFFFu;
    if (sized && (crc != u32(central + 16) || csize != size || usize != size)) {
        return 0;
    }
    *data = at + LOCAL_SIZE + n + extra;
    *head_len = size < HEAD_BYTES ? (Py_ssize_t)size : HEAD_BYTES;
    Py_ssize_t start = LOCAL_SIZE + n + extra;
    if (start + *head_len <= got) {
        memcpy(head, raw + start, (size_t)*head_len);
        return 1;
    }
    Py_ssize_t more = read_at(src, head, *head_len, *data);
    return more < 0 ? -1 : more == *head_len;
}

/* The members as a list of (name, data offset, size, head), or None: see plainzip.members. */
static PyObject *
members(PyObject *self, PyObject *args)
{
    PyObject *where;
    Py_buffer directory;
    Py_ssize_t count;
    long long directory_at;
    if (!PyArg_ParseTuple(args, "Oy*nL", &where, &directory, &count, &directory_at)) {
        return NULL;
    }
    Source src = {-1, NULL, 0};
    Py_buffer whole = {0};
    int have_whole = 0;
    if (PyLong_Check(where)) {
        long fd = PyLong_AsLong(where);
        src.fd = fd < 0 || fd > INT32_MAX ? -1 : (int)fd;
    }
    else if (PyObject_GetBuffer(where, &whole, PyBUF_SIMPLE) == 0) {
        have_whole = 1;
        src.buf = whole.buf;
        src.len = whole.len;
    }
    PyObject *out = NULL;
    Extent *extents = NULL;
    if (PyErr_Occurred()) {
        goto done;
    }
    if (count < 0 || count > directory.len / CENTRAL_SIZE) {
        out = Py_None;
        Py_INCREF(out);
        goto done;
    }
    extents = PyMem_Malloc(sizeof(Extent) * (size_t)(count ? count : 1));
    out = PyList_New(count);
    if (extents == NULL || out == NULL) {
        Py_CLEAR(out);
        if (extents == NULL) {
            PyErr_NoMemory();
        }
        goto done;
    }
    const unsigned char *dir = directory.buf;
    Py_ssize_t pos = 0, index = 0, dir_len = directory.len;
    int plain = 1;
    while (pos < dir_len) {
        if (index >= count || dir_len - pos < CENTRAL_SIZE || memcmp(dir + pos, "PK\x01\x02", 4) != 0) {
            plain = 0;
            break;
        }
        const unsigned char *c = dir + pos;
        Py_ssize_t n = u16(c + 28), extra = u16(c + 30), comment = u16(c + 32);
        uint32_t csize = u32(c + 20), usize = u32(c + 24), offset = u32(c + 42);
        if (dir_len - pos - CENTRAL_SIZE < n + extra + comment || (u16(c + 8) & ~PLAIN_FLAGS) ||
            u16(c + 10) != 0 || c[6] > MAX_EXTRACT_VERSION || extra != 0 || csize != usize ||
            !plain_name(c + CENTRAL_SIZE, n)) {
            plain = 0;
            break;
        }
        long long data;
        unsigned char head[HEAD_BYTES];
        Py_ssize_t head_len = 0;
        int agreed = check_local(&src, c, c + CENTRAL_SIZE, n, &data, head, &head_len);
        /* the data must end before the directory (so inside the file): zipfile refuses it from 3.12 */
        if (agreed <= 0 || data + (long long)csize > directory_at) {
            plain = 0;
            break;
        }
        PyObject *entry = Py_BuildValue("(NLIy#)", PyUnicode_DecodeASCII((const char *)c + CENTRAL_SIZE, n, NULL),
                                        data, csize, (const char *)head, head_len);
        if (entry == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, index, entry);
        extents[index].header = offset;
        extents[index].end = data + csize;
        index++;
        pos += CENTRAL_SIZE + n + extra + comment;
    }
    if (plain && index == count) {
        /* no member's header may lie inside the bytes of a member before it */
        qsort(extents, (size_t)count, sizeof(Extent), by_header);
        long long furthest = -1;
        for (Py_ssize_t i = 0; i < count && plain; i++) {
            plain = extents[i].header >= furthest;
            if (extents[i].end > furthest) {
                furthest = extents[i].end;
            }
        }
    }
    else {
        plain = 0;
    }
    if (!plain) {
        Py_DECREF(out);
        out = Py_None;
        Py_INCREF(out);
    }
done:
    PyMem_Free(extents);
    if (have_whole) {
        PyBuffer_Release(&whole);
    }
    PyBuffer_Release(&directory);
    return out;
}

static PyMethodDef methods[] = {
    {"members", members, METH_VARARGS,
     "members(source, directory, count, directory_at): see plainzip.members."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_plainzip", "The members of a plain zip, read and checked (see plainzip.py).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__plainzip(void)
{
    PyObject *module = PyModule_Create(&module_def);
    if (module != NULL && PyModule_AddIntConstant(module, "REVISION", REVISION) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}

/* safetensors reader: reads a whole file, validates every byte of structure
 * before success, and serves names, shapes, data and metadata.
 * cJSON allocates its parse tree with its own hooks (see safetensors_write.c);
 * the tree is freed before returning, everything kept is copied into memory
 * from the library allocator. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include "io/safetensors_internal.h"

typedef struct st_tensor {
    char *name;
    int ndim;
    int64_t shape[CVAE_MAX_DIMS];
    int64_t begin, end; /* byte offsets in the data section */
} st_tensor;

struct cvae_st_file {
    st_tensor *t; /* header order */
    int n;
    int *by_name; /* indices of t sorted by name */
    char **meta_keys, **meta_vals;
    int n_meta;
    unsigned char *data; /* data section, 64-byte aligned (cvae__aligned_alloc) */
    size_t data_size;
};

static const char *const FN = "cvae_safetensors_open";

void cvae_safetensors_close(cvae_st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) cvae__free(f->t[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        cvae__free(f->meta_keys[i]);
        cvae__free(f->meta_vals[i]);
    }
    cvae__free(f->t);
    cvae__free(f->by_name);
    cvae__free(f->meta_keys);
    cvae__free(f->meta_vals);
    cvae__aligned_free(f->data);
    cvae__free(f);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = cvae__malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

/* A JSON integer in [0, 2^53]. */
static bool json_int(const cJSON *item, int64_t *v)
{
    if (!cJSON_IsNumber(item)) return false;
    double d = item->valuedouble;
    if (!(d >= 0.0 && d <= (double)CVAE__ST_MAX_INT) || floor(d) != d) return false;
    *v = (int64_t)d;
    return true;
}

static bool known_dtype(const char *s)
{
    static const char *const dtypes[] = {
        "BOOL", "U8",  "I8",  "I16",     "U16",     "F16",     "BF16", "I32",     "U32",     "F32",
        "F64",  "I64", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4",   "F6_E2M3", "F6_E3M2", "C64"};
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(s, dtypes[i]) == 0) return true;
    return false;
}

/* Parses one tensor entry into *t (name not set). */
static cvae_status parse_tensor(const cJSON *obj, const char *name, size_t data_size, st_tensor *t)
{
    if (!cJSON_IsObject(obj))
        return cvae__error(CVAE_ERR_FORMAT, "%s: entry '%s' is not a JSON object", FN, name);
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *c = obj->child; c; c = c->next) {
        const cJSON **slot = strcmp(c->string, "dtype") == 0          ? &dtype
                             : strcmp(c->string, "shape") == 0        ? &shape
                             : strcmp(c->string, "data_offsets") == 0 ? &offs
                                                                      : NULL;
        if (!slot)
            return cvae__error(CVAE_ERR_FORMAT, "%s: tensor '%s' has an unknown field '%s'", FN,
                               name, c->string);
        if (*slot)
            return cvae__error(CVAE_ERR_FORMAT, "%s: tensor '%s' has field '%s' twice", FN, name,
                               c->string);
        *slot = c;
    }
    if (!dtype || !shape || !offs)
        return cvae__error(CVAE_ERR_FORMAT, "%s: tensor '%s' lacks its '%s'", FN, name,
                           !dtype   ? "dtype"
                           : !shape ? "shape"
                                    : "data_offsets");
    if (!cJSON_IsString(dtype))
        return cvae__error(CVAE_ERR_FORMAT, "%s: tensor '%s': dtype is not a string", FN, name);
    if (strcmp(dtype->valuestring, "F32") != 0)
        return cvae__error(known_dtype(dtype->valuestring) ? CVAE_ERR_UNSUPPORTED : CVAE_ERR_FORMAT,
                           "%s: tensor '%s' has dtype '%.16s'; only F32 is supported", FN, name,
                           dtype->valuestring);

    if (!cJSON_IsArray(shape))
        return cvae__error(CVAE_ERR_FORMAT, "%s: tensor '%s': shape is not an array", FN, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim < 1 || ndim > CVAE_MAX_DIMS)
        return cvae__error(CVAE_ERR_UNSUPPORTED, "%s: tensor '%s' has rank %d, not in [1, %d]", FN,
                           name, ndim, CVAE_MAX_DIMS);
    int64_t numel = 1, bytes;
    int d = 0;
    for (const cJSON *c = shape->child; c; c = c->next, d++) {
        if (!json_int(c, &t->shape[d]))
            return cvae__error(CVAE_ERR_FORMAT,
                               "%s: tensor '%s': shape[%d] is not an integer in [0, 2^53]", FN,
                               name, d);
        if (!cvae__mul_ok(numel, t->shape[d], &numel))
            return cvae__error(CVAE_ERR_FORMAT, "%s: tensor '%s': element count overflows", FN,
                               name);
    }
    for (int k = ndim; k < CVAE_MAX_DIMS; k++) t->shape[k] = 1;
    t->ndim = ndim;
    if (!cvae__mul_ok(numel, 4, &bytes))
        return cvae__error(CVAE_ERR_FORMAT, "%s: tensor '%s': byte size overflows", FN, name);

    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        !json_int(offs->child, &t->begin) || !json_int(offs->child->next, &t->end))
        return cvae__error(
            CVAE_ERR_FORMAT,
            "%s: tensor '%s': data_offsets is not [begin, end] of integers in [0, 2^53]", FN, name);
    if (t->begin > t->end || (uint64_t)t->end > data_size)
        return cvae__error(CVAE_ERR_FORMAT,
                           "%s: tensor '%s': data_offsets [%" PRId64 ", %" PRId64
                           "] outside the data section of %zu bytes",
                           FN, name, t->begin, t->end, data_size);
    if (t->end - t->begin != bytes)
        return cvae__error(CVAE_ERR_FORMAT,
                           "%s: tensor '%s': data_offsets span %" PRId64
                           " bytes but its shape needs %" PRId64,
                           FN, name, t->end - t->begin, bytes);
    return CVAE_OK;
}

static cvae_status parse_meta(cvae_st_file *f, const cJSON *obj)
{
    if (!cJSON_IsObject(obj))
        return cvae__error(CVAE_ERR_FORMAT, "%s: %s is not a JSON object", FN, CVAE__ST_META);
    int n = cJSON_GetArraySize(obj);
    if (n == 0) return CVAE_OK;
    f->meta_keys = cvae__calloc((size_t)n, sizeof *f->meta_keys);
    f->meta_vals = cvae__calloc((size_t)n, sizeof *f->meta_vals);
    if (!f->meta_keys || !f->meta_vals) return cvae__nomem(FN, (size_t)n * 2 * sizeof(char *));
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return cvae__error(CVAE_ERR_FORMAT, "%s: metadata value of '%s' is not a string", FN,
                               c->string);
        f->meta_keys[f->n_meta] = dup_str(c->string);
        f->meta_vals[f->n_meta] = dup_str(c->valuestring);
        f->n_meta++;
        if (!f->meta_keys[f->n_meta - 1] || !f->meta_vals[f->n_meta - 1])
            return cvae__nomem(FN, strlen(c->string) + strlen(c->valuestring) + 2);
    }
    const char *dup;
    CVAE_TRY(cvae__find_duplicate((const char *const *)f->meta_keys, (size_t)n, &dup, FN));
    if (dup) return cvae__error(CVAE_ERR_FORMAT, "%s: metadata key '%s' appears twice", FN, dup);
    return CVAE_OK;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Checks format_version and the crc32 of the file buf[0..n) whose header is buf[8..8+hlen):
 * format 2 (CVAE_ST_FORMAT_VERSION): the CRC of the whole file with the crc32 digits read as
 * zeros; format 1 or none given: the CRC of the data section. */
static cvae_status check_checksum(const cvae_st_file *f, const unsigned char *buf, size_t n,
                                  size_t hlen)
{
    const char *version = cvae_st_meta(f, CVAE__ST_KEY_VERSION);
    const bool data_only = !version || strcmp(version, CVAE__ST_VERSION_DATA_CRC) == 0;
    if (!data_only && strcmp(version, CVAE_ST_FORMAT_VERSION) != 0)
        return cvae__error(CVAE_ERR_UNSUPPORTED,
                           "%s: format_version '%.16s' (this build reads '%s' and '%s')", FN,
                           version, CVAE__ST_VERSION_DATA_CRC, CVAE_ST_FORMAT_VERSION);
    const char *hex = cvae_st_meta(f, CVAE__ST_KEY_CRC);
    if (!hex) return cvae__error(CVAE_ERR_FORMAT, "%s: metadata has no crc32 entry", FN);
    uint32_t want = 0;
    for (int i = 0; i < 8; i++) {
        int v = hex_digit(hex[i]);
        if (v < 0) break;
        want = want << 4 | (uint32_t)v;
        if (i == 7 && hex[8] == '\0') goto parsed;
    }
    return cvae__error(CVAE_ERR_FORMAT, "%s: crc32 '%.16s' is not 8 hex digits", FN, hex);
parsed:;
    uint32_t got;
    if (data_only) {
        got = cvae__crc32(0, buf + 8 + hlen, n - 8 - hlen);
    } else {
        int64_t at = cvae__st_crc_digits((const char *)buf + 8, hlen);
        if (at < 0 || memcmp(buf + 8 + at, hex, 8) != 0)
            return cvae__error(CVAE_ERR_FORMAT,
                               "%s: format_version %s: the header must hold the crc32 value as "
                               "%s<8 hex digits>\" exactly once",
                               FN, version, CVAE__ST_CRC_MARK);
        const size_t d = 8 + (size_t)at;
        got = cvae__crc32(0, buf, d);
        got = cvae__crc32(got, CVAE__ST_CRC_ZEROS, 8);
        got = cvae__crc32(got, buf + d + 8, n - d - 8);
    }
    if (got != want)
        return cvae__error(CVAE_ERR_FORMAT,
                           "%s: checksum mismatch: %s has CRC-32 %08" PRIx32
                           ", header says %08" PRIx32 " (file corrupted)",
                           FN, data_only ? "the data section" : "the file", got, want);
    return CVAE_OK;
}

/* Fills f's metadata, checks the checksum, then fills f's tensors from the parsed header of
 * the file buf[0..n) (header length hlen). */
static cvae_status parse_root(cvae_st_file *f, const cJSON *root, const unsigned char *buf,
                              size_t n, size_t hlen)
{
    const size_t data_size = n - 8 - hlen;
    if (!cJSON_IsObject(root))
        return cvae__error(CVAE_ERR_FORMAT, "%s: header is not a JSON object", FN);
    int members = cJSON_GetArraySize(root);
    const cJSON *meta = NULL;
    for (const cJSON *c = root->child; c; c = c->next)
        if (strcmp(c->string, CVAE__ST_META) == 0) {
            if (meta)
                return cvae__error(CVAE_ERR_FORMAT, "%s: %s appears twice", FN, CVAE__ST_META);
            meta = c;
        }
    if (meta) CVAE_TRY(parse_meta(f, meta));
    CVAE_TRY(check_checksum(f, buf, n, hlen));
    const int nt = members - (meta != NULL);
    if (nt > 0) {
        f->t = cvae__calloc((size_t)nt, sizeof *f->t);
        if (!f->t) return cvae__nomem(FN, (size_t)nt * sizeof *f->t);
    }
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta) continue;
        if (c->string[0] == '\0')
            return cvae__error(CVAE_ERR_FORMAT, "%s: tensor %d has an empty name", FN, f->n);
        st_tensor *t = &f->t[f->n];
        CVAE_TRY(parse_tensor(c, c->string, data_size, t));
        t->name = dup_str(c->string);
        if (!t->name) return cvae__nomem(FN, strlen(c->string) + 1);
        f->n++;
    }
    return CVAE_OK;
}

typedef struct st_key {
    const char *name;
    int64_t begin, end;
    int index;
} st_key;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const st_key *)a)->name, ((const st_key *)b)->name);
}

static int cmp_offset(const void *a, const void *b)
{
    const st_key *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* Builds the name index, rejects duplicate names and checks that the tensors
 * tile [0, data_size) exactly. */
static cvae_status check_layout(cvae_st_file *f, size_t data_size)
{
    if (f->n == 0) {
        if (data_size != 0)
            return cvae__error(CVAE_ERR_FORMAT, "%s: %zu data bytes but no tensor", FN, data_size);
        return CVAE_OK;
    }
    size_t n = (size_t)f->n;
    st_key *k = cvae__malloc(n * sizeof *k);
    f->by_name = cvae__malloc(n * sizeof *f->by_name);
    if (!k || !f->by_name) {
        cvae__free(k);
        return cvae__nomem(FN, n * (sizeof *k + sizeof *f->by_name));
    }
    for (size_t i = 0; i < n; i++)
        k[i] = (st_key){f->t[i].name, f->t[i].begin, f->t[i].end, (int)i};
    qsort(k, n, sizeof *k, cmp_name);
    cvae_status s = CVAE_OK;
    for (size_t i = 0; i < n && !s; i++) {
        f->by_name[i] = k[i].index;
        if (i > 0 && strcmp(k[i - 1].name, k[i].name) == 0)
            s = cvae__error(CVAE_ERR_FORMAT, "%s: tensor '%s' appears twice", FN, k[i].name);
    }
    qsort(k, n, sizeof *k, cmp_offset);
    int64_t at = 0;
    for (size_t i = 0; i < n && !s; i++) {
        if (k[i].begin < at)
            s = cvae__error(CVAE_ERR_FORMAT,
                            "%s: tensor '%s' overlaps another one at byte %" PRId64, FN, k[i].name,
                            k[i].begin);
        else if (k[i].begin > at)
            s = cvae__error(CVAE_ERR_FORMAT,
                            "%s: gap in the data section: bytes [%" PRId64 ", %" PRId64
                            ") belong to no tensor",
                            FN, at, k[i].begin);
        at = k[i].end;
    }
    if (!s && (uint64_t)at != data_size)
        s = cvae__error(CVAE_ERR_FORMAT,
                        "%s: data section has %zu bytes but the tensors end at byte %" PRId64, FN,
                        data_size, at);
    cvae__free(k);
    return s;
}

/* Parses and validates the header at buf[8..8+hlen) against the data section
 * buf[8+hlen..n), filling f (everything but f->data). */
static cvae_status parse(cvae_st_file *f, const unsigned char *buf, size_t n)
{
    if (n < 8)
        return cvae__error(CVAE_ERR_FORMAT, "%s: %zu bytes, too short for the 8-byte header length",
                           FN, n);
    uint64_t hlen = 0;
    for (int b = 7; b >= 0; b--) hlen = hlen << 8 | buf[b];
    if (hlen > CVAE__ST_MAX_HEADER)
        return cvae__error(CVAE_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds the limit of %u",
                           FN, hlen, CVAE__ST_MAX_HEADER);
    if (hlen > n - 8)
        return cvae__error(CVAE_ERR_FORMAT,
                           "%s: header length %" PRIu64 " exceeds the %zu bytes after it", FN, hlen,
                           n - 8);
    const char *hdr = (const char *)buf + 8;
    if (hlen < 2 || hdr[0] != '{')
        return cvae__error(CVAE_ERR_FORMAT, "%s: header does not start with '{'", FN);
    if (!cvae__utf8_ok(hdr, (size_t)hlen))
        return cvae__error(CVAE_ERR_FORMAT,
                           "%s: header is not UTF-8 JSON text (bad byte or control character)", FN);
    /* cJSON gets a NUL-terminated copy: the check above rules out NUL bytes, so
     * the copy ends exactly where the header does. */
    char *text = cvae__malloc((size_t)hlen + 1);
    if (!text) return cvae__nomem(FN, (size_t)hlen + 1);
    memcpy(text, hdr, (size_t)hlen);
    text[hlen] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    size_t err_at = end ? (size_t)(end - text) : 0;
    cvae__free(text);
    if (!root)
        return cvae__error(CVAE_ERR_FORMAT,
                           "%s: header is not valid JSON (error near header byte %zu)", FN, err_at);
    size_t data_size = n - 8 - (size_t)hlen;
    cvae_status s = parse_root(f, root, buf, n, (size_t)hlen);
    cJSON_Delete(root);
    if (!s) s = check_layout(f, data_size);
    if (!s) f->data_size = data_size;
    return s;
}

cvae_status cvae_safetensors_open_memory(const void *buf, size_t n, cvae_st_file **out)
{
    CVAE_CHECK_NULL(buf, "cvae_safetensors_open_memory");
    CVAE_CHECK_NULL(out, "cvae_safetensors_open_memory");
    if (!cvae__host_le())
        return cvae__error(CVAE_ERR_UNSUPPORTED, "%s: big-endian hosts are not supported", FN);
    cvae_st_file *f = cvae__calloc(1, sizeof *f);
    if (!f) return cvae__nomem(FN, sizeof *f);
    cvae_status s = parse(f, buf, n);
    if (!s && f->data_size > 0) {
        f->data = cvae__aligned_alloc(f->data_size);
        if (f->data)
            memcpy(f->data, (const unsigned char *)buf + (n - f->data_size), f->data_size);
        else
            s = cvae__nomem(FN, f->data_size);
    }
    if (s) {
        cvae_safetensors_close(f);
        return s;
    }
    *out = f;
    return CVAE_OK;
}

cvae_status cvae_safetensors_open(const char *path, cvae_st_file **out)
{
    CVAE_CHECK_NULL(path, FN);
    CVAE_CHECK_NULL(out, FN);
    FILE *fp = fopen(path, "rb");
    if (!fp) return cvae__error(CVAE_ERR_IO, "%s: cannot open '%s': %s", FN, path, strerror(errno));
    cvae_status s = CVAE_OK;
    unsigned char *buf = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            size_t grow = cap < 65536 ? 65536 : cap;
            unsigned char *nb = grow <= SIZE_MAX - cap ? cvae__realloc(buf, cap + grow) : NULL;
            if (!nb) {
                s = cvae__nomem(FN, cap + grow);
                break;
            }
            buf = nb;
            cap += grow;
        }
        size_t want = cap - size, got = fread(buf + size, 1, want, fp);
        size += got;
        if (got < want) { /* end of file or error */
            if (ferror(fp))
                s = cvae__error(CVAE_ERR_IO, "%s: cannot read '%s': %s", FN, path,
                                strerror(errno ? errno : EIO));
            break;
        }
    }
    fclose(fp);
    if (!s) {
        s = cvae_safetensors_open_memory(buf, size, out);
        if (s == CVAE_ERR_FORMAT || s == CVAE_ERR_UNSUPPORTED) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", cvae_last_error());
            cvae__error(s, "%s (file '%s')", msg, path);
        }
    }
    cvae__free(buf);
    return s;
}

int cvae_st_count(const cvae_st_file *f)
{
    return f ? f->n : 0;
}

const char *cvae_st_name(const cvae_st_file *f, int i)
{
    return f && i >= 0 && i < f->n ? f->t[i].name : NULL;
}

static const st_tensor *lookup(const cvae_st_file *f, const char *name)
{
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const st_tensor *t = &f->t[f->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

cvae_status cvae_st_find(const cvae_st_file *f, const char *name, int *ndim, int64_t *shape,
                         const float **data)
{
    CVAE_CHECK_NULL(f, "cvae_st_find");
    CVAE_CHECK_NULL(name, "cvae_st_find");
    const st_tensor *t = lookup(f, name);
    if (!t) return cvae__error(CVAE_ERR_RANGE, "cvae_st_find: no tensor named '%s'", name);
    if (ndim) *ndim = t->ndim;
    if (shape) memcpy(shape, t->shape, sizeof t->shape);
    if (data) *data = t->end > t->begin ? (const float *)(f->data + t->begin) : NULL;
    return CVAE_OK;
}

const char *cvae_st_meta(const cvae_st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
    return NULL;
}

int cvae_st_meta_count(const cvae_st_file *f)
{
    return f ? f->n_meta : 0;
}

const char *cvae_st_meta_key(const cvae_st_file *f, int i)
{
    return f && i >= 0 && i < f->n_meta ? f->meta_keys[i] : NULL;
}

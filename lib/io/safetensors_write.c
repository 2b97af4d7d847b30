/* safetensors writer: validate, build the JSON header with cJSON, write atomically.
 * cJSON allocates with its own hooks (malloc/free unless the application set
 * others): cvae never calls cJSON_InitHooks, which is process-global and would
 * clobber an application's own cJSON use. Its trees live only inside one call. */
#include <cjson/cJSON.h>
#include <inttypes.h>

#include "io/safetensors_internal.h"

static const char *const FN = "cvae_safetensors_save";

static cvae_status check_string(const char *s, const char *what, int i)
{
    if (!s) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: %s %d is NULL", FN, what, i);
    if (!cvae__utf8_ok(s, strlen(s)))
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "%s: %s %d is not valid UTF-8 (or holds a control character)", FN, what,
                           i);
    return CVAE_OK;
}

/* Checks every entry and sets bytes[i] and *total (data section size). */
static cvae_status check_entries(const cvae_st_entry *e, int n, int64_t *bytes, int64_t *total)
{
    *total = 0;
    for (int i = 0; i < n; i++) {
        CVAE_TRY(check_string(e[i].name, "name of entry", i));
        if (e[i].name[0] == '\0' || strcmp(e[i].name, CVAE__ST_META) == 0)
            return cvae__error(CVAE_ERR_INVALID_ARG, "%s: entry %d has the reserved name '%s'", FN,
                               i, e[i].name);
        if (e[i].ndim < 1 || e[i].ndim > CVAE_MAX_DIMS)
            return cvae__error(CVAE_ERR_INVALID_ARG, "%s: tensor '%s' has ndim %d, not in [1, %d]",
                               FN, e[i].name, e[i].ndim, CVAE_MAX_DIMS);
        int64_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) {
            if (e[i].shape[d] < 0)
                return cvae__error(CVAE_ERR_INVALID_ARG,
                                   "%s: tensor '%s' has extent %" PRId64 " in dimension %d", FN,
                                   e[i].name, e[i].shape[d], d);
            if (!cvae__mul_ok(numel, e[i].shape[d], &numel))
                return cvae__error(CVAE_ERR_INVALID_ARG, "%s: tensor '%s': size overflows", FN,
                                   e[i].name);
        }
        if (!cvae__mul_ok(numel, 4, &bytes[i]) || bytes[i] > CVAE__ST_MAX_INT - *total)
            return cvae__error(CVAE_ERR_INVALID_ARG, "%s: tensor '%s': file size overflows", FN,
                               e[i].name);
        if (numel > 0 && !e[i].data)
            return cvae__error(CVAE_ERR_INVALID_ARG, "%s: tensor '%s' has NULL data", FN,
                               e[i].name);
        *total += bytes[i];
    }
    return CVAE_OK;
}

static cvae_status check_meta(const char *const *keys, const char *const *vals, int n_meta)
{
    for (int i = 0; i < n_meta; i++) {
        CVAE_TRY(check_string(keys[i], "metadata key", i));
        CVAE_TRY(check_string(vals[i], "metadata value", i));
        if (strcmp(keys[i], CVAE__ST_KEY_VERSION) == 0 || strcmp(keys[i], CVAE__ST_KEY_CRC) == 0)
            return cvae__error(CVAE_ERR_INVALID_ARG,
                               "%s: metadata key '%s' is reserved (cvae writes it itself)", FN,
                               keys[i]);
    }
    return CVAE_OK;
}

static cJSON *int_item(int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return cJSON_CreateRaw(buf);
}

static bool add_int(cJSON *array, int64_t v)
{
    cJSON *item = int_item(v);
    if (!item) return false;
    if (!cJSON_AddItemToArray(array, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

/* The header JSON with the crc32 value CVAE__ST_CRC_ZEROS; NULL when cJSON runs out of
 * memory. Free with cJSON_free. */
static char *header_json(const cvae_st_entry *e, int n, const int64_t *bytes,
                         const char *const *keys, const char *const *vals, int n_meta)
{
    char *text = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = root ? cJSON_AddObjectToObject(root, CVAE__ST_META) : NULL;
    if (!meta || !cJSON_AddStringToObject(meta, CVAE__ST_KEY_VERSION, CVAE_ST_FORMAT_VERSION) ||
        !cJSON_AddStringToObject(meta, CVAE__ST_KEY_CRC, CVAE__ST_CRC_ZEROS))
        goto done;
    for (int i = 0; i < n_meta; i++)
        if (!cJSON_AddStringToObject(meta, keys[i], vals[i])) goto done;
    int64_t offset = 0;
    for (int i = 0; i < n; i++) {
        cJSON *t = cJSON_AddObjectToObject(root, e[i].name);
        cJSON *shape = t && cJSON_AddStringToObject(t, "dtype", "F32")
                           ? cJSON_AddArrayToObject(t, "shape")
                           : NULL;
        if (!shape) goto done;
        for (int d = 0; d < e[i].ndim; d++)
            if (!add_int(shape, e[i].shape[d])) goto done;
        cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
        if (!offs || !add_int(offs, offset) || !add_int(offs, offset + bytes[i])) goto done;
        offset += bytes[i];
    }
    text = cJSON_PrintUnformatted(root);
done:
    cJSON_Delete(root);
    return text;
}

cvae_status cvae_safetensors_save(const char *path, const cvae_st_entry *entries, int n,
                                  const char *const *meta_keys, const char *const *meta_values,
                                  int n_meta)
{
    CVAE_CHECK_NULL(path, FN);
    if (!cvae__host_le())
        return cvae__error(CVAE_ERR_UNSUPPORTED, "%s: big-endian hosts are not supported", FN);
    if (path[0] == '\0') return cvae__error(CVAE_ERR_INVALID_ARG, "%s: empty path", FN);
    if (n < 0 || n_meta < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: n = %d and n_meta = %d must be >= 0", FN, n,
                           n_meta);
    if (n > 0) CVAE_CHECK_NULL(entries, FN);
    if (n_meta > 0) {
        CVAE_CHECK_NULL(meta_keys, FN);
        CVAE_CHECK_NULL(meta_values, FN);
    }
    CVAE_TRY(check_meta(meta_keys, meta_values, n_meta));
    const char *dup;
    CVAE_TRY(cvae__find_duplicate(meta_keys, (size_t)n_meta, &dup, FN));
    if (dup) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: duplicate metadata key '%s'", FN, dup);

    cvae_status s = CVAE_OK;
    int64_t *bytes = NULL, total;
    const char **names = NULL;
    char *json = NULL;
    unsigned char *header = NULL;
    if (n > 0) {
        bytes = cvae__calloc((size_t)n, sizeof *bytes);
        names = cvae__calloc((size_t)n, sizeof *names);
        if (!bytes || !names) {
            s = cvae__nomem(FN, (size_t)n * (sizeof *bytes + sizeof *names));
            goto done;
        }
    }
    if ((s = check_entries(entries, n, bytes, &total))) goto done;
    for (int i = 0; i < n; i++) names[i] = entries[i].name;
    if ((s = cvae__find_duplicate(names, (size_t)n, &dup, FN))) goto done;
    if (dup) {
        s = cvae__error(CVAE_ERR_INVALID_ARG, "%s: duplicate tensor name '%s'", FN, dup);
        goto done;
    }

    json = header_json(entries, n, bytes, meta_keys, meta_values, n_meta);
    if (!json) {
        s = cvae__error(CVAE_ERR_NOMEM, "%s: out of memory building the JSON header", FN);
        goto done;
    }
    size_t len = strlen(json), padded = (len + 7) / 8 * 8;
    if (padded > CVAE__ST_MAX_HEADER) {
        s = cvae__error(CVAE_ERR_INVALID_ARG, "%s: header of %zu bytes exceeds the limit of %u", FN,
                        padded, CVAE__ST_MAX_HEADER);
        goto done;
    }
    header = cvae__malloc(8 + padded);
    if (!header) {
        s = cvae__nomem(FN, 8 + padded);
        goto done;
    }
    for (int b = 0; b < 8; b++) header[b] = (unsigned char)((uint64_t)padded >> (8 * b));
    memcpy(header + 8, json, len);
    memset(header + 8 + len, ' ', padded - len);
    /* format 2: the CRC of the whole file with the crc32 digits as zeros, then the digits */
    int64_t at = cvae__st_crc_digits((const char *)header + 8, padded);
    if (at < 0) { /* cJSON escapes every quote inside strings: only the crc32 entry has it */
        s = cvae__error(CVAE_ERR_INVALID_ARG, "%s: cannot place the crc32 value in the header", FN);
        goto done;
    }
    uint32_t crc = cvae__crc32(0, header, 8 + padded);
    for (int i = 0; i < n; i++) crc = cvae__crc32(crc, entries[i].data, (size_t)bytes[i]);
    char hex[9];
    snprintf(hex, sizeof hex, "%08" PRIx32, crc);
    memcpy(header + 8 + at, hex, 8);

    cvae__atomic_file af;
    if ((s = cvae__atomic_begin(&af, path, FN))) goto done;
    s = cvae__atomic_write(&af, header, 8 + padded);
    for (int i = 0; i < n && !s; i++)
        s = cvae__atomic_write(&af, entries[i].data, (size_t)bytes[i]);
    if (s)
        cvae__atomic_abort(&af);
    else
        s = cvae__atomic_commit(&af);
done:
    cJSON_free(json);
    cvae__free(header);
    cvae__free(names);
    cvae__free(bytes);
    return s;
}

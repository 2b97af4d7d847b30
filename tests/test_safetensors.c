/* safetensors files: bit-exact round trips, an independent Python reader,
 * truncation, corruption and hand-crafted bad headers, atomic saves, and no
 * leak on any allocation failure. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "failalloc.h"
#include "testutil.h"

/* ---- helpers ---- */

static char tmpdir[256];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cvae-st-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            chmod(p, 0700);
            remove_tree(p);
        } else {
            remove(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

static int teardown_dir(void **state)
{
    (void)state;
    remove_tree(tmpdir);
    return 0;
}

static const char *tmp_path(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

/* Number of leftover temporary files (".tmp-") in dir. */
static int count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) n++;
    closedir(d);
    return n;
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    assert_int_equal(fread(b, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return b;
}

static void write_all(const char *path, const void *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* The header length in the first 8 bytes of a file (little-endian). */
static uint64_t header_len(const unsigned char *b)
{
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | b[k];
    return hlen;
}

/* Format 2's checksum, computed independently: zlib's CRC-32 of the whole file b[0..n) with
 * the 8 digits after the header's (only) "crc32":" read as '0'. */
static unsigned long whole_file_crc(const unsigned char *b, size_t n)
{
    static const char mark[] = "\"crc32\":\"";
    const uint64_t hlen = header_len(b);
    char *hdr = malloc((size_t)hlen + 1);
    memcpy(hdr, b + 8, (size_t)hlen);
    hdr[hlen] = '\0';
    const char *at = strstr(hdr, mark);
    assert_non_null(at);
    assert_null(strstr(at + 1, mark));
    size_t d = 8 + (size_t)(at - hdr) + strlen(mark);
    free(hdr);
    unsigned char *z = malloc(n);
    memcpy(z, b, n);
    memset(z + d, '0', 8);
    unsigned long crc = crc32(0, z, (uInt)n);
    free(z);
    return crc;
}

/* A set of random tensors of ranks 1..5 plus one empty tensor. */
#define N_T 7
typedef struct tensor_set {
    cvae_st_entry e[N_T];
    float *data[N_T];
    char names[N_T][32];
} tensor_set;

static void make_set(tensor_set *ts, test_rng *r)
{
    static const char *base[N_T] = {
        "enc.conv1.weight", "enc.conv1.bias", "dec.fc.w", "table", "x5", "empty", "caf\xc3\xa9.w"};
    for (int i = 0; i < N_T; i++) {
        snprintf(ts->names[i], sizeof ts->names[i], "%s", base[i]);
        cvae_st_entry *e = &ts->e[i];
        e->name = ts->names[i];
        e->ndim = i < 5 ? i + 1 : 2;
        int64_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            e->shape[d] = test_rand_int(r, 1, i < 3 ? 6 : 3);
            numel *= e->shape[d];
        }
        if (i == 5) e->shape[0] = 0, numel = 0;
        ts->data[i] = numel ? malloc((size_t)numel * sizeof(float)) : NULL;
        for (int64_t k = 0; k < numel; k++) {
            uint32_t bits = test_rand_u32(r); /* any bit pattern: NaNs, denormals, -0 */
            memcpy(&ts->data[i][k], &bits, 4);
        }
        e->data = ts->data[i];
    }
}

static void free_set(tensor_set *ts)
{
    for (int i = 0; i < N_T; i++) free(ts->data[i]);
}

static int64_t numel_of(const cvae_st_entry *e)
{
    int64_t n = 1;
    for (int d = 0; d < e->ndim; d++) n *= e->shape[d];
    return n;
}

static void check_set(const cvae_st_file *f, const tensor_set *ts)
{
    assert_int_equal(cvae_st_count(f), N_T);
    for (int i = 0; i < N_T; i++) {
        const cvae_st_entry *e = &ts->e[i];
        assert_string_equal(cvae_st_name(f, i), e->name);
        int ndim = -1;
        int64_t shape[CVAE_MAX_DIMS];
        const float *data = (const float *)1;
        CVAE_OK_OR_FAIL(cvae_st_find(f, e->name, &ndim, shape, &data));
        assert_int_equal(ndim, e->ndim);
        for (int d = 0; d < CVAE_MAX_DIMS; d++)
            assert_int_equal(shape[d], d < ndim ? e->shape[d] : 1);
        int64_t n = numel_of(e);
        if (n == 0) {
            assert_null(data);
        } else {
            assert_true((uintptr_t)data % sizeof(float) == 0);
            assert_memory_equal(data, e->data, (size_t)n * 4);
        }
    }
}

static const char *mkeys[3] = {"epoch", "note", "label"};
static const char *mvals[3] = {"12", "quotes \" backslash \\ newline \n tab \t",
                               "\xc3\xa9t\xc3\xa9"};

/* ---- tests ---- */

static void test_roundtrip_bit_exact(void **state)
{
    (void)state;
    test_rng r = {11};
    for (int trial = 0; trial < 5; trial++) {
        tensor_set ts;
        make_set(&ts, &r);
        const char *path = tmp_path("rt.safetensors");
        CVAE_OK_OR_FAIL(cvae_safetensors_save(path, ts.e, N_T, mkeys, mvals, 3));
        cvae_st_file *f = NULL;
        CVAE_OK_OR_FAIL(cvae_safetensors_open(path, &f));
        check_set(f, &ts);
        for (int k = 0; k < 3; k++) assert_string_equal(cvae_st_meta(f, mkeys[k]), mvals[k]);
        assert_string_equal(cvae_st_meta(f, "format_version"), CVAE_ST_FORMAT_VERSION);
        assert_int_equal(cvae_st_meta_count(f), 5);
        assert_null(cvae_st_meta(f, "absent"));
        assert_null(cvae_st_meta_key(f, 5));

        /* layout: header padded to 8, crc32 = zlib's over the whole file with its own
         * digits as zeros (format 2), lowercase hex */
        size_t n;
        unsigned char *b = read_all(path, &n);
        const uint64_t hlen = header_len(b);
        assert_int_equal((8 + hlen) % 8, 0);
        assert_int_equal(b[8], '{');
        assert_string_equal(CVAE_ST_FORMAT_VERSION, "2");
        char want[9];
        snprintf(want, sizeof want, "%08lx", whole_file_crc(b, n));
        assert_string_equal(cvae_st_meta(f, "crc32"), want);

        /* the same bytes through the memory entry point */
        cvae_st_file *g = NULL;
        CVAE_OK_OR_FAIL(cvae_safetensors_open_memory(b, n, &g));
        free(b);
        check_set(g, &ts);
        cvae_safetensors_close(g);
        cvae_safetensors_close(f);
        free_set(&ts);
    }
    /* no tensors and no metadata is a valid file too */
    CVAE_OK_OR_FAIL(cvae_safetensors_save(tmp_path("empty.st"), NULL, 0, NULL, NULL, 0));
    cvae_st_file *f;
    CVAE_OK_OR_FAIL(cvae_safetensors_open(tmp_path("empty.st"), &f));
    assert_int_equal(cvae_st_count(f), 0);
    cvae_safetensors_close(f);
    assert_int_equal(count_tmp(tmpdir), 0);
}

static cvae_params *make_params(test_rng *r, int which)
{
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    int64_t s1[4] = {4, 1, 3, 3}, s2[1] = {4}, s3[2] = {5, 7};
    cvae_tensor *t;
    CVAE_OK_OR_FAIL(cvae_params_add(p, "conv.w", 4, s1, 1, &t));
    CVAE_OK_OR_FAIL(cvae_params_add(p, "conv.b", 1, s2, 1, &t));
    if (which != 1) {
        if (which == 2) s3[1] = 8; /* a shape mismatch */
        CVAE_OK_OR_FAIL(cvae_params_add(p, "frozen.table", 2, s3, 0, &t));
    }
    if (which == 3) CVAE_OK_OR_FAIL(cvae_params_add(p, "extra", 1, s2, 1, &t));
    if (r) test_fill(r, cvae_params_data(p), cvae_params_numel(p), -2, 2, 0.01f);
    return p;
}

static void test_params_roundtrip(void **state)
{
    (void)state;
    test_rng r = {12};
    cvae_params *src = make_params(&r, 0), *dst = make_params(NULL, 0);
    const char *path = tmp_path("params.safetensors");
    const char *k[1] = {"model"}, *v[1] = {"cvae-test"};
    CVAE_OK_OR_FAIL(cvae_safetensors_save_params(path, src, k, v, 1));
    cvae_st_file *f;
    CVAE_OK_OR_FAIL(cvae_safetensors_open(path, &f));
    assert_string_equal(cvae_st_meta(f, "model"), "cvae-test");
    cvae_load_report rep;
    CVAE_OK_OR_FAIL(cvae_safetensors_load_params(f, dst, CVAE_LOAD_STRICT, &rep));
    assert_memory_equal(cvae_params_data(dst), cvae_params_data(src),
                        (size_t)cvae_params_numel(src) * 4);
    assert_int_equal(rep.loaded, 3);
    assert_int_equal(rep.missing + rep.unexpected, 0);

    /* a subset of the file: strict fails naming the unexpected tensor; non-strict loads it
     * and counts what it ignored, as PyTorch's strict=False */
    cvae_params *sub = make_params(NULL, 1);
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_safetensors_load_params(f, sub, CVAE_LOAD_STRICT, NULL));
    assert_non_null(strstr(cvae_last_error(), "frozen.table"));
    CVAE_OK_OR_FAIL(cvae_safetensors_load_params(f, sub, CVAE_LOAD_NONSTRICT, &rep));
    assert_memory_equal(cvae_params_data(sub), cvae_params_data(src), 40 * 4);
    assert_int_equal(rep.loaded, 2);
    assert_int_equal(rep.unexpected, 1);
    assert_string_equal(rep.first_unexpected, "frozen.table");

    /* mismatched shape: an error in both modes, block untouched */
    cvae_params *bad = make_params(NULL, 2), *more = make_params(NULL, 3);
    float before = 1234.5f;
    cvae_params_data(bad)[0] = before;
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_safetensors_load_params(f, bad, CVAE_LOAD_NONSTRICT, NULL));
    assert_true(cvae_params_data(bad)[0] == before);
    /* a parameter the file lacks: strict fails untouched; non-strict keeps its value */
    cvae_params_data(more)[0] = before;
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_safetensors_load_params(f, more, CVAE_LOAD_STRICT, NULL));
    assert_true(cvae_params_data(more)[0] == before);
    assert_non_null(strstr(cvae_last_error(), "extra"));
    const int64_t extra_at = cvae_params_offset(more, 3);
    cvae_params_data(more)[extra_at] = before;
    CVAE_OK_OR_FAIL(cvae_safetensors_load_params(f, more, CVAE_LOAD_NONSTRICT, &rep));
    assert_true(cvae_params_data(more)[extra_at] == before);
    assert_memory_equal(cvae_params_data(more), cvae_params_data(src),
                        (size_t)cvae_params_numel(src) * 4);
    assert_int_equal(rep.missing, 1);
    assert_string_equal(rep.first_missing, "extra");
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_load_params(NULL, dst, 0, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_load_params(f, NULL, 0, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_load_params(f, dst, 7, NULL));

    cvae_safetensors_close(f);
    cvae_params_free(src), cvae_params_free(dst), cvae_params_free(sub);
    cvae_params_free(bad), cvae_params_free(more);
}

/* A small valid file's bytes. */
static unsigned char *small_file(size_t *n)
{
    float a[6] = {1, -2, 3.5f, 4, 5, 6}, b[2] = {0.25f, -0.5f};
    cvae_st_entry e[2] = {{"a", 2, {2, 3}, a}, {"b", 1, {2}, b}};
    const char *k[1] = {"k"}, *v[1] = {"v"};
    CVAE_OK_OR_FAIL(cvae_safetensors_save(tmp_path("small.st"), e, 2, k, v, 1));
    return read_all(tmp_path("small.st"), n);
}

static void test_every_truncation_fails(void **state)
{
    (void)state;
    size_t n;
    unsigned char *full = small_file(&n);
    for (size_t len = 0; len < n; len++) {
        unsigned char *b = malloc(len ? len : 1); /* exact size: overreads show under valgrind */
        memcpy(b, full, len);
        cvae_st_file *f = (cvae_st_file *)0x1;
        CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_safetensors_open_memory(b, len, &f));
        assert_ptr_equal(f, (cvae_st_file *)0x1);
        if (len % 17 == 0 || len == n - 1) {
            write_all(tmp_path("trunc.st"), b, len);
            CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_safetensors_open(tmp_path("trunc.st"), &f));
            assert_non_null(strstr(cvae_last_error(), "trunc.st"));
        }
        free(b);
    }
    /* one trailing byte too many fails as well */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, full, n);
    longer[n] = 0;
    cvae_st_file *f;
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_safetensors_open_memory(longer, n + 1, &f));
    CVAE_OK_OR_FAIL(cvae_safetensors_open_memory(full, n, &f));
    cvae_safetensors_close(f);
    free(longer);
    free(full);
}

static void test_flipped_data_byte_fails_crc(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = small_file(&n);
    const uint64_t hlen = header_len(b);
    for (size_t i = 8 + hlen; i < n; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            b[i] ^= (unsigned char)(1u << bit);
            cvae_st_file *f = NULL;
            CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_safetensors_open_memory(b, n, &f));
            assert_non_null(strstr(cvae_last_error(), "checksum"));
            assert_null(f);
            b[i] ^= (unsigned char)(1u << bit);
        }
    }
    free(b);
}

/* Every byte of the header (length included) flipped in turn: the file never opens; a
 * changed metadata value or a format_version turned into "1" fails the checksum. */
static void test_flipped_header_byte_fails(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = small_file(&n);
    const uint64_t hlen = header_len(b);
    int checksum = 0;
    for (size_t i = 0; i < 8 + hlen; i++) {
        b[i] ^= 1;
        cvae_st_file *f = (cvae_st_file *)0x1;
        cvae_clear_error();
        cvae_status s = cvae_safetensors_open_memory(b, n, &f);
        if (s != CVAE_ERR_FORMAT && s != CVAE_ERR_UNSUPPORTED)
            fail_msg("byte %zu flipped: %s (%s)", i, cvae_status_str(s), cvae_last_error());
        assert_ptr_equal(f, (cvae_st_file *)0x1);
        checksum += strstr(cvae_last_error(), "checksum") != NULL;
        b[i] ^= 1;
    }
    print_message("%zu header bytes flipped: all rejected, %d by the checksum\n",
                  (size_t)(8 + hlen), checksum);
    static const char *const edits[][2] = {
        {"\"k\":\"v\"", "\"k\":\"w\""}, {"\"format_version\":\"2\"", "\"format_version\":\"1\""}};
    for (size_t e = 0; e < 2; e++) {
        unsigned char *at = NULL;
        for (size_t i = 8; i + strlen(edits[e][0]) <= 8 + hlen && !at; i++)
            if (memcmp(b + i, edits[e][0], strlen(edits[e][0])) == 0) at = b + i;
        assert_non_null(at);
        memcpy(at, edits[e][1], strlen(edits[e][1]));
        cvae_st_file *f;
        CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_safetensors_open_memory(b, n, &f));
        assert_non_null(strstr(cvae_last_error(), "checksum"));
        memcpy(at, edits[e][0], strlen(edits[e][0]));
    }
    free(b);
}

/* Format 2 finds the crc32 digits by the bytes "crc32":" in the header: a tensor named crc32
 * and metadata holding those bytes (escaped in JSON) do not mislead it. */
static void test_crc_mark_lookalikes(void **state)
{
    (void)state;
    float a[2] = {1.0f, 2.0f};
    cvae_st_entry e[1] = {{"crc32", 1, {2}, a}};
    const char *k[2] = {"\"crc32\":\"", "note"}, *v[2] = {"x", "\"crc32\":\"00000000\""};
    CVAE_OK_OR_FAIL(cvae_safetensors_save(tmp_path("mark.st"), e, 1, k, v, 2));
    size_t n;
    unsigned char *b = read_all(tmp_path("mark.st"), &n);
    char want[9];
    snprintf(want, sizeof want, "%08lx", whole_file_crc(b, n));
    cvae_st_file *f;
    CVAE_OK_OR_FAIL(cvae_safetensors_open_memory(b, n, &f));
    assert_string_equal(cvae_st_meta(f, "crc32"), want);
    assert_string_equal(cvae_st_meta(f, "note"), v[1]);
    assert_string_equal(cvae_st_meta(f, k[0]), "x");
    CVAE_OK_OR_FAIL(cvae_st_find(f, "crc32", NULL, NULL, NULL));
    cvae_safetensors_close(f);
    free(b);
}

/* 8-byte length + header (with "%s" replaced by the CRC) + data. Format 1 (`whole` == 0): the
 * data's CRC; format 2: that of the whole file with "%s" read as 00000000. */
static unsigned char *craft(const char *fmt, const void *data, size_t dsize, int whole, size_t *n)
{
    char crc[16], hdr[2048];
    snprintf(crc, sizeof crc, "%08lx", dsize ? crc32(0, data, (uInt)dsize) : 0ul);
    if (whole) strcpy(crc, "00000000");
    snprintf(hdr, sizeof hdr, fmt, crc);
    size_t h = strlen(hdr);
    unsigned char *b = malloc(8 + h + dsize);
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)((uint64_t)h >> (8 * k));
    memcpy(b + 8, hdr, h);
    if (dsize) memcpy(b + 8 + h, data, dsize);
    *n = 8 + h + dsize;
    if (whole) {
        const char *at = strstr(hdr, "00000000");
        snprintf(crc, sizeof crc, "%08lx", crc32(0, b, (uInt)*n));
        memcpy(b + 8 + (at - hdr), crc, 8);
    }
    return b;
}

typedef struct bad_case {
    const char *header;
    size_t dsize;
    cvae_status want;
} bad_case;

/* Opens each case crafted with format 2's checksum (whole != 0) or format 1's and checks the
 * status; on failure *out untouched and a message. */
static void run_cases(const bad_case *cases, size_t n_cases, int whole)
{
    const float data[4] = {1.5f, -2.5f, 3.0f, 0.125f};
    for (size_t c = 0; c < n_cases; c++) {
        size_t n;
        unsigned char *b = craft(cases[c].header, data, cases[c].dsize, whole, &n);
        cvae_st_file *f = (cvae_st_file *)0x1;
        cvae_clear_error();
        cvae_status s = cvae_safetensors_open_memory(b, n, &f);
        if (s != cases[c].want)
            fail_msg("case %zu (%s, format %d checksum): got %s (%s), wanted %s", c,
                     cases[c].header, whole ? 2 : 1, cvae_status_str(s), cvae_last_error(),
                     cvae_status_str(cases[c].want));
        if (s == CVAE_OK) {
            if (whole) assert_string_equal(cvae_st_meta(f, "format_version"), "2");
            cvae_safetensors_close(f);
        } else {
            assert_ptr_equal(f, (cvae_st_file *)0x1);
            assert_true(cvae_last_error()[0] != '\0');
        }
        free(b);
    }
}

#define META "\"__metadata__\": {\"crc32\": \"%s\"}"
#define T(name, shape, offs)                                                                       \
    "\"" name "\": {\"dtype\": \"F32\", \"shape\": " shape ", \"data_offsets\": " offs "}"
#define A1 T("a", "[1]", "[0, 4]")
#define META2 "\"__metadata__\":{\"format_version\":\"2\",\"crc32\":\"%s\"}"

static void test_bad_headers(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        /* the baseline of the helper is valid */
        {"{" META ", " T("a", "[2]", "[0, 8]") "}", 8, CVAE_OK},
        {"{" T("a", "[2]", "[0, 8]") ", " META "}   ", 8, CVAE_OK},
        {"{" META ", " T("a", "[2]", "[0, 8]") ", " T("z", "[0, 4]", "[8, 8]") "}", 8, CVAE_OK},
        /* not JSON / not an object / not UTF-8 */
        {"{" META ", \"a\": {\"dtype\": \"F32\", ", 8, CVAE_ERR_FORMAT},
        {"[1, 2]", 0, CVAE_ERR_FORMAT},
        {" {" META "}", 0, CVAE_ERR_FORMAT},
        {"{" META "} x", 0, CVAE_ERR_FORMAT},
        {"{" META ", \"\xff\": 1}", 0, CVAE_ERR_FORMAT},
        {"{" META ", \"a\x01\": 1}", 0, CVAE_ERR_FORMAT},
        {"{" META ", \"a\": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}", 0, CVAE_ERR_FORMAT},
        /* entries */
        {"{" META ", \"a\": 5}", 0, CVAE_ERR_FORMAT},
        {"{" META ", \"a\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8, CVAE_ERR_FORMAT},
        {"{" META ", \"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 8]}}", 8, CVAE_ERR_FORMAT},
        {"{" META ", \"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, CVAE_ERR_FORMAT},
        {"{" META ", \"a\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [0, 8]}}", 8,
         CVAE_ERR_UNSUPPORTED},
        {"{" META ", \"a\": {\"dtype\": \"Q9\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
         CVAE_ERR_FORMAT},
        {"{" META ", \"a\": {\"dtype\": 32, \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
         CVAE_ERR_FORMAT},
        {"{" META ", \"a\": {\"dtype\": \"F32\", \"dtype\": \"F32\", \"shape\": [2], "
         "\"data_offsets\": [0, 8]}}",
         8, CVAE_ERR_FORMAT},
        {"{" META ", \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8], "
         "\"extra\": 1}}",
         8, CVAE_ERR_FORMAT},
        {"{" META ", " T("", "[2]", "[0, 8]") "}", 8, CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[2]", "[0, 8]") ", " T("a", "[1]", "[8, 12]") "}", 12,
         CVAE_ERR_FORMAT},
        /* shapes */
        {"{" META ", " T("a", "[]", "[0, 4]") "}", 4, CVAE_ERR_UNSUPPORTED},
        {"{" META ", " T("a", "[1, 1, 1, 1, 1, 1]", "[0, 4]") "}", 4, CVAE_ERR_UNSUPPORTED},
        {"{" META ", " T("a", "[-1]", "[0, 4]") "}", 4, CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[1.5]", "[0, 4]") "}", 4, CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "\"2\"", "[0, 8]") "}", 8, CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[1e300]", "[0, 4]") "}", 4, CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[9007199254740992, 9007199254740992]", "[0, 4]") "}", 4,
         CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[2305843009213693952, 2, 4]", "[0, 4]") "}", 4, CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[4611686018427387904]", "[0, 0]") "}", 0, CVAE_ERR_FORMAT},
        /* offsets */
        {"{" META ", " T("a", "[2]", "[-8, 0]") "}", 8, CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[2]", "[8, 0]") "}", 8, CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[2]", "[0, 16]") "}", 8, CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[2]", "[0, 4]") "}", 8, CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[2]", "[0]") "}", 8, CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[2]", "[0, 8, 8]") "}", 8, CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[2]", "[0, 8]") ", " T("b", "[2]", "[4, 12]") "}", 12,
         CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[1]", "[0, 4]") ", " T("b", "[1]", "[8, 12]") "}", 12,
         CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[1]", "[4, 8]") "}", 8, CVAE_ERR_FORMAT},
        {"{" META ", " T("a", "[1]", "[0, 4]") "}", 8, CVAE_ERR_FORMAT},
        {"{" META "}", 4, CVAE_ERR_FORMAT},
        /* metadata */
        {"{\"__metadata__\": {\"crc32\": \"%s\", \"n\": 5}, " T("a", "[1]", "[0, 4]") "}", 4,
         CVAE_ERR_FORMAT},
        {"{\"__metadata__\": [\"%s\"], " T("a", "[1]", "[0, 4]") "}", 4, CVAE_ERR_FORMAT},
        {"{\"__metadata__\": {\"crc32\": \"%s\", \"k\": \"1\", \"k\": \"2\"}}", 0, CVAE_ERR_FORMAT},
        {"{" META ", " META "}", 0, CVAE_ERR_FORMAT},
        {"{\"__metadata__\": {\"note\": \"%s\"}, " T("a", "[1]", "[0, 4]") "}", 4, CVAE_ERR_FORMAT},
        {"{" T("a", "[1]", "[0, 4]") "}%s", 4, CVAE_ERR_FORMAT},
        {"{\"__metadata__\": {\"crc32\": \"x%s\"}, " T("a", "[1]", "[0, 4]") "}", 4,
         CVAE_ERR_FORMAT},
        {"{\"__metadata__\": {\"crc32\": \"%s\", \"format_version\": \"3\"}}", 0,
         CVAE_ERR_UNSUPPORTED},
        /* format 1 given explicitly: the data section's CRC */
        {"{\"__metadata__\": {\"format_version\": \"1\", \"crc32\": \"%s\"}, " A1 "}", 4, CVAE_OK},
        /* format 2 with the data section's CRC (a file of format 1 relabelled) */
        {"{" META2 ", " A1 "}", 4, CVAE_ERR_FORMAT},
    };
    run_cases(cases, sizeof cases / sizeof cases[0], 0);
    /* format 2 by an independent writer: the crc32 value must be written "crc32":"<digits>"
     * once (it locates the digits) */
    static const bad_case v2[] = {
        {"{" META2 ", " A1 "}", 4, CVAE_OK},
        {"{" A1 ", \"__metadata__\":{\"crc32\":\"%s\",\"format_version\":\"2\"}}   ", 4, CVAE_OK},
        {"{\"__metadata__\":{\"format_version\":\"2\",\"crc32\": \"%s\"}, " A1 "}", 4,
         CVAE_ERR_FORMAT},
        {"{\"__metadata__\":{\"format_version\":\"2\",\"crc\\u0033\\u0032\":\"%s\"}, " A1 "}", 4,
         CVAE_ERR_FORMAT},
    };
    run_cases(v2, sizeof v2 / sizeof v2[0], 1);
    const float data[4] = {1.5f, -2.5f, 3.0f, 0.125f};

    /* header lengths that cannot be right */
    size_t n;
    unsigned char *b = craft("{" META "}", data, 0, 0, &n);
    static const uint64_t lens[] = {(uint64_t)1 << 40, 100000001, 0, 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (int k = 0; k < 8; k++) b[k] = (unsigned char)(lens[i] >> (8 * k));
        cvae_st_file *f;
        CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_safetensors_open_memory(b, n, &f));
    }
    uint64_t over = n - 8 + 1;
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)(over >> (8 * k));
    cvae_st_file *f;
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_safetensors_open_memory(b, n, &f));
    /* a NUL byte inside the header */
    uint64_t h = n - 8;
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)(h >> (8 * k));
    b[n - 2] = '\0';
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_safetensors_open_memory(b, n, &f));
    free(b);
}

/* A file of format 1 (crc32 over the data section; written by cvae before format 2, kept in
 * the fuzz corpus) still opens. */
static void test_format_1_file_opens(void **state)
{
    (void)state;
    cvae_st_file *f;
    CVAE_OK_OR_FAIL(cvae_safetensors_open(CVAE_FUZZ_CORPUS_DIR "/safetensors/v1_four_meta", &f));
    assert_string_equal(cvae_st_meta(f, "format_version"), "1");
    assert_string_equal(cvae_st_meta(f, "note"), "seed corpus \xc3\xa9");
    assert_int_equal(cvae_st_count(f), 4);
    const float *w;
    int64_t shape[CVAE_MAX_DIMS];
    CVAE_OK_OR_FAIL(cvae_st_find(f, "w", NULL, shape, &w));
    assert_int_equal(shape[0], 2);
    assert_int_equal(shape[1], 3);
    for (int i = 0; i < 6; i++) assert_true(w[i] == (float)i - 2.5f); /* as gen_corpus.c wrote it */
    cvae_safetensors_close(f);
}

static void test_save_rejects_bad_arguments(void **state)
{
    (void)state;
    float x[4] = {1, 2, 3, 4};
    cvae_st_entry ok = {"x", 1, {4}, x};
    const char *path = tmp_path("never.st");
    const char *rk[2] = {"crc32", "format_version"}, *rv[2] = {"00000000", "1"};
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_save(path, &ok, 1, rk, rv, 1));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_save(path, &ok, 1, rk + 1, rv + 1, 1));
    const char *dk[2] = {"a", "a"}, *dv[2] = {"1", "2"};
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_save(path, &ok, 1, dk, dv, 2));
    const char *nk[1] = {NULL}, *bk[1] = {"\xc3("};
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_save(path, &ok, 1, nk, dv, 1));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_save(path, &ok, 1, bk, dv, 1));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_save(path, &ok, 1, NULL, NULL, 1));

    cvae_st_entry bad[] = {
        {NULL, 1, {4}, x},
        {"", 1, {4}, x},
        {"__metadata__", 1, {4}, x},
        {"x", 0, {4}, x},
        {"x", 6, {1}, x},
        {"x", 1, {-1}, x},
        {"x", 1, {4}, NULL},
        {"x", 2, {INT64_MAX, 2}, x},
        {"x", 2, {(int64_t)1 << 40, (int64_t)1 << 20}, x},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                        cvae_safetensors_save(path, &bad[i], 1, NULL, NULL, 0));
    cvae_st_entry two[2] = {ok, ok};
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_save(path, two, 2, NULL, NULL, 0));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_save(NULL, &ok, 1, NULL, NULL, 0));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_save("", &ok, 1, NULL, NULL, 0));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_save(path, NULL, 1, NULL, NULL, 0));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_save(path, &ok, -1, NULL, NULL, 0));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_save_params(path, NULL, NULL, NULL, 0));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(count_tmp(tmpdir), 0);
}

static void expect_old_file(const char *path, const tensor_set *ts)
{
    cvae_st_file *f;
    CVAE_OK_OR_FAIL(cvae_safetensors_open(path, &f));
    check_set(f, ts);
    cvae_safetensors_close(f);
}

static void test_atomic_save_keeps_old_file(void **state)
{
    (void)state;
    test_rng r = {13};
    tensor_set ts;
    make_set(&ts, &r);
    char sub[300], path[400];
    snprintf(sub, sizeof sub, "%s/sub", tmpdir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", sub);
    CVAE_OK_OR_FAIL(cvae_safetensors_save(path, ts.e, N_T, NULL, NULL, 0));

    float *big = calloc(1 << 18, sizeof(float));
    cvae_st_entry e = {"big", 1, {1 << 18}, big};

    /* writing fails midway (file size limit): IO error, old file intact, no temp left */
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 65536;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cvae_status s = cvae_safetensors_save(path, &e, 1, NULL, NULL, 0);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    assert_int_equal(s, CVAE_ERR_IO);
    assert_non_null(strstr(cvae_last_error(), path));
    expect_old_file(path, &ts);
    assert_int_equal(count_tmp(sub), 0);

    /* the target is a directory */
    CVAE_EXPECT_ERR(CVAE_ERR_IO, cvae_safetensors_save(sub, &e, 1, NULL, NULL, 0));
    assert_int_equal(count_tmp(tmpdir), 0);
    /* the directory does not exist */
    char missing[450];
    snprintf(missing, sizeof missing, "%s/nope/x.st", sub);
    CVAE_EXPECT_ERR(CVAE_ERR_IO, cvae_safetensors_save(missing, &e, 1, NULL, NULL, 0));

    /* the directory is not writable (root ignores permissions: then not testable) */
    assert_int_equal(chmod(sub, 0500), 0);
    if (geteuid() != 0) {
        CVAE_EXPECT_ERR(CVAE_ERR_IO, cvae_safetensors_save(path, &e, 1, NULL, NULL, 0));
        assert_non_null(strstr(cvae_last_error(), path));
        expect_old_file(path, &ts);
    } else {
        print_message("[  NOTE    ] running as root: read-only directory case not testable\n");
    }
    assert_int_equal(chmod(sub, 0700), 0);
    assert_int_equal(count_tmp(sub), 0);

    /* and a successful save does replace it */
    CVAE_OK_OR_FAIL(cvae_safetensors_save(path, &e, 1, NULL, NULL, 0));
    cvae_st_file *f;
    CVAE_OK_OR_FAIL(cvae_safetensors_open(path, &f));
    assert_int_equal(cvae_st_count(f), 1);
    cvae_safetensors_close(f);
    free(big);
    free_set(&ts);
}

static void test_reader_api_errors(void **state)
{
    (void)state;
    cvae_st_file *f = (cvae_st_file *)0x1;
    CVAE_EXPECT_ERR(CVAE_ERR_IO, cvae_safetensors_open(tmp_path("does-not-exist"), &f));
    assert_non_null(strstr(cvae_last_error(), "does-not-exist"));
    CVAE_EXPECT_ERR(CVAE_ERR_IO, cvae_safetensors_open(tmpdir, &f));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_open(NULL, &f));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_open(tmpdir, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_safetensors_open_memory(NULL, 8, &f));
    assert_ptr_equal(f, (cvae_st_file *)0x1);

    size_t n;
    unsigned char *b = small_file(&n);
    CVAE_OK_OR_FAIL(cvae_safetensors_open_memory(b, n, &f));
    free(b);
    int ndim = 7;
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_st_find(f, "missing", &ndim, NULL, NULL));
    assert_int_equal(ndim, 7);
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_st_find(f, NULL, NULL, NULL, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_st_find(NULL, "a", NULL, NULL, NULL));
    CVAE_OK_OR_FAIL(cvae_st_find(f, "b", NULL, NULL, NULL));
    assert_null(cvae_st_name(f, -1));
    assert_null(cvae_st_name(f, 2));
    assert_null(cvae_st_name(NULL, 0));
    assert_int_equal(cvae_st_count(NULL), 0);
    assert_null(cvae_st_meta(f, NULL));
    assert_string_equal(cvae_st_meta(f, "k"), "v");
    cvae_safetensors_close(f);
    cvae_safetensors_close(NULL);
}

/* ---- allocation failures: every one gives NOMEM and leaks nothing ---- */

/* Fails unless the armed allocation k of n was reached, gave NOMEM and leaked nothing. */
static void expect_nomem(cvae_status s, long k, long n, const char *what)
{
    if (!failalloc_fired()) fail_msg("%s: allocation %ld of %ld never happened", what, k, n);
    if (s != CVAE_ERR_NOMEM)
        fail_msg("%s: failing allocation %ld of %ld: %s: %s", what, k, n, cvae_status_str(s),
                 cvae_last_error());
    assert_int_equal(failalloc_live(), 0);
}

static void test_allocation_failures_do_not_leak(void **state)
{
    (void)state;
    test_rng r = {14};
    tensor_set ts;
    make_set(&ts, &r);
    const char *path = tmp_path("nomem.st");
    failalloc_arm(0);
    CVAE_OK_OR_FAIL(cvae_safetensors_save(path, ts.e, N_T, mkeys, mvals, 3));
    long n = failalloc_calls();
    assert_int_equal(failalloc_live(), 0);
    size_t len;
    unsigned char *b = read_all(path, &len);
    write_all(path, "old", 3);
    for (long k = 1; k <= n; k++) { /* the old file stays, no temporary file is left */
        failalloc_arm(k);
        expect_nomem(cvae_safetensors_save(path, ts.e, N_T, mkeys, mvals, 3), k, n, "save");
        assert_int_equal(count_tmp(tmpdir), 0);
        size_t old_len;
        unsigned char *old = read_all(path, &old_len);
        assert_int_equal(old_len, 3);
        assert_memory_equal(old, "old", 3);
        free(old);
    }
    write_all(path, b, len);

    cvae_st_file *f = NULL;
    failalloc_arm(0);
    CVAE_OK_OR_FAIL(cvae_safetensors_open(path, &f));
    n = failalloc_calls();
    cvae_safetensors_close(f);
    assert_int_equal(failalloc_live(), 0);
    for (long k = 1; k <= n; k++) {
        failalloc_arm(k);
        expect_nomem(cvae_safetensors_open(path, &f), k, n, "open");
    }

    failalloc_arm(0);
    CVAE_OK_OR_FAIL(cvae_safetensors_open_memory(b, len, &f));
    n = failalloc_calls();
    check_set(f, &ts);
    cvae_safetensors_close(f);
    assert_int_equal(failalloc_live(), 0);
    for (long k = 1; k <= n; k++) {
        failalloc_arm(k);
        expect_nomem(cvae_safetensors_open_memory(b, len, &f), k, n, "open_memory");
    }
    free(b);
    free_set(&ts);
}

/* ---- an independent reader (tests/tools/read_safetensors.py) ---- */

static void test_python_reader_agrees(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0) {
        print_message("[  SKIPPED ] /usr/bin/python3 not found: independent reader not run\n");
        skip();
    }
    test_rng r = {15};
    tensor_set ts;
    make_set(&ts, &r);
    for (int i = 0; i < N_T; i++) /* finite values so the sums compare as text */
        test_fill(&r, ts.data[i], numel_of(&ts.e[i]), -3, 3, 0.0f);
    const char *path = tmp_path("py.safetensors");
    const char *k[2] = {"epoch", "label"}, *v[2] = {"12", "\xc3\xa9t\xc3\xa9"};
    CVAE_OK_OR_FAIL(cvae_safetensors_save(path, ts.e, N_T, k, v, 2));

    char want[4096] = "", line[512];
    for (int i = 0; i < N_T; i++) {
        const cvae_st_entry *e = &ts.e[i];
        char shape[128] = "";
        for (int d = 0; d < e->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape),
                     d ? ",%" PRId64 : "%" PRId64, e->shape[d]);
        double sum = 0.0;
        int64_t n = numel_of(e);
        for (int64_t j = 0; j < n; j++) sum += (double)e->data[j];
        unsigned long crc = n ? crc32(0, (const Bytef *)e->data, (uInt)(n * 4)) : 0ul;
        snprintf(line, sizeof line, "tensor %s %s sum=%.17g crc=%08lx\n", e->name, shape, sum, crc);
        strcat(want, line);
    }
    strcat(want, "meta epoch=12\nmeta label=\xc3\xa9t\xc3\xa9\nok\n");

    char cmd[1024], got[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/read_safetensors.py' '%s'", CVAE_TEST_TOOLS_DIR,
             path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t len = fread(got, 1, sizeof got - 1, p);
    got[len] = '\0';
    int rc = pclose(p);
    if (rc != 0) fail_msg("read_safetensors.py exited with %d; output:\n%s", rc, got);
    assert_string_equal(got, want);

    /* it reads format 1 too */
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s/read_safetensors.py' '%s/safetensors/v1_four_meta'",
             CVAE_TEST_TOOLS_DIR, CVAE_FUZZ_CORPUS_DIR);
    p = popen(cmd, "r");
    assert_non_null(p);
    len = fread(got, 1, sizeof got - 1, p);
    got[len] = '\0';
    rc = pclose(p);
    if (rc != 0) fail_msg("read_safetensors.py on a format-1 file exited with %d:\n%s", rc, got);
    assert_non_null(strstr(got, "meta cvae.kind=model\nok\n"));

    /* and it rejects a corrupted file, a data byte or a metadata byte, so the check can fail */
    size_t n;
    unsigned char *b = read_all(path, &n);
    b[n] = '\0'; /* read_all leaves room for it */
    unsigned char *at[2] = {b + n - 1,
                            (unsigned char *)strstr((char *)b + 8, "\"epoch\":\"12\"") + 10};
    for (int flip = 0; flip < 2; flip++) {
        *at[flip] ^= 1;
        write_all(path, b, n);
        *at[flip] ^= 1;
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/read_safetensors.py' '%s' 2>/dev/null",
                 CVAE_TEST_TOOLS_DIR, path);
        p = popen(cmd, "r");
        while (fread(got, 1, sizeof got, p) > 0) {
        }
        assert_int_not_equal(pclose(p), 0);
    }
    free(b);
    free_set(&ts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_bit_exact),
        cmocka_unit_test(test_params_roundtrip),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_flipped_data_byte_fails_crc),
        cmocka_unit_test(test_flipped_header_byte_fails),
        cmocka_unit_test(test_crc_mark_lookalikes),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_format_1_file_opens),
        cmocka_unit_test(test_save_rejects_bad_arguments),
        cmocka_unit_test(test_atomic_save_keeps_old_file),
        cmocka_unit_test(test_reader_api_errors),
        cmocka_unit_test_setup_teardown(test_allocation_failures_do_not_leak, failalloc_setup,
                                        failalloc_teardown),
        cmocka_unit_test(test_python_reader_agrees),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}

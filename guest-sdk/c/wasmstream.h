/* wasmstream.h: the C SDK for wasmstream operators, header-only.
 *
 * An operator is one C file that includes this header and names its
 * functions with the kind's macro:
 *
 *     #include "wasmstream.h"
 *
 *     static const char *split(const ws_record *record, ws_out *out) {
 *         ws_words words = ws_words_of(record->value);
 *         ws_bytes word;
 *         while (ws_next_word(&words, &word))
 *             ws_emit_like(out, record, ws_key_of(record), word);
 *         return words.error;
 *     }
 *
 *     WASMSTREAM_FLAT_MAP(ws_no_params, split)
 *
 * The header turns the contract's columns (wit/operator.wit, `batch`)
 * into one record at a time and packs what the operator emits back into
 * columns, so that an operator never sees the layout. Every function an
 * operator writes returns NULL when it went well, or an error message
 * (`ws_error("...", ...)` formats one): the host reports it with the
 * stage and the record it was given.
 *
 * `wasmstream build` compiles the operator with clang for WASI, against
 * bindings wit-bindgen generates for the kind's world, and passes:
 *     -DWS_WORLD=flat_map_operator -DWS_KIND=WS_FLAT_MAP
 *     -DWS_WORLD_HEADER='"flat_map_operator.h"'
 * The same file builds natively with gcc for the conformance kit
 * (guest-sdk/c/Makefile, `make check`).
 *
 * Memory: what the host hands in is freed once the call is done; what an
 * operator emits is copied into the output, so an operator may emit bytes
 * from its own buffers. Allocation failure aborts the instance (its batch
 * fails), as in the other SDKs.
 */
#ifndef WASMSTREAM_H
#define WASMSTREAM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WS_MAP 1
#define WS_FILTER 2
#define WS_FLAT_MAP 3
#define WS_REDUCE 4
#define WS_UPDATE_STATE 5
#define WS_COGROUP 6
#define WS_KEYED_PROCESS 7

#ifndef WS_WORLD_HEADER
#error "build with `wasmstream build`, which defines WS_WORLD, WS_KIND and WS_WORLD_HEADER for the stage's kind"
#endif
#include WS_WORLD_HEADER

#define WS_CAT_(a, b) a##b
#define WS_CAT(a, b) WS_CAT_(a, b)
/* A type of the world's bindings, e.g. WS_T(_string_t). */
#define WS_T(suffix) WS_CAT(WS_WORLD, suffix)

#include "wasmstream_unicode.h"

/* ---- bytes ------------------------------------------------------------ */

/* Bytes borrowed from a batch or a buffer: not NUL-terminated. */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} ws_bytes;

static inline ws_bytes ws_str(const char *text) {
    return (ws_bytes){(const uint8_t *)text, strlen(text)};
}

static inline bool ws_equals(ws_bytes bytes, const char *text) {
    size_t n = strlen(text);
    return bytes.len == n && (n == 0 || memcmp(bytes.ptr, text, n) == 0);
}

/* A growable buffer of bytes the SDK owns. */
typedef struct {
    uint8_t *ptr;
    size_t len, cap;
} ws_buf;

static inline void *ws_grow_(void *ptr, size_t *cap, size_t need, size_t size) {
    if (need <= *cap)
        return ptr;
    size_t cap2 = *cap ? *cap * 2 : 64;
    while (cap2 < need)
        cap2 *= 2;
    void *grown = realloc(ptr, cap2 * size);
    if (!grown)
        abort();
    *cap = cap2;
    return grown;
}

static inline void ws_buf_append(ws_buf *buf, ws_bytes bytes) {
    buf->ptr = (uint8_t *)ws_grow_(buf->ptr, &buf->cap, buf->len + bytes.len, 1);
    if (bytes.len)
        memcpy(buf->ptr + buf->len, bytes.ptr, bytes.len);
    buf->len += bytes.len;
}

static inline ws_bytes ws_buf_bytes(const ws_buf *buf) {
    return (ws_bytes){buf->ptr, buf->len};
}

/* A growable array of T, each a `{T *ptr; size_t len, cap;}`. */
#define WS_PUSH(list, item)                                                            \
    do {                                                                               \
        (list).ptr = ws_grow_((list).ptr, &(list).cap, (list).len + 1, sizeof *(list).ptr); \
        (list).ptr[(list).len++] = (item);                                             \
    } while (0)

typedef struct { uint32_t *ptr; size_t len, cap; } ws_u32s;
typedef struct { int64_t *ptr; size_t len, cap; } ws_i64s;
typedef struct { bool *ptr; size_t len, cap; } ws_bools;

/* ---- errors ----------------------------------------------------------- */

/* A formatted error message, returned by an operator's function: the
 * host shows it with the stage and the record. Valid until the next
 * ws_error. */
static inline const char *ws_error(const char *format, ...) {
    static char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    return message;
}

/* Bytes quoted for a message, as Rust's `{:?}` shows text: about 400
 * characters at most, the rest marked `...`. Valid until the next
 * ws_quote. */
static inline const char *ws_quote(ws_bytes bytes) {
    static char quoted[512];
    size_t at = 0;
    quoted[at++] = '"';
    size_t i = 0;
    for (; i < bytes.len && at < 400; i++) {
        uint8_t b = bytes.ptr[i];
        if (b == '"' || b == '\\') {
            quoted[at++] = '\\';
            quoted[at++] = (char)b;
        } else if (b < 0x20 || b == 0x7f) {
            at += (size_t)snprintf(quoted + at, 8, "\\u{%x}", b);
        } else {
            quoted[at++] = (char)b;
        }
    }
    if (i < bytes.len)
        at += (size_t)snprintf(quoted + at, 8, "...");
    quoted[at++] = '"';
    quoted[at] = 0;
    return quoted;
}

/* ---- params ----------------------------------------------------------- */

/* The stage's `params` from the manifest, handed to the init function. */
typedef struct {
    size_t count;
    char **names, **values; /* NUL-terminated copies */
} ws_params;

/* The value of param `name`, or NULL if it was not given. */
static inline const char *ws_param(const ws_params *params, const char *name) {
    const char *found = NULL;
    for (size_t i = 0; i < params->count; i++)
        if (strcmp(params->names[i], name) == 0)
            found = params->values[i];
    return found;
}

/* Param `name` into *value, or the error naming it if it was not given. */
static inline const char *ws_param_required(const ws_params *params, const char *name,
                                            const char **value) {
    *value = ws_param(params, name);
    return *value ? NULL : ws_error("param `%s` is required", name);
}

/* The error naming a param not in `known` (a NULL-terminated list), so a
 * misspelt name is caught at start-up rather than ignored. */
static inline const char *ws_params_only(const ws_params *params, const char *const *known) {
    for (size_t i = 0; i < params->count; i++) {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok = ok || strcmp(*k, params->names[i]) == 0;
        if (ok)
            continue;
        if (!known[0])
            return ws_error("unknown param `%s`; this operator takes none", params->names[i]);
        char list[512] = "";
        for (const char *const *k = known; *k; k++) {
            if (k != known)
                strncat(list, ", ", sizeof list - strlen(list) - 1);
            strncat(list, *k, sizeof list - strlen(list) - 1);
        }
        return ws_error("unknown param `%s`; expected one of: %s", params->names[i], list);
    }
    return NULL;
}

/* The init function of an operator that takes no params. */
static inline const char *ws_no_params(const ws_params *params) {
    static const char *const none[] = {NULL};
    return ws_params_only(params, none);
}

/* ---- records ---------------------------------------------------------- */

/* One record of the batch an operator is given. */
typedef struct {
    bool has_key;
    ws_bytes key, value;
    int64_t timestamp;
    /* Its headers: names and values [header_start, header_end) of the
     * batch's header columns; see ws_header. */
    const wasmstream_operator_types_batch_t *batch_;
    size_t header_start, header_end;
} ws_record;

/* The record's key, or NULL when it has none: what ws_emit takes. */
static inline const ws_bytes *ws_key_of(const ws_record *record) {
    return record->has_key ? &record->key : NULL;
}

static inline ws_bytes ws_item_(const wasmstream_operator_types_byte_list_t *list, size_t i) {
    size_t start = i ? list->ends.ptr[i - 1] : 0;
    return (ws_bytes){list->data.ptr + start, list->ends.ptr[i] - start};
}

static inline size_t ws_header_count(const ws_record *record) {
    return record->header_end - record->header_start;
}

/* Header `i` of the record (0 <= i < ws_header_count). */
static inline void ws_header(const ws_record *record, size_t i, ws_bytes *name, ws_bytes *value) {
    *name = ws_item_(&record->batch_->header_names, record->header_start + i);
    *value = ws_item_(&record->batch_->header_values, record->header_start + i);
}

/* The records a call emits, packed into the contract's columns. */
typedef struct {
    size_t count;
    ws_buf keys, values, header_names, header_values;
    ws_u32s key_ends, value_ends, header_owners, name_ends, header_value_ends;
    ws_bools has_key;
    ws_i64s timestamps;
} ws_out;

/* Emits a record without headers; `key` NULL for none. */
static inline void ws_emit(ws_out *out, const ws_bytes *key, ws_bytes value, int64_t timestamp) {
    WS_PUSH(out->has_key, key != NULL);
    if (key)
        ws_buf_append(&out->keys, *key);
    WS_PUSH(out->key_ends, (uint32_t)out->keys.len);
    ws_buf_append(&out->values, value);
    WS_PUSH(out->value_ends, (uint32_t)out->values.len);
    WS_PUSH(out->timestamps, timestamp);
    out->count++;
}

/* Adds a header to the record emitted last. */
static inline void ws_emit_header(ws_out *out, ws_bytes name, ws_bytes value) {
    WS_PUSH(out->header_owners, (uint32_t)(out->count - 1));
    ws_buf_append(&out->header_names, name);
    WS_PUSH(out->name_ends, (uint32_t)out->header_names.len);
    ws_buf_append(&out->header_values, value);
    WS_PUSH(out->header_value_ends, (uint32_t)out->header_values.len);
}

/* Emits a record with `like`'s timestamp and headers, and this key
 * (NULL for none) and value. */
static inline void ws_emit_like(ws_out *out, const ws_record *like, const ws_bytes *key,
                                ws_bytes value) {
    ws_emit(out, key, value, like->timestamp);
    for (size_t h = 0; h < ws_header_count(like); h++) {
        ws_bytes name, header;
        ws_header(like, h, &name, &header);
        ws_emit_header(out, name, header);
    }
}

/* ---- text ------------------------------------------------------------- */

/* The first invalid byte of `bytes` as UTF-8, or -1 if it is UTF-8. */
static inline long ws_utf8_error_at(ws_bytes bytes) {
    const uint8_t *s = bytes.ptr;
    size_t i = 0, n = bytes.len;
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t min;
        if (b >= 0xc2 && b <= 0xdf) {
            len = 2;
            min = 0x80;
        } else if (b >= 0xe0 && b <= 0xef) {
            len = 3;
            min = 0x800;
        } else if (b >= 0xf0 && b <= 0xf4) {
            len = 4;
            min = 0x10000;
        } else {
            return (long)i;
        }
        if (i + len > n)
            return (long)i;
        uint32_t c = b & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return (long)i;
            c = (c << 6) | (s[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return (long)i;
        i += len;
    }
    return -1;
}

/* The error for bytes that are not UTF-8, or NULL. */
static inline const char *ws_check_utf8(ws_bytes bytes) {
    long at = ws_utf8_error_at(bytes);
    return at < 0 ? NULL : ws_error("not UTF-8: invalid utf-8 sequence at byte %ld", at);
}

/* Whether code point `c` is a letter or digit, as Rust's
 * `char::is_alphanumeric`. */
static inline bool ws_is_alphanumeric(uint32_t c) {
    if (c < 0x80)
        return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    size_t lo = 0, hi = sizeof WS_ALPHANUMERIC / sizeof WS_ALPHANUMERIC[0] / 2;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < WS_ALPHANUMERIC[2 * mid])
            hi = mid;
        else if (c > WS_ALPHANUMERIC[2 * mid + 1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* The words of a text, one at a time: runs of letters, digits, `'` and
 * `_`, as the Rust SDK's `text::words`. `error` is set (and no word
 * given) when the text is not UTF-8. */
typedef struct {
    ws_bytes text;
    size_t at;
    const char *error;
} ws_words;

static inline ws_words ws_words_of(ws_bytes text) {
    return (ws_words){text, 0, ws_check_utf8(text)};
}

/* The code point at `*at` of valid UTF-8, moving past it. */
static inline uint32_t ws_decode_(const uint8_t *s, size_t *at) {
    uint8_t b = s[*at];
    if (b < 0x80) {
        (*at)++;
        return b;
    }
    size_t len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    uint32_t c = b & (0x7f >> len);
    for (size_t k = 1; k < len; k++)
        c = (c << 6) | (s[*at + k] & 0x3f);
    *at += len;
    return c;
}

static inline bool ws_next_word(ws_words *words, ws_bytes *word) {
    if (words->error)
        return false;
    const uint8_t *s = words->text.ptr;
    size_t n = words->text.len, start = 0;
    bool in_word = false;
    while (words->at < n) {
        size_t here = words->at;
        uint32_t c = ws_decode_(s, &words->at);
        bool part = c == '\'' || c == '_' || ws_is_alphanumeric(c);
        if (part && !in_word) {
            in_word = true;
            start = here;
        } else if (!part && in_word) {
            *word = (ws_bytes){s + start, here - start};
            return true;
        }
    }
    if (in_word)
        *word = (ws_bytes){s + start, n - start};
    return in_word;
}

/* Decimal integer text (an optional sign, ASCII digits, ASCII spaces
 * around) into *value, or the error quoting it, as the Rust SDK's
 * `text::parse_i64`. */
static inline const char *ws_parse_i64(ws_bytes text, int64_t *value) {
    size_t a = 0, b = text.len;
    while (a < b && (text.ptr[a] == ' ' || (text.ptr[a] >= '\t' && text.ptr[a] <= '\r')))
        a++;
    while (b > a && (text.ptr[b - 1] == ' ' || (text.ptr[b - 1] >= '\t' && text.ptr[b - 1] <= '\r')))
        b--;
    bool negative = a < b && text.ptr[a] == '-';
    if (a < b && (text.ptr[a] == '-' || text.ptr[a] == '+'))
        a++;
    bool ok = a < b && b - a <= 19;
    uint64_t magnitude = 0;
    for (size_t i = a; ok && i < b; i++) {
        uint8_t digit = (uint8_t)(text.ptr[i] - '0');
        ok = digit <= 9;
        magnitude = magnitude * 10 + digit;
    }
    ok = ok && magnitude <= (uint64_t)INT64_MAX + (negative ? 1 : 0);
    if (!ok)
        return ws_error("%s is not an integer", ws_quote(text));
    *value = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
    return NULL;
}

/* Appends `value` as decimal text. */
static inline void ws_buf_i64(ws_buf *buf, int64_t value) {
    uint8_t text[20];
    size_t at = sizeof text;
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    do {
        text[--at] = (uint8_t)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0)
        ws_buf_append(buf, ws_str("-"));
    ws_buf_append(buf, (ws_bytes){text + at, sizeof text - at});
}

/* ---- JSON ------------------------------------------------------------- */

/* What ws_json_field finds: `found`, and the field's text in `text`
 * (strings unescaped; numbers, true, false and null as written; objects
 * and arrays empty). */
typedef struct {
    bool found;
    ws_buf text;
} ws_json_text;

typedef struct {
    const uint8_t *s;
    size_t at, n;
    const char *error;
    int depth;
} ws_json_;

static inline void ws_json_space_(ws_json_ *j) {
    while (j->at < j->n && (j->s[j->at] == ' ' || j->s[j->at] == '\t' || j->s[j->at] == '\n' ||
                            j->s[j->at] == '\r'))
        j->at++;
}

static inline bool ws_json_fail_(ws_json_ *j, const char *what) {
    if (!j->error)
        j->error = ws_error("value is not a JSON object: %s at byte %zu", what, j->at);
    return false;
}

static inline int ws_json_hex_(ws_json_ *j) {
    uint32_t c = 0;
    for (int k = 0; k < 4; k++) {
        if (j->at >= j->n)
            return -1;
        uint8_t h = j->s[j->at++];
        uint32_t d = h >= '0' && h <= '9'   ? (uint32_t)(h - '0')
                     : (h | 0x20) >= 'a' && (h | 0x20) <= 'f' ? (uint32_t)((h | 0x20) - 'a' + 10)
                                                               : 16;
        if (d == 16)
            return -1;
        c = c * 16 + d;
    }
    return (int)c;
}

static inline void ws_utf8_push_(ws_buf *out, uint32_t c) {
    uint8_t b[4];
    size_t n;
    if (c < 0x80) {
        b[0] = (uint8_t)c;
        n = 1;
    } else if (c < 0x800) {
        b[0] = (uint8_t)(0xc0 | c >> 6);
        b[1] = (uint8_t)(0x80 | (c & 0x3f));
        n = 2;
    } else if (c < 0x10000) {
        b[0] = (uint8_t)(0xe0 | c >> 12);
        b[1] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
        b[2] = (uint8_t)(0x80 | (c & 0x3f));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xf0 | c >> 18);
        b[1] = (uint8_t)(0x80 | (c >> 12 & 0x3f));
        b[2] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
        b[3] = (uint8_t)(0x80 | (c & 0x3f));
        n = 4;
    }
    ws_buf_append(out, (ws_bytes){b, n});
}

/* A string at `at` (its opening quote), unescaped into `out` if given. */
static inline bool ws_json_string_(ws_json_ *j, ws_buf *out) {
    j->at++;
    while (j->at < j->n) {
        uint8_t b = j->s[j->at];
        if (b == '"') {
            j->at++;
            return true;
        }
        if (b < 0x20)
            return ws_json_fail_(j, "control character in a string");
        if (b != '\\') {
            size_t run = j->at;
            while (j->at < j->n && j->s[j->at] != '"' && j->s[j->at] != '\\' && j->s[j->at] >= 0x20)
                j->at++;
            if (out)
                ws_buf_append(out, (ws_bytes){j->s + run, j->at - run});
            continue;
        }
        j->at++;
        if (j->at >= j->n)
            break;
        uint8_t e = j->s[j->at++];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char unescaped[] = "\"\\/\b\f\n\r\t";
            uint8_t c = (uint8_t)unescaped[simple - "\"\\/bfnrt"];
            if (out)
                ws_buf_append(out, (ws_bytes){&c, 1});
        } else if (e == 'u') {
            int c = ws_json_hex_(j);
            if (c < 0)
                return ws_json_fail_(j, "bad \\u escape");
            uint32_t code = (uint32_t)c;
            if (code >= 0xd800 && code <= 0xdbff) {
                int low = j->at + 1 < j->n && j->s[j->at] == '\\' && j->s[j->at + 1] == 'u'
                              ? (j->at += 2, ws_json_hex_(j))
                              : -1;
                if (low < 0xdc00 || low > 0xdfff)
                    return ws_json_fail_(j, "lone surrogate in a \\u escape");
                code = 0x10000 + ((code - 0xd800) << 10) + ((uint32_t)low - 0xdc00);
            } else if (code >= 0xdc00 && code <= 0xdfff) {
                return ws_json_fail_(j, "lone surrogate in a \\u escape");
            }
            if (out)
                ws_utf8_push_(out, code);
        } else {
            return ws_json_fail_(j, "bad escape");
        }
    }
    return ws_json_fail_(j, "unterminated string");
}

static inline bool ws_json_value_(ws_json_ *j, const char *path, ws_json_text *found);

/* An object at `at`; `path` (NULL when nothing is looked for inside)
 * the rest of the path to find in it. */
static inline bool ws_json_object_(ws_json_ *j, const char *path, ws_json_text *found) {
    if (++j->depth > 128)
        return ws_json_fail_(j, "nested too deep");
    j->at++;
    ws_json_space_(j);
    if (j->at < j->n && j->s[j->at] == '}') {
        j->at++;
        j->depth--;
        return true;
    }
    ws_buf name = {0};
    for (;;) {
        ws_json_space_(j);
        if (j->at >= j->n || j->s[j->at] != '"')
            return free(name.ptr), ws_json_fail_(j, "expected a field name");
        name.len = 0;
        if (!ws_json_string_(j, path ? &name : NULL))
            return free(name.ptr), false;
        ws_json_space_(j);
        if (j->at >= j->n || j->s[j->at] != ':')
            return free(name.ptr), ws_json_fail_(j, "expected `:`");
        j->at++;
        ws_json_space_(j);
        /* This field is the one looked for, or holds it. */
        size_t rest = strlen(path ? path : "");
        bool whole = path && name.len == rest && memcmp(name.ptr, path, rest) == 0;
        bool prefix = path && !whole && name.len < rest && path[name.len] == '.' &&
                      memcmp(name.ptr, path, name.len) == 0;
        /* A later object of that name replaces the earlier one, whatever
         * it holds. */
        if (prefix)
            found->found = false;
        bool holds = prefix && j->at < j->n && j->s[j->at] == '{';
        if (whole) {
            found->found = true;
            found->text.len = 0;
            size_t start = j->at;
            uint8_t first = j->at < j->n ? j->s[j->at] : 0;
            if (first == '"') {
                if (!ws_json_string_(j, &found->text))
                    return free(name.ptr), false;
            } else {
                if (!ws_json_value_(j, NULL, NULL))
                    return free(name.ptr), false;
                if (first != '{' && first != '[')
                    ws_buf_append(&found->text, (ws_bytes){j->s + start, j->at - start});
            }
        } else if (!ws_json_value_(j, holds ? path + name.len + 1 : NULL, found)) {
            return free(name.ptr), false;
        }
        ws_json_space_(j);
        if (j->at < j->n && j->s[j->at] == ',') {
            j->at++;
            continue;
        }
        if (j->at < j->n && j->s[j->at] == '}') {
            j->at++;
            j->depth--;
            return free(name.ptr), true;
        }
        return free(name.ptr), ws_json_fail_(j, "expected `,` or `}`");
    }
}

static inline bool ws_json_value_(ws_json_ *j, const char *path, ws_json_text *found) {
    ws_json_space_(j);
    if (j->at >= j->n)
        return ws_json_fail_(j, "unexpected end");
    uint8_t b = j->s[j->at];
    if (b == '{')
        return ws_json_object_(j, path, found);
    if (b == '"')
        return ws_json_string_(j, NULL);
    if (b == '[') {
        if (++j->depth > 128)
            return ws_json_fail_(j, "nested too deep");
        j->at++;
        ws_json_space_(j);
        if (j->at < j->n && j->s[j->at] == ']') {
            j->at++;
            j->depth--;
            return true;
        }
        for (;;) {
            if (!ws_json_value_(j, NULL, NULL))
                return false;
            ws_json_space_(j);
            if (j->at < j->n && j->s[j->at] == ',') {
                j->at++;
                continue;
            }
            if (j->at < j->n && j->s[j->at] == ']') {
                j->at++;
                j->depth--;
                return true;
            }
            return ws_json_fail_(j, "expected `,` or `]`");
        }
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int w = 0; w < 3; w++) {
        size_t len = strlen(words[w]);
        if (j->n - j->at >= len && memcmp(j->s + j->at, words[w], len) == 0) {
            j->at += len;
            return true;
        }
    }
    /* A number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    size_t at = j->at;
    if (at < j->n && j->s[at] == '-')
        at++;
    size_t digits = at;
    while (at < j->n && j->s[at] >= '0' && j->s[at] <= '9')
        at++;
    if (at == digits || (j->s[digits] == '0' && at - digits > 1))
        return ws_json_fail_(j, "expected a value");
    if (at < j->n && j->s[at] == '.') {
        size_t fraction = ++at;
        while (at < j->n && j->s[at] >= '0' && j->s[at] <= '9')
            at++;
        if (at == fraction)
            return ws_json_fail_(j, "expected a digit");
    }
    if (at < j->n && (j->s[at] | 0x20) == 'e') {
        at++;
        if (at < j->n && (j->s[at] == '+' || j->s[at] == '-'))
            at++;
        size_t exponent = at;
        while (at < j->n && j->s[at] >= '0' && j->s[at] <= '9')
            at++;
        if (at == exponent)
            return ws_json_fail_(j, "expected a digit");
    }
    j->at = at;
    return true;
}

/* The text of the field at `path` of a JSON object, into *field (its
 * `text` buffer reused across calls; free it with free(field->text.ptr)).
 * `path` names a top-level field ("status") or one inside nested objects
 * with dots ("bid.auction"); when a name appears twice the later one
 * wins, as in the other SDKs; NULL looks for nothing, so only checks the
 * object. Returns the error when `json` is not a JSON object. */
static inline const char *ws_json_field(ws_bytes json, const char *path, ws_json_text *field) {
    field->found = false;
    field->text.len = 0;
    if (ws_utf8_error_at(json) >= 0)
        return ws_error("value is not a JSON object: not UTF-8 at byte %ld", ws_utf8_error_at(json));
    ws_json_ j = {json.ptr, 0, json.len, NULL, 0};
    ws_json_space_(&j);
    if (j.at >= j.n || j.s[j.at] != '{') {
        if (!ws_json_value_(&j, NULL, NULL))
            return j.error;
        return "value is not a JSON object: its top level is not an object";
    }
    if (!ws_json_object_(&j, path, field))
        return j.error;
    ws_json_space_(&j);
    if (j.at != j.n)
        return ws_json_fail_(&j, "trailing characters"), j.error;
    return NULL;
}

/* ---- log -------------------------------------------------------------- */

/* Writes a line to the pipeline's log at `level` (0 trace .. 4 error). */
static inline void ws_log(int level, const char *format, ...) {
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    WS_T(_string_t) text = {(uint8_t *)message, strlen(message)};
    wasmstream_operator_log_log((wasmstream_operator_log_level_t)level, &text);
}

/* ---- the kinds' glue -------------------------------------------------- */

typedef struct {
    ws_bytes key;
    /* The key's state after the previous batch; has_state is false for a
     * key not seen before (or evicted since). */
    bool has_state;
    ws_bytes state;
    /* Its values in this batch, in record order (ws_value(k, i)); none
     * when timing out. */
    size_t value_count;
    /* The key has been idle past the stage's `ttl` and is being evicted:
     * its last chance to emit; its state is deleted whatever comes back. */
    bool timing_out;
    /* When the batch was cut, in ms since the Unix epoch: the only clock. */
    int64_t batch_time;
    const wasmstream_operator_types_byte_list_t *values_;
    size_t first_;
} ws_key_update;

static inline ws_bytes ws_value(const ws_key_update *k, size_t i) {
    return ws_item_(k->values_, k->first_ + i);
}

/* A key's new state: `keep` it with these bytes, or delete it. */
typedef struct {
    bool keep;
    ws_buf bytes;
} ws_new_state;

/* The values of one key for a reduce: `count` of them, ws_reduce_value. */
typedef struct {
    size_t count;
    const wasmstream_operator_types_byte_list_t *values_;
    size_t first_;
} ws_values;

static inline ws_bytes ws_reduce_value(const ws_values *v, size_t i) {
    return ws_item_(v->values_, v->first_ + i);
}

typedef const char *(*ws_init_fn)(const ws_params *);

static inline bool ws_init_(ws_init_fn init, WS_T(_list_tuple2_string_string_t) *given,
                            WS_T(_string_t) *err) {
    ws_params params = {given->len, calloc(given->len + 1, sizeof(char *)),
                        calloc(given->len + 1, sizeof(char *))};
    for (size_t i = 0; i < given->len; i++) {
        params.names[i] = strndup((const char *)given->ptr[i].f0.ptr, given->ptr[i].f0.len);
        params.values[i] = strndup((const char *)given->ptr[i].f1.ptr, given->ptr[i].f1.len);
    }
    const char *error = init(&params);
    for (size_t i = 0; i < given->len; i++) {
        free(params.names[i]);
        free(params.values[i]);
    }
    free(params.names);
    free(params.values);
    WS_T(_list_tuple2_string_string_free)(given);
    if (error)
        WS_T(_string_dup)(err, error);
    return error == NULL;
}

static inline ws_record ws_record_(const wasmstream_operator_types_batch_t *in, size_t i,
                                   size_t *header) {
    ws_record r;
    r.has_key = in->has_key.ptr[i];
    r.key = ws_item_(&in->keys, i);
    r.value = ws_item_(&in->values, i);
    r.timestamp = in->timestamps.ptr[i];
    r.batch_ = in;
    while (*header < in->header_owners.len && in->header_owners.ptr[*header] < i)
        (*header)++;
    r.header_start = *header;
    while (*header < in->header_owners.len && in->header_owners.ptr[*header] == i)
        (*header)++;
    r.header_end = *header;
    return r;
}

static inline void ws_error_(wasmstream_operator_types_operator_error_t *err, size_t record,
                             const char *message) {
    err->record.is_some = true;
    err->record.val = (uint32_t)record;
    WS_T(_string_dup)(&err->message, message);
}

/* Hands the contract a list the SDK built (ownership moves to it). */
#define WS_LIST_(list, from) ((list).ptr = (from).ptr, (list).len = (from).len)

static inline void ws_byte_list_(wasmstream_operator_types_byte_list_t *list, ws_buf *data,
                                 ws_u32s *ends) {
    WS_LIST_(list->data, *data);
    WS_LIST_(list->ends, *ends);
}

static inline void ws_pack_(ws_out *out, wasmstream_operator_types_batch_t *batch) {
    ws_byte_list_(&batch->keys, &out->keys, &out->key_ends);
    WS_LIST_(batch->has_key, out->has_key);
    ws_byte_list_(&batch->values, &out->values, &out->value_ends);
    WS_LIST_(batch->timestamps, out->timestamps);
    WS_LIST_(batch->header_owners, out->header_owners);
    ws_byte_list_(&batch->header_names, &out->header_names, &out->name_ends);
    ws_byte_list_(&batch->header_values, &out->header_values, &out->header_value_ends);
}

static inline void ws_out_free_(ws_out *out) {
    free(out->keys.ptr);
    free(out->values.ptr);
    free(out->header_names.ptr);
    free(out->header_values.ptr);
    free(out->key_ends.ptr);
    free(out->value_ends.ptr);
    free(out->header_owners.ptr);
    free(out->name_ends.ptr);
    free(out->header_value_ends.ptr);
    free(out->has_key.ptr);
    free(out->timestamps.ptr);
}

/* Runs `fn` over each record of `in` (then frees it), packing what it
 * emits into `ret`; on failure names the record. A map must emit exactly
 * one record for each (`one_each`). */
static inline bool ws_run_records_(wasmstream_operator_types_batch_t *in,
                                   wasmstream_operator_types_batch_t *ret,
                                   const char *(*fn)(const ws_record *, ws_out *),
                                   wasmstream_operator_types_operator_error_t *err, bool one_each) {
    ws_out out = {0};
    size_t header = 0;
    const char *error = NULL;
    size_t i = 0;
    for (; !error && i < in->timestamps.len; i++) {
        ws_record r = ws_record_(in, i, &header);
        size_t before = out.count;
        error = fn(&r, &out);
        if (!error && one_each && out.count != before + 1)
            error = ws_error("a map emits one record for each it is given; this one emitted %zu",
                             out.count - before);
    }
    wasmstream_operator_types_batch_free(in);
    if (error) {
        ws_error_(err, i - 1, error);
        ws_out_free_(&out);
        return false;
    }
    ws_pack_(&out, ret);
    return true;
}

/* The `init` export of interface `kind`, calling `init_fn`. */
#define WS_EXPORT_INIT_(kind, init_fn)                                                     \
    bool exports_wasmstream_operator_##kind##_init(WS_T(_list_tuple2_string_string_t) * params, \
                                                   WS_T(_string_t) * err) {               \
        return ws_init_(init_fn, params, err);                                            \
    }

/* A map: `fn(record, out)` emits exactly one record for each. */
#define WASMSTREAM_MAP(init_fn, fn)                                                        \
    WS_EXPORT_INIT_(map, init_fn)                                                          \
    bool exports_wasmstream_operator_map_map(wasmstream_operator_types_batch_t *input,     \
                                             wasmstream_operator_types_batch_t *ret,       \
                                             wasmstream_operator_types_operator_error_t *err) { \
        return ws_run_records_(input, ret, fn, err, true);                                 \
    }

/* A flat-map: `fn(record, out)` emits zero or more records for each. */
#define WASMSTREAM_FLAT_MAP(init_fn, fn)                                                   \
    WS_EXPORT_INIT_(flat_map, init_fn)                                                     \
    bool exports_wasmstream_operator_flat_map_flat_map(                                    \
        wasmstream_operator_types_batch_t *input, wasmstream_operator_types_batch_t *ret,  \
        wasmstream_operator_types_operator_error_t *err) {                                 \
        return ws_run_records_(input, ret, fn, err, false);                                \
    }

static inline bool ws_run_filter_(wasmstream_operator_types_batch_t *in, WS_T(_list_bool_t) * ret,
                                  const char *(*fn)(const ws_record *, bool *),
                                  wasmstream_operator_types_operator_error_t *err) {
    ws_bools keep = {0};
    size_t header = 0;
    for (size_t i = 0; i < in->timestamps.len; i++) {
        ws_record r = ws_record_(in, i, &header);
        bool kept = false;
        const char *error = fn(&r, &kept);
        if (error) {
            ws_error_(err, i, error);
            free(keep.ptr);
            return false;
        }
        WS_PUSH(keep, kept);
    }
    WS_LIST_(*ret, keep);
    return true;
}

/* A filter: `fn(record, &keep)` sets whether to keep each record. */
#define WASMSTREAM_FILTER(init_fn, fn)                                                     \
    WS_EXPORT_INIT_(filter, init_fn)                                                       \
    bool exports_wasmstream_operator_filter_filter(wasmstream_operator_types_batch_t *input, \
                                                   WS_T(_list_bool_t) * ret,               \
                                                   wasmstream_operator_types_operator_error_t *err) { \
        bool ok = ws_run_filter_(input, ret, fn, err);                                     \
        wasmstream_operator_types_batch_free(input);                                       \
        return ok;                                                                         \
    }

static inline bool ws_run_reduce_(wasmstream_operator_types_byte_list_t *keys,
                                  wasmstream_operator_types_byte_list_t *values,
                                  WS_T(_list_u32_t) * group_ends,
                                  wasmstream_operator_types_byte_list_t *ret,
                                  const char *(*fn)(ws_bytes, ws_values *, ws_buf *),
                                  wasmstream_operator_types_operator_error_t *err) {
    ws_buf data = {0}, folded = {0};
    ws_u32s ends = {0};
    size_t first = 0;
    bool ok = true;
    for (size_t g = 0; ok && g < group_ends->len; g++) {
        ws_values v = {group_ends->ptr[g] - first, values, first};
        folded.len = 0;
        const char *error = fn(ws_item_(keys, g), &v, &folded);
        if (error) {
            ws_error_(err, first, error);
            ok = false;
        }
        ws_buf_append(&data, ws_buf_bytes(&folded));
        WS_PUSH(ends, (uint32_t)data.len);
        first = group_ends->ptr[g];
    }
    free(folded.ptr);
    if (ok) {
        ws_byte_list_(ret, &data, &ends);
    } else {
        free(data.ptr);
        free(ends.ptr);
    }
    return ok;
}

/* A reduce: `fn(key, values, folded)` appends the key's values (never
 * none) folded into one to `folded`. It must be associative: the host
 * folds partial results again. */
#define WASMSTREAM_REDUCE(init_fn, fn)                                                     \
    WS_EXPORT_INIT_(reduce, init_fn)                                                       \
    bool exports_wasmstream_operator_reduce_reduce(                                        \
        wasmstream_operator_types_byte_list_t *keys, wasmstream_operator_types_byte_list_t *values, \
        WS_T(_list_u32_t) * group_ends, wasmstream_operator_types_byte_list_t *ret,        \
        wasmstream_operator_types_operator_error_t *err) {                                 \
        bool ok = ws_run_reduce_(keys, values, group_ends, ret, fn, err);                  \
        wasmstream_operator_types_byte_list_free(keys);                                    \
        wasmstream_operator_types_byte_list_free(values);                                  \
        WS_T(_list_u32_free)(group_ends);                                                  \
        return ok;                                                                         \
    }

#if WS_KIND == WS_UPDATE_STATE
typedef exports_wasmstream_operator_update_state_state_input_t ws_state_input_;
typedef exports_wasmstream_operator_update_state_state_output_t ws_state_output_;

static inline bool ws_run_update_(ws_state_input_ *in, ws_state_output_ *ret,
                                  const char *(*fn)(const ws_key_update *, ws_out *, ws_new_state *),
                                  wasmstream_operator_types_operator_error_t *err) {
    ws_out out = {0};
    ws_bools keep = {0};
    ws_buf states = {0};
    ws_u32s ends = {0};
    ws_new_state next = {0};
    size_t first = 0;
    bool ok = true;
    for (size_t g = 0; ok && g < in->group_ends.len; g++) {
        ws_key_update k = {ws_item_(&in->keys, g), in->has_state.ptr[g],
                           ws_item_(&in->states, g), in->group_ends.ptr[g] - first,
                           in->timing_out.ptr[g], in->batch_time, &in->values, first};
        next.keep = false;
        next.bytes.len = 0;
        const char *error = fn(&k, &out, &next);
        if (error) {
            ws_error_(err, first, error);
            ok = false;
        }
        WS_PUSH(keep, next.keep);
        if (next.keep)
            ws_buf_append(&states, ws_buf_bytes(&next.bytes));
        WS_PUSH(ends, (uint32_t)states.len);
        first = in->group_ends.ptr[g];
    }
    free(next.bytes.ptr);
    if (ok) {
        WS_LIST_(ret->keep, keep);
        ws_byte_list_(&ret->states, &states, &ends);
        ws_pack_(&out, &ret->output);
    } else {
        free(keep.ptr);
        free(states.ptr);
        free(ends.ptr);
        ws_out_free_(&out);
    }
    return ok;
}
#endif

/* An update-state: `fn(key, out, next)` may emit records into `out`, and
 * sets `next->keep` with the new state in `next->bytes` (or leaves keep
 * false to delete the key's state). */
#define WASMSTREAM_UPDATE_STATE(init_fn, fn)                                               \
    WS_EXPORT_INIT_(update_state, init_fn)                                                 \
    bool exports_wasmstream_operator_update_state_update(                                  \
        ws_state_input_ *input, ws_state_output_ *ret,                                     \
        wasmstream_operator_types_operator_error_t *err) {                                 \
        bool ok = ws_run_update_(input, ret, fn, err);                                     \
        exports_wasmstream_operator_update_state_state_input_free(input);                  \
        return ok;                                                                         \
    }

/* Beside WASMSTREAM_UPDATE_STATE, in a version that keeps its states in
 * another format than the one it replaces: `fn(from_version, state,
 * migrated)` appends the state in this version's format to `migrated`.
 * The host converts every key's state with it when this version takes
 * over in a running pipeline (the build targets the world that exports
 * `migrate` when a line starts with this macro). */
#define WASMSTREAM_MIGRATE(fn)                                                             \
    bool exports_wasmstream_operator_migrate_migrate_state(                                \
        WS_T(_string_t) * from_version, wasmstream_operator_types_byte_list_t *states,     \
        wasmstream_operator_types_byte_list_t *ret, WS_T(_string_t) * err) {              \
        ws_buf data = {0}, one = {0};                                                      \
        ws_u32s ends = {0};                                                                \
        ws_bytes from = {from_version->ptr, from_version->len};                            \
        const char *error = NULL;                                                          \
        for (size_t i = 0; !error && i < states->ends.len; i++) {                          \
            one.len = 0;                                                                   \
            error = fn(from, ws_item_(states, i), &one);                                   \
            ws_buf_append(&data, ws_buf_bytes(&one));                                      \
            WS_PUSH(ends, (uint32_t)data.len);                                             \
        }                                                                                  \
        free(one.ptr);                                                                     \
        WS_T(_string_free)(from_version);                                                  \
        wasmstream_operator_types_byte_list_free(states);                                  \
        if (error) {                                                                       \
            free(data.ptr);                                                                \
            free(ends.ptr);                                                                \
            WS_T(_string_dup)(err, error);                                                 \
            return false;                                                                  \
        }                                                                                  \
        ws_byte_list_(ret, &data, &ends);                                                  \
        return true;                                                                       \
    }

/* Every record of `batch`, for kinds that hand an operator a key's records
 * at once (free the array; the records point into the batch). */
static inline ws_record *ws_records_(const wasmstream_operator_types_batch_t *batch) {
    ws_record *all = malloc((batch->timestamps.len + 1) * sizeof *all);
    size_t header = 0;
    for (size_t i = 0; i < batch->timestamps.len; i++)
        all[i] = ws_record_(batch, i, &header);
    return all;
}

/* ---- cogroup ---------------------------------------------------------- */

/* One key of a join stage's two sides: its records of each, in order
 * (`left[i]` for i < left_count); one side may be empty, never both. */
typedef struct {
    ws_bytes key;
    const ws_record *left, *right;
    size_t left_count, right_count;
} ws_cogroup;

#if WS_KIND == WS_COGROUP
typedef exports_wasmstream_operator_cogroup_cogroup_input_t ws_cogroup_input_;

static inline bool ws_run_cogroup_(ws_cogroup_input_ *in, wasmstream_operator_types_batch_t *ret,
                                   const char *(*fn)(const ws_cogroup *, ws_out *),
                                   wasmstream_operator_types_operator_error_t *err) {
    ws_record *left = ws_records_(&in->left), *right = ws_records_(&in->right);
    ws_out out = {0};
    size_t l = 0, r = 0, first = 0;
    const char *error = NULL;
    for (size_t g = 0; !error && g < in->left_ends.len; g++) {
        size_t l_end = in->left_ends.ptr[g], r_end = in->right_ends.ptr[g];
        ws_cogroup group = {ws_item_(&in->keys, g), left + l, right + r, l_end - l, r_end - r};
        /* An error names the key's first record: its first left one, else
         * its first right one, numbered after every left record. */
        first = l < l_end ? l : in->left.timestamps.len + r;
        error = fn(&group, &out);
        l = l_end;
        r = r_end;
    }
    free(left);
    free(right);
    if (error) {
        ws_error_(err, first, error);
        ws_out_free_(&out);
        return false;
    }
    ws_pack_(&out, ret);
    return true;
}
#endif

/* A cogroup (a join stage with a component): `fn(group, out)` emits
 * what each key's records make, any number of records. */
#define WASMSTREAM_COGROUP(init_fn, fn)                                                    \
    WS_EXPORT_INIT_(cogroup, init_fn)                                                      \
    bool exports_wasmstream_operator_cogroup_cogroup(                                      \
        ws_cogroup_input_ *input, wasmstream_operator_types_batch_t *ret,                  \
        wasmstream_operator_types_operator_error_t *err) {                                 \
        bool ok = ws_run_cogroup_(input, ret, fn, err);                                    \
        exports_wasmstream_operator_cogroup_cogroup_input_free(input);                     \
        return ok;                                                                         \
    }

/* ---- keyed process ---------------------------------------------------- */

/* One key's turn in a process_by_key batch. */
typedef struct {
    ws_bytes key;
    /* Its state; has_state is false for a key without one. */
    bool has_state;
    ws_bytes state;
    /* Its new records (timestamps and headers too), in order; none behind
     * the watermark. */
    const ws_record *records;
    size_t record_count;
    /* Its timers the watermark reached, event times in ms, earliest
     * first: each fires once. */
    const int64_t *fired;
    size_t fired_count;
    /* The stage's watermark (ms), when it has seen a timestamp: every
     * record still to come is at or after it. */
    bool has_watermark;
    int64_t watermark;
    /* When the batch was cut, in ms since the Unix epoch. */
    int64_t batch_time;
} ws_key_events;

/* A key's pending timers, event times (ms) at which it is called again,
 * with or without records, once the watermark reaches them: `pending`,
 * earliest first. Given the key's timers; what is left after the call
 * replaces them. */
typedef struct {
    ws_i64s pending;
} ws_timers;

/* Sets a timer at `at` (once, however often it is set). */
static inline void ws_timer_set(ws_timers *timers, int64_t at) {
    ws_i64s *p = &timers->pending;
    size_t i = 0;
    while (i < p->len && p->ptr[i] < at)
        i++;
    if (i < p->len && p->ptr[i] == at)
        return;
    WS_PUSH(*p, at);
    memmove(p->ptr + i + 1, p->ptr + i, (p->len - 1 - i) * sizeof *p->ptr);
    p->ptr[i] = at;
}

/* Deletes the timer at `at`, if there is one. */
static inline void ws_timer_delete(ws_timers *timers, int64_t at) {
    ws_i64s *p = &timers->pending;
    size_t kept = 0;
    for (size_t i = 0; i < p->len; i++)
        if (p->ptr[i] != at)
            p->ptr[kept++] = p->ptr[i];
    p->len = kept;
}

/* Deletes every timer. */
static inline void ws_timers_clear(ws_timers *timers) { timers->pending.len = 0; }

#if WS_KIND == WS_KEYED_PROCESS
typedef exports_wasmstream_operator_keyed_process_process_input_t ws_process_input_;
typedef exports_wasmstream_operator_keyed_process_process_output_t ws_process_output_;

static inline bool ws_run_process_(ws_process_input_ *in, ws_process_output_ *ret,
                                   const char *(*fn)(const ws_key_events *, ws_timers *, ws_out *,
                                                     ws_new_state *),
                                   wasmstream_operator_types_operator_error_t *err) {
    ws_record *records = ws_records_(&in->records);
    ws_out out = {0};
    ws_bools keep = {0};
    ws_buf states = {0};
    ws_u32s ends = {0}, timer_ends = {0};
    ws_i64s timers = {0};
    ws_timers pending = {0};
    ws_new_state next = {0};
    size_t r = 0, f = 0, q = 0;
    bool ok = true;
    for (size_t g = 0; ok && g < in->keys.ends.len; g++) {
        size_t r_end = in->record_ends.ptr[g], f_end = in->fired_ends.ptr[g],
               q_end = in->pending_ends.ptr[g];
        ws_key_events k = {ws_item_(&in->keys, g),
                           in->has_state.ptr[g],
                           ws_item_(&in->states, g),
                           records + r,
                           r_end - r,
                           f < f_end ? in->fired.ptr + f : NULL,
                           f_end - f,
                           in->watermark.is_some,
                           in->watermark.is_some ? in->watermark.val : 0,
                           in->batch_time};
        ws_timers_clear(&pending);
        for (size_t t = q; t < q_end; t++)
            ws_timer_set(&pending, in->pending.ptr[t]);
        next.keep = false;
        next.bytes.len = 0;
        const char *error = fn(&k, &pending, &out, &next);
        if (error) {
            ws_error_(err, r, error);
            ok = false;
        }
        WS_PUSH(keep, next.keep);
        if (next.keep)
            ws_buf_append(&states, ws_buf_bytes(&next.bytes));
        WS_PUSH(ends, (uint32_t)states.len);
        for (size_t t = 0; t < pending.pending.len; t++)
            WS_PUSH(timers, pending.pending.ptr[t]);
        WS_PUSH(timer_ends, (uint32_t)timers.len);
        r = r_end;
        f = f_end;
        q = q_end;
    }
    free(records);
    free(pending.pending.ptr);
    free(next.bytes.ptr);
    if (ok) {
        WS_LIST_(ret->keep, keep);
        ws_byte_list_(&ret->states, &states, &ends);
        WS_LIST_(ret->timers, timers);
        WS_LIST_(ret->timer_ends, timer_ends);
        ws_pack_(&out, &ret->output);
    } else {
        free(keep.ptr);
        free(states.ptr);
        free(ends.ptr);
        free(timers.ptr);
        free(timer_ends.ptr);
        ws_out_free_(&out);
    }
    return ok;
}
#endif

/* A keyed process (a process_by_key stage): `fn(key, timers, out, next)`
 * may emit records into `out`, sets or deletes the key's timers in
 * `timers`, and sets `next->keep` with the new state in `next->bytes` (or
 * leaves keep false to delete the key's state). */
#define WASMSTREAM_KEYED_PROCESS(init_fn, fn)                                              \
    WS_EXPORT_INIT_(keyed_process, init_fn)                                                \
    bool exports_wasmstream_operator_keyed_process_process(                                \
        ws_process_input_ *input, ws_process_output_ *ret,                                 \
        wasmstream_operator_types_operator_error_t *err) {                                 \
        bool ok = ws_run_process_(input, ret, fn, err);                                    \
        exports_wasmstream_operator_keyed_process_process_input_free(input);               \
        return ok;                                                                         \
    }

#endif /* WASMSTREAM_H */

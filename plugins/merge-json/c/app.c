/* Cogroup: what a join makes of two streams of JSON objects; the C port
 * of `plugins/merge-json`. Each pair of a key's left and right records
 * becomes one object with the fields of both (the right one's after the
 * left one's), stamped with the later of their times; a key with records
 * on one side only gives those records as they are.
 *
 * Params (optional): `key`, a field of the merged object that becomes the
 * output record's key (dots reach into nested objects); by default the
 * join's key stays.
 */
#include "wasmstream.h"

static char *key_field;
/* Scratch for JSON reads and the merged object, reused from key to key. */
static ws_json_text found;
static ws_buf merged;

static const char *init(const ws_params *params) {
    static const char *const known[] = {"key", NULL};
    const char *error = ws_params_only(params, known);
    if (error)
        return error;
    const char *given = ws_param(params, "key");
    key_field = given ? strdup(given) : NULL;
    return NULL;
}

/* The object's text between its braces, without the spaces around. */
static ws_bytes inner(ws_bytes object) {
    size_t a = 0, b = object.len;
    while (a < b && object.ptr[a] != '{')
        a++;
    while (b > a && object.ptr[b - 1] != '}')
        b--;
    a++, b--;
    while (a < b && strchr(" \t\r\n", object.ptr[a]))
        a++;
    while (b > a && strchr(" \t\r\n", object.ptr[b - 1]))
        b--;
    return (ws_bytes){object.ptr + a, b - a};
}

/* Emits `value` keyed by its `key` field, or by the join's key. */
static const char *emit(ws_out *out, const ws_record *like, ws_bytes join_key, ws_bytes value,
                        int64_t timestamp) {
    ws_bytes key = join_key;
    if (key_field) {
        const char *error = ws_json_field(value, key_field, &found);
        if (error)
            return error;
        if (!found.found)
            return ws_error("the merged object has no field `%s`", key_field);
        key = ws_buf_bytes(&found.text);
    }
    if (like)
        ws_emit_like(out, like, &key, value);
    else
        ws_emit(out, &key, value, timestamp);
    return NULL;
}

static const char *merge_json(const ws_cogroup *group, ws_out *out) {
    const char *error = NULL;
    for (size_t i = 0; !error && i < group->left_count + group->right_count; i++) {
        const ws_record *r = i < group->left_count ? &group->left[i]
                                                   : &group->right[i - group->left_count];
        error = ws_json_field(r->value, NULL, &found);
    }
    if (!group->left_count || !group->right_count) {
        const ws_record *side = group->left_count ? group->left : group->right;
        size_t count = group->left_count + group->right_count;
        for (size_t i = 0; !error && i < count; i++)
            error = emit(out, &side[i], group->key, side[i].value, 0);
        return error;
    }
    for (size_t l = 0; !error && l < group->left_count; l++) {
        for (size_t r = 0; !error && r < group->right_count; r++) {
            ws_bytes a = inner(group->left[l].value), b = inner(group->right[r].value);
            merged.len = 0;
            ws_buf_append(&merged, ws_str("{"));
            ws_buf_append(&merged, a);
            if (a.len && b.len)
                ws_buf_append(&merged, ws_str(","));
            ws_buf_append(&merged, b);
            ws_buf_append(&merged, ws_str("}"));
            int64_t lt = group->left[l].timestamp, rt = group->right[r].timestamp;
            error = emit(out, NULL, group->key, ws_buf_bytes(&merged), lt > rt ? lt : rt);
        }
    }
    return error;
}

WASMSTREAM_COGROUP(init, merge_json)

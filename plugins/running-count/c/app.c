/* Update-state: counts the records of each key across batches (Spark's
 * running word count with `updateStateByKey`); the C port of
 * `plugins/running-count`. Each batch it emits `(key, count so far)` for
 * every key that had records in it. With a stage `ttl`, a key idle that
 * long is forgotten and starts again from zero. Takes no params.
 */
#include "wasmstream.h"

static const char *update(const ws_key_update *key, ws_out *out, ws_new_state *next) {
    if (key->timing_out)
        return NULL;
    int64_t before = 0;
    if (key->has_state) {
        const char *error = ws_parse_i64(key->state, &before);
        if (error)
            return error;
    }
    next->keep = true;
    ws_buf_i64(&next->bytes, before + (int64_t)key->value_count);
    ws_emit(out, &key->key, ws_buf_bytes(&next->bytes), key->batch_time);
    return NULL;
}

WASMSTREAM_UPDATE_STATE(ws_no_params, update)

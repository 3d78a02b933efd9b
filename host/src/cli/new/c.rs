//! C operators: an `app.c` using the C SDK (`wasmstream.h`, put on the
//! include path by the build), built by `wasmstream build`
//! (`build = { lang = "c" }`) into `build/`.

use std::path::Path;

use super::{Kind, manifest};

/// The files of a new C operator `name`.
pub(super) fn files(kind: Kind, name: &str) -> Vec<(String, String)> {
    let component = Path::new("build").join(format!("{}.wasm", name.replace('-', "_")));
    vec![
        ("app.c".into(), source(kind).into()),
        (
            "manifest.toml".into(),
            manifest(kind, name, &component, r#"{ lang = "c", workdir = "." }"#),
        ),
        (".gitignore".into(), "build/\n".into()),
    ]
}

fn source(kind: Kind) -> &'static str {
    match kind {
        Kind::Map => {
            r#"/* A map operator: one record in, one record out. */
#include <ctype.h>

#include "wasmstream.h"

static ws_buf upper;

static const char *map(const ws_record *record, ws_out *out) {
    upper.len = 0;
    ws_buf_append(&upper, record->value);
    for (size_t i = 0; i < upper.len; i++)
        upper.ptr[i] = (uint8_t)toupper(upper.ptr[i]);
    ws_emit_like(out, record, ws_key_of(record), ws_buf_bytes(&upper));
    return NULL;
}

WASMSTREAM_MAP(ws_no_params, map)
"#
        }
        Kind::Filter => {
            r#"/* A filter operator: keeps some records, drops the rest. */
#include "wasmstream.h"

static char *needle = "";

static const char *init(const ws_params *params) {
    static const char *const known[] = {"contains", NULL};
    const char *error = ws_params_only(params, known);
    if (error)
        return error;
    const char *contains = ws_param(params, "contains");
    if (contains)
        needle = strdup(contains);
    return NULL;
}

static const char *filter(const ws_record *record, bool *keep) {
    size_t n = strlen(needle);
    *keep = n == 0;
    for (size_t i = 0; !*keep && i + n <= record->value.len; i++)
        *keep = memcmp(record->value.ptr + i, needle, n) == 0;
    return NULL;
}

WASMSTREAM_FILTER(init, filter)
"#
        }
        Kind::FlatMap => {
            r#"/* A flat-map operator: one record in, zero or more out. */
#include "wasmstream.h"

static const char *flat_map(const ws_record *record, ws_out *out) {
    ws_words words = ws_words_of(record->value);
    ws_bytes word;
    while (ws_next_word(&words, &word))
        ws_emit(out, &word, word, record->timestamp);
    return words.error;
}

WASMSTREAM_FLAT_MAP(ws_no_params, flat_map)
"#
        }
        Kind::Reduce => {
            r#"/* A reduce operator: an associative combine of the values of one key
 * (here: integers, summed). */
#include "wasmstream.h"

static const char *reduce(ws_bytes key, ws_values *values, ws_buf *folded) {
    int64_t sum = 0;
    for (size_t i = 0; i < values->count; i++) {
        int64_t n;
        const char *error = ws_parse_i64(ws_reduce_value(values, i), &n);
        if (error)
            return error;
        sum += n;
    }
    ws_buf_i64(folded, sum);
    return NULL;
}

WASMSTREAM_REDUCE(ws_no_params, reduce)
"#
        }
        Kind::UpdateState => {
            r#"/* An update-state operator: a state per key across batches (here: how
 * many records each key has had so far, emitted each batch). */
#include "wasmstream.h"

static const char *update(const ws_key_update *key, ws_out *out, ws_new_state *next) {
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
"#
        }
        Kind::Cogroup => {
            r#"/* A cogroup operator: two keyed streams, key by key (here: how many
 * records each side has for each key). */
#include "wasmstream.h"

static const char *cogroup(const ws_cogroup *group, ws_out *out) {
    char text[64];
    snprintf(text, sizeof text, "%zu left, %zu right", group->left_count, group->right_count);
    ws_emit(out, &group->key, ws_str(text), 0);
    return NULL;
}

WASMSTREAM_COGROUP(ws_no_params, cogroup)
"#
        }
        Kind::KeyedProcess => {
            r#"/* A keyed-process operator: a state per key with event-time timers
 * (here: each key's records are counted until it has been quiet for ten
 * seconds of event time, then the count is emitted). */
#include "wasmstream.h"

#define QUIET 10000

static ws_buf count_text;

static const char *process(const ws_key_events *key, ws_timers *timers, ws_out *out,
                           ws_new_state *next) {
    int64_t count = 0;
    if (key->has_state) {
        const char *error = ws_parse_i64(key->state, &count);
        if (error)
            return error;
    }
    if (key->fired_count && count) {
        count_text.len = 0;
        ws_buf_i64(&count_text, count);
        ws_emit(out, &key->key, ws_buf_bytes(&count_text), key->fired[key->fired_count - 1]);
        count = 0;
    }
    if (key->record_count) {
        int64_t last = key->records[0].timestamp;
        for (size_t i = 1; i < key->record_count; i++)
            last = key->records[i].timestamp > last ? key->records[i].timestamp : last;
        count += (int64_t)key->record_count;
        ws_timers_clear(timers);
        ws_timer_set(timers, last + QUIET);
    }
    next->keep = count > 0;
    if (next->keep)
        ws_buf_i64(&next->bytes, count);
    return NULL;
}

WASMSTREAM_KEYED_PROCESS(ws_no_params, process)
"#
        }
    }
}

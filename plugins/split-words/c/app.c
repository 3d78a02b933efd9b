/* Flat-map: one record per word of the value, in order; the C port of
 * `plugins/split-words`. A word is a run of letters, digits, `'` or `_`;
 * everything else separates words.
 *
 * Params:
 * - `emit = "words"` (default): each word becomes the value; the input's
 *   key, timestamp and headers are kept.
 * - `emit = "pairs"`: each word becomes the key and the value is `1`,
 *   ready for `sum`.
 */
#include "wasmstream.h"

static bool pairs;

static const char *init(const ws_params *params) {
    static const char *const known[] = {"emit", NULL};
    const char *error = ws_params_only(params, known);
    if (error)
        return error;
    const char *emit = ws_param(params, "emit");
    if (emit && strcmp(emit, "words") != 0 && strcmp(emit, "pairs") != 0)
        return ws_error("param `emit` = \"%s\": expected \"words\" or \"pairs\"", emit);
    pairs = emit && strcmp(emit, "pairs") == 0;
    return NULL;
}

static const char *split(const ws_record *record, ws_out *out) {
    ws_words words = ws_words_of(record->value);
    ws_bytes word;
    while (ws_next_word(&words, &word)) {
        if (pairs)
            ws_emit_like(out, record, &word, ws_str("1"));
        else
            ws_emit_like(out, record, ws_key_of(record), word);
    }
    return words.error;
}

WASMSTREAM_FLAT_MAP(init, split)

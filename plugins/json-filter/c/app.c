/* Filter: keeps records whose value is a JSON object with a field equal
 * to a given text; the C port of `plugins/json-filter`.
 *
 * Params:
 * - `field` (required): the field to test, e.g. `"status"` (dots reach
 *   into nested objects).
 * - `equals` (required): the text to compare with. Numbers and booleans
 *   compare by how they are written, so `equals = "500"` matches both
 *   `"status": 500` and `"status": "500"`.
 * - `on_invalid = "fail" | "drop"` (default `"fail"`): what to do with a
 *   value that is not a JSON object. `fail` stops the batch, naming the
 *   record.
 */
#include "wasmstream.h"

static char *field, *equals;
static bool drop_invalid;
/* The field's text, its buffer reused from record to record. */
static ws_json_text found;

static const char *init(const ws_params *params) {
    static const char *const known[] = {"field", "equals", "on_invalid", NULL};
    const char *error = ws_params_only(params, known);
    if (error)
        return error;
    const char *on_invalid = ws_param(params, "on_invalid");
    if (on_invalid && strcmp(on_invalid, "fail") != 0 && strcmp(on_invalid, "drop") != 0)
        return ws_error("param `on_invalid` = \"%s\": expected \"fail\" or \"drop\"", on_invalid);
    drop_invalid = on_invalid && strcmp(on_invalid, "drop") == 0;
    const char *given;
    if ((error = ws_param_required(params, "field", &given)))
        return error;
    field = strdup(given);
    if ((error = ws_param_required(params, "equals", &given)))
        return error;
    equals = strdup(given);
    return NULL;
}

static const char *filter(const ws_record *record, bool *keep) {
    const char *error = ws_json_field(record->value, field, &found);
    if (error)
        return drop_invalid ? NULL : error;
    *keep = found.found && ws_equals(ws_buf_bytes(&found.text), equals);
    return NULL;
}

WASMSTREAM_FILTER(init, filter)

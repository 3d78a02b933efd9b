/* The conformance kit (the kits of wit/conformance) run natively against a C
 * operator, outside any component: built with gcc together with the
 * operator's app.c and the bindings of its kind's world (see the
 * Makefile), and run as
 *
 *     ./conformance KIT.json
 *
 * Each case's input is packed into the contract's columns, handed to the
 * operator's exported functions as the host would call them, and what
 * comes back (records, keep flags, folded values, new states, or the
 * error and the record it names, or init's refusal) is compared with the
 * kit's. `layout.json` instead checks the SDK's packing and unpacking
 * against the contract's exact columns. Reads the kits with cJSON. */
#include <cjson/cJSON.h>

#include "wasmstream.h"

/* The log import, outside a component: to stderr. */
void __wasm_import_wasmstream_operator_log_log(int32_t level, uint8_t *ptr, size_t len) {
    fprintf(stderr, "log %d: %.*s\n", level, (int)len, (const char *)ptr);
}

/* What the bindings' type object (a WebAssembly object file) defines. */
void WS_CAT(__component_type_object_force_link_, WS_WORLD)(void) {}

/* ---- reading the kit -------------------------------------------------- */

/* Bytes as a kit writes them: JSON text (UTF-8), or {"hex": "ff00"}. */
static ws_bytes data(const cJSON *value) {
    if (cJSON_IsString(value))
        return ws_str(value->valuestring);
    const char *hex = cJSON_GetObjectItem(value, "hex")->valuestring;
    size_t n = strlen(hex) / 2;
    uint8_t *bytes = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        sscanf(hex + 2 * i, "%2hhx", &bytes[i]);
    return (ws_bytes){bytes, n};
}

static bool given(const cJSON *item) { return item && !cJSON_IsNull(item); }

static int64_t number(const cJSON *item) { return given(item) ? (int64_t)item->valuedouble : 0; }

/* Records from the kit into `out`, as ws_emit packs them. */
static void emit_all(ws_out *out, const cJSON *records) {
    const cJSON *r;
    cJSON_ArrayForEach(r, records) {
        const cJSON *key = cJSON_GetObjectItem(r, "key");
        ws_bytes k = given(key) ? data(key) : (ws_bytes){0};
        ws_emit(out, given(key) ? &k : NULL, data(cJSON_GetObjectItem(r, "value")),
                number(cJSON_GetObjectItem(r, "timestamp")));
        const cJSON *header;
        cJSON_ArrayForEach(header, cJSON_GetObjectItem(r, "headers")) {
            ws_emit_header(out, data(cJSON_GetArrayItem(header, 0)), data(cJSON_GetArrayItem(header, 1)));
        }
    }
}

static wasmstream_operator_types_byte_list_t byte_list(const cJSON *items) {
    ws_buf bytes = {0};
    ws_u32s ends = {0};
    const cJSON *item;
    cJSON_ArrayForEach(item, items) {
        if (given(item))
            ws_buf_append(&bytes, data(item));
        WS_PUSH(ends, (uint32_t)bytes.len);
    }
    wasmstream_operator_types_byte_list_t list;
    ws_byte_list_(&list, &bytes, &ends);
    return list;
}

/* ---- showing what came back, comparably ------------------------------- */

static void show_bytes(ws_buf *text, ws_bytes bytes) {
    char hex[3];
    for (size_t i = 0; i < bytes.len; i++) {
        snprintf(hex, sizeof hex, "%02x", bytes.ptr[i]);
        ws_buf_append(text, ws_str(hex));
    }
}

static void show_record(ws_buf *text, const ws_record *r) {
    char number[32];
    ws_buf_append(text, ws_str("{key="));
    if (r->has_key)
        show_bytes(text, r->key);
    else
        ws_buf_append(text, ws_str("none"));
    ws_buf_append(text, ws_str(" value="));
    show_bytes(text, r->value);
    snprintf(number, sizeof number, " t=%lld", (long long)r->timestamp);
    ws_buf_append(text, ws_str(number));
    for (size_t h = 0; h < ws_header_count(r); h++) {
        ws_bytes name, value;
        ws_header(r, h, &name, &value);
        ws_buf_append(text, ws_str(" h:"));
        show_bytes(text, name);
        ws_buf_append(text, ws_str("="));
        show_bytes(text, value);
    }
    ws_buf_append(text, ws_str("}"));
}

static void show_batch(ws_buf *text, const wasmstream_operator_types_batch_t *batch) {
    size_t header = 0;
    for (size_t i = 0; i < batch->timestamps.len; i++) {
        ws_record r = ws_record_(batch, i, &header);
        show_record(text, &r);
    }
}

/* Records from the kit, shown as show_batch shows the SDK's. */
static void show_expected_records(ws_buf *text, const cJSON *records) {
    ws_out out = {0};
    emit_all(&out, records);
    wasmstream_operator_types_batch_t batch;
    ws_pack_(&out, &batch);
    show_batch(text, &batch);
}

static void show_items(ws_buf *text, const wasmstream_operator_types_byte_list_t *list) {
    for (size_t i = 0; i < list->ends.len; i++) {
        ws_buf_append(text, ws_str("["));
        show_bytes(text, ws_item_(list, i));
        ws_buf_append(text, ws_str("]"));
    }
}

static void show_bools(ws_buf *text, const bool *flags, size_t n) {
    for (size_t i = 0; i < n; i++)
        ws_buf_append(text, ws_str(flags[i] ? "1" : "0"));
}

static void show_expected_items(ws_buf *text, const cJSON *items) {
    wasmstream_operator_types_byte_list_t list = byte_list(items);
    show_items(text, &list);
}

static void show_expected_bools(ws_buf *text, const cJSON *flags) {
    const cJSON *flag;
    cJSON_ArrayForEach(flag, flags) { ws_buf_append(text, ws_str(cJSON_IsTrue(flag) ? "1" : "0")); }
}

/* A stateful kind's keep flags and new states, and what the kit expects
 * of them. */
static void show_states(ws_buf *text, const WS_T(_list_bool_t) * keep,
                        const wasmstream_operator_types_byte_list_t *states) {
    show_bools(text, keep->ptr, keep->len);
    ws_buf_append(text, ws_str(" states "));
    show_items(text, states);
}

static void show_expected_states(ws_buf *text, const cJSON *output) {
    show_expected_bools(text, cJSON_GetObjectItem(output, "keep"));
    ws_buf_append(text, ws_str(" states "));
    show_expected_items(text, cJSON_GetObjectItem(output, "states"));
}

/* ---- one case --------------------------------------------------------- */

static int problems;

static void problem(const char *kit, const cJSON *c, const char *format, ...) {
    char message[4096];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    printf("%s: %s: %s\n", kit, cJSON_GetObjectItem(c, "name")->valuestring, message);
    problems++;
}

static bool init(const cJSON *params, char **refused) {
    const cJSON *param;
    size_t n = (size_t)cJSON_GetArraySize(params);
    WS_T(_list_tuple2_string_string_t) list = {calloc(n + 1, sizeof *list.ptr), n};
    size_t i = 0;
    cJSON_ArrayForEach(param, params) {
        WS_T(_string_dup)(&list.ptr[i].f0, param->string);
        WS_T(_string_dup)(&list.ptr[i].f1, param->valuestring);
        i++;
    }
    WS_T(_string_t) err = {0};
#if WS_KIND == WS_MAP
    bool ok = exports_wasmstream_operator_map_init(&list, &err);
#elif WS_KIND == WS_FILTER
    bool ok = exports_wasmstream_operator_filter_init(&list, &err);
#elif WS_KIND == WS_FLAT_MAP
    bool ok = exports_wasmstream_operator_flat_map_init(&list, &err);
#elif WS_KIND == WS_REDUCE
    bool ok = exports_wasmstream_operator_reduce_init(&list, &err);
#elif WS_KIND == WS_UPDATE_STATE
    bool ok = exports_wasmstream_operator_update_state_init(&list, &err);
#elif WS_KIND == WS_COGROUP
    bool ok = exports_wasmstream_operator_cogroup_init(&list, &err);
#else
    bool ok = exports_wasmstream_operator_keyed_process_init(&list, &err);
#endif
    *refused = ok ? NULL : strndup((const char *)err.ptr, err.len);
    return ok;
}

/* Calls the operator on the case's input; shows what came back into
 * `got` and what the kit expects into `want`. */
static bool call(const cJSON *input, const cJSON *output, ws_buf *got, ws_buf *want,
                 wasmstream_operator_types_operator_error_t *err) {
#if WS_KIND == WS_UPDATE_STATE || WS_KIND == WS_REDUCE
    const cJSON *groups = cJSON_GetObjectItem(input, "groups"), *g, *v;
    cJSON *keys = cJSON_CreateArray(), *values = cJSON_CreateArray(), *states = cJSON_CreateArray();
    ws_u32s ends = {0};
    ws_bools has_state = {0}, timing_out = {0};
    cJSON_ArrayForEach(g, groups) {
        cJSON_AddItemToArray(keys, cJSON_Duplicate(cJSON_GetObjectItem(g, "key"), true));
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(g, "values")) {
            cJSON_AddItemToArray(values, cJSON_Duplicate(v, true));
        }
        WS_PUSH(ends, (uint32_t)cJSON_GetArraySize(values));
        const cJSON *state = cJSON_GetObjectItem(g, "state");
        WS_PUSH(has_state, given(state));
        cJSON_AddItemToArray(states, given(state) ? cJSON_Duplicate(state, true) : cJSON_CreateNull());
        WS_PUSH(timing_out, cJSON_IsTrue(cJSON_GetObjectItem(g, "timing_out")));
    }
#endif
#if WS_KIND == WS_COGROUP || WS_KIND == WS_KEYED_PROCESS
    /* Each group's records of a side (or its records, its fired and
     * pending timers) appended to one column, with the group's end. */
    const cJSON *groups = cJSON_GetObjectItem(input, "groups"), *g;
    cJSON *keys = cJSON_CreateArray();
    ws_out first = {0};
    ws_u32s first_ends = {0};
#if WS_KIND == WS_COGROUP
    ws_out second = {0};
    ws_u32s second_ends = {0};
#else
    const cJSON *t;
    cJSON *states = cJSON_CreateArray();
    ws_u32s fired_ends = {0}, pending_ends = {0};
    ws_i64s fired = {0}, pending = {0};
    ws_bools has_state = {0};
#endif
    cJSON_ArrayForEach(g, groups) {
        cJSON_AddItemToArray(keys, cJSON_Duplicate(cJSON_GetObjectItem(g, "key"), true));
#if WS_KIND == WS_COGROUP
        emit_all(&first, cJSON_GetObjectItem(g, "left"));
        emit_all(&second, cJSON_GetObjectItem(g, "right"));
        WS_PUSH(second_ends, (uint32_t)second.count);
#else
        emit_all(&first, cJSON_GetObjectItem(g, "records"));
        const cJSON *state = cJSON_GetObjectItem(g, "state");
        WS_PUSH(has_state, given(state));
        cJSON_AddItemToArray(states, given(state) ? cJSON_Duplicate(state, true) : cJSON_CreateNull());
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(g, "fired")) { WS_PUSH(fired, (int64_t)t->valuedouble); }
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(g, "pending")) { WS_PUSH(pending, (int64_t)t->valuedouble); }
        WS_PUSH(fired_ends, (uint32_t)fired.len);
        WS_PUSH(pending_ends, (uint32_t)pending.len);
#endif
        WS_PUSH(first_ends, (uint32_t)first.count);
    }
    wasmstream_operator_types_batch_t first_batch;
    ws_pack_(&first, &first_batch);
#endif
#if WS_KIND == WS_MAP || WS_KIND == WS_FLAT_MAP || WS_KIND == WS_FILTER
    ws_out in = {0};
    emit_all(&in, input);
    wasmstream_operator_types_batch_t batch;
    ws_pack_(&in, &batch);
#endif
#if WS_KIND == WS_MAP || WS_KIND == WS_FLAT_MAP
    wasmstream_operator_types_batch_t ret;
#if WS_KIND == WS_MAP
    bool ok = exports_wasmstream_operator_map_map(&batch, &ret, err);
#else
    bool ok = exports_wasmstream_operator_flat_map_flat_map(&batch, &ret, err);
#endif
    if (ok)
        show_batch(got, &ret);
    if (output)
        show_expected_records(want, output);
#elif WS_KIND == WS_FILTER
    WS_T(_list_bool_t) ret;
    bool ok = exports_wasmstream_operator_filter_filter(&batch, &ret, err);
    if (ok)
        show_bools(got, ret.ptr, ret.len);
    if (output)
        show_expected_bools(want, output);
#elif WS_KIND == WS_REDUCE
    wasmstream_operator_types_byte_list_t k = byte_list(keys), vs = byte_list(values), ret;
    WS_T(_list_u32_t) group_ends = {ends.ptr, ends.len};
    bool ok = exports_wasmstream_operator_reduce_reduce(&k, &vs, &group_ends, &ret, err);
    if (ok)
        show_items(got, &ret);
    if (output)
        show_expected_items(want, output);
#elif WS_KIND == WS_COGROUP
    wasmstream_operator_types_batch_t second_batch;
    ws_pack_(&second, &second_batch);
    ws_cogroup_input_ cogroup_input = {byte_list(keys), first_batch, {first_ends.ptr, first_ends.len},
                                       second_batch, {second_ends.ptr, second_ends.len}};
    wasmstream_operator_types_batch_t ret;
    bool ok = exports_wasmstream_operator_cogroup_cogroup(&cogroup_input, &ret, err);
    if (ok)
        show_batch(got, &ret);
    if (output)
        show_expected_records(want, output);
#elif WS_KIND == WS_KEYED_PROCESS
    const cJSON *watermark = cJSON_GetObjectItem(input, "watermark");
    ws_process_input_ process_input = {byte_list(keys),
                                       {has_state.ptr, has_state.len},
                                       byte_list(states),
                                       first_batch,
                                       {first_ends.ptr, first_ends.len},
                                       {fired.ptr, fired.len},
                                       {fired_ends.ptr, fired_ends.len},
                                       {pending.ptr, pending.len},
                                       {pending_ends.ptr, pending_ends.len},
                                       {given(watermark), number(watermark)},
                                       number(cJSON_GetObjectItem(input, "batch_time"))};
    ws_process_output_ ret;
    bool ok = exports_wasmstream_operator_keyed_process_process(&process_input, &ret, err);
    if (ok) {
        show_states(got, &ret.keep, &ret.states);
        ws_buf_append(got, ws_str(" timers "));
        size_t at = 0;
        for (size_t k = 0; k < ret.timer_ends.len; k++) {
            ws_buf_append(got, ws_str("["));
            for (; at < ret.timer_ends.ptr[k]; at++) {
                ws_buf_i64(got, ret.timers.ptr[at]);
                ws_buf_append(got, ws_str(","));
            }
            ws_buf_append(got, ws_str("]"));
        }
        ws_buf_append(got, ws_str(" records "));
        show_batch(got, &ret.output);
    }
    if (output) {
        show_expected_states(want, output);
        ws_buf_append(want, ws_str(" timers "));
        const cJSON *key_timers, *timer;
        cJSON_ArrayForEach(key_timers, cJSON_GetObjectItem(output, "timers")) {
            ws_buf_append(want, ws_str("["));
            cJSON_ArrayForEach(timer, key_timers) {
                ws_buf_i64(want, (int64_t)timer->valuedouble);
                ws_buf_append(want, ws_str(","));
            }
            ws_buf_append(want, ws_str("]"));
        }
        ws_buf_append(want, ws_str(" records "));
        show_expected_records(want, cJSON_GetObjectItem(output, "records"));
    }
#else
    ws_state_input_ state_input = {byte_list(keys),
                                   {has_state.ptr, has_state.len},
                                   byte_list(states),
                                   {timing_out.ptr, timing_out.len},
                                   byte_list(values),
                                   {ends.ptr, ends.len},
                                   number(cJSON_GetObjectItem(input, "batch_time"))};
    ws_state_output_ ret;
    bool ok = exports_wasmstream_operator_update_state_update(&state_input, &ret, err);
    if (ok) {
        show_states(got, &ret.keep, &ret.states);
        ws_buf_append(got, ws_str(" records "));
        show_batch(got, &ret.output);
    }
    if (output) {
        show_expected_states(want, output);
        ws_buf_append(want, ws_str(" records "));
        show_expected_records(want, cJSON_GetObjectItem(output, "records"));
    }
#endif
    return ok;
}

static void check(const char *kit, const cJSON *c) {
    char *refused = NULL;
    bool accepted = init(cJSON_GetObjectItem(c, "params"), &refused);
    const cJSON *init_error = cJSON_GetObjectItem(c, "init_error"), *word;
    if (init_error) {
        if (accepted)
            return problem(kit, c, "init accepted params it must refuse");
        cJSON_ArrayForEach(word, cJSON_GetObjectItem(init_error, "contains")) {
            if (!strstr(refused, word->valuestring))
                problem(kit, c, "init refused with \"%s\", without \"%s\"", refused, word->valuestring);
        }
        return;
    }
    if (!accepted)
        return problem(kit, c, "init refused: %s", refused);
    ws_buf got = {0}, want = {0};
    wasmstream_operator_types_operator_error_t err = {0};
    const cJSON *expected_error = cJSON_GetObjectItem(c, "error");
    bool ok = call(cJSON_GetObjectItem(c, "input"), cJSON_GetObjectItem(c, "output"), &got, &want, &err);
    if (!ok) {
        if (!expected_error)
            return problem(kit, c, "failed on record %u: %.*s", err.record.val, (int)err.message.len,
                           (const char *)err.message.ptr);
        int record = cJSON_GetObjectItem(expected_error, "record")->valueint;
        if (!err.record.is_some || err.record.val != (uint32_t)record)
            problem(kit, c, "failed on record %u, expected %d", err.record.val, record);
        char *message = strndup((const char *)err.message.ptr, err.message.len);
        cJSON_ArrayForEach(word, cJSON_GetObjectItem(expected_error, "contains")) {
            if (!strstr(message, word->valuestring))
                problem(kit, c, "error \"%s\" does not say \"%s\"", message, word->valuestring);
        }
        return;
    }
    if (expected_error)
        return problem(kit, c, "succeeded, expected to fail on record %d",
                       cJSON_GetObjectItem(expected_error, "record")->valueint);
    if (got.len != want.len || (got.len && memcmp(got.ptr, want.ptr, got.len) != 0))
        problem(kit, c, "returned %.*s, expected %.*s", (int)got.len, (const char *)got.ptr,
                (int)want.len, (const char *)want.ptr);
}

/* The SDK's packing of the case's records is the contract's columns, and
 * its unpacking of those columns gives the records back. */
static void check_layout(const char *kit, const cJSON *c) {
    const cJSON *records = cJSON_GetObjectItem(c, "records");
    const cJSON *columns = cJSON_GetObjectItem(c, "columns");
    ws_out out = {0};
    emit_all(&out, records);
    ws_buf got = {0}, want = {0};
    const char *names[] = {"keys", "values", "header-names", "header-values"};
    ws_buf *datas[] = {&out.keys, &out.values, &out.header_names, &out.header_values};
    ws_u32s *ends[] = {&out.key_ends, &out.value_ends, &out.name_ends, &out.header_value_ends};
    for (int i = 0; i < 4; i++) {
        const cJSON *column = cJSON_GetObjectItem(columns, names[i]), *end;
        ws_buf_append(&want, ws_str(names[i]));
        show_bytes(&want, data(cJSON_GetObjectItem(column, "data")));
        cJSON_ArrayForEach(end, cJSON_GetObjectItem(column, "ends")) {
            ws_buf_i64(&want, end->valueint);
            ws_buf_append(&want, ws_str(","));
        }
        ws_buf_append(&got, ws_str(names[i]));
        show_bytes(&got, ws_buf_bytes(datas[i]));
        for (size_t e = 0; e < ends[i]->len; e++) {
            ws_buf_i64(&got, ends[i]->ptr[e]);
            ws_buf_append(&got, ws_str(","));
        }
    }
    const cJSON *item;
    ws_buf_append(&want, ws_str(" has-key "));
    show_expected_bools(&want, cJSON_GetObjectItem(columns, "has-key"));
    ws_buf_append(&got, ws_str(" has-key "));
    show_bools(&got, out.has_key.ptr, out.has_key.len);
    ws_buf_append(&want, ws_str(" timestamps "));
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(columns, "timestamps")) {
        ws_buf_i64(&want, (int64_t)item->valuedouble);
        ws_buf_append(&want, ws_str(","));
    }
    ws_buf_append(&got, ws_str(" timestamps "));
    for (size_t i = 0; i < out.timestamps.len; i++) {
        ws_buf_i64(&got, out.timestamps.ptr[i]);
        ws_buf_append(&got, ws_str(","));
    }
    ws_buf_append(&want, ws_str(" owners "));
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(columns, "header-owners")) {
        ws_buf_i64(&want, item->valueint);
        ws_buf_append(&want, ws_str(","));
    }
    ws_buf_append(&got, ws_str(" owners "));
    for (size_t i = 0; i < out.header_owners.len; i++) {
        ws_buf_i64(&got, out.header_owners.ptr[i]);
        ws_buf_append(&got, ws_str(","));
    }
    if (got.len != want.len || (got.len && memcmp(got.ptr, want.ptr, got.len) != 0))
        problem(kit, c, "packed as %.*s, expected %.*s", (int)got.len, (const char *)got.ptr,
                (int)want.len, (const char *)want.ptr);
    /* Unpacked again, the records are the kit's (show_expected_records
     * packs with the SDK too, so compare with the kit's JSON directly). */
    wasmstream_operator_types_batch_t batch;
    ws_pack_(&out, &batch);
    size_t header = 0, i = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, records) {
        ws_record record = ws_record_(&batch, i, &header);
        const cJSON *key = cJSON_GetObjectItem(r, "key");
        ws_bytes value = data(cJSON_GetObjectItem(r, "value"));
        bool same = record.has_key == given(key) &&
                    (!given(key) || (record.key.len == data(key).len &&
                                     memcmp(record.key.ptr, data(key).ptr, record.key.len) == 0)) &&
                    record.value.len == value.len &&
                    (value.len == 0 || memcmp(record.value.ptr, value.ptr, value.len) == 0) &&
                    record.timestamp == number(cJSON_GetObjectItem(r, "timestamp")) &&
                    ws_header_count(&record) == (size_t)cJSON_GetArraySize(cJSON_GetObjectItem(r, "headers"));
        if (!same)
            problem(kit, c, "record %zu unpacked differently", i);
        i++;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s KIT.json\n", argv[0]);
        return 2;
    }
    FILE *file = fopen(argv[1], "rb");
    if (!file) {
        perror(argv[1]);
        return 2;
    }
    ws_buf text = {0};
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, file)) > 0)
        ws_buf_append(&text, (ws_bytes){chunk, n});
    fclose(file);
    cJSON *kit = cJSON_ParseWithLength((const char *)text.ptr, text.len);
    if (!kit) {
        fprintf(stderr, "%s: not JSON\n", argv[1]);
        return 2;
    }
    const char *kind = cJSON_GetObjectItem(kit, "kind")->valuestring;
    static const char *const kinds[] = {"",       "map",          "filter",  "flat-map",
                                        "reduce", "update-state", "cogroup", "keyed-process"};
    if (strcmp(kind, "layout") != 0 && strcmp(kind, kinds[WS_KIND]) != 0) {
        fprintf(stderr, "%s: a kit for a %s, and this operator is a %s\n", argv[1], kind, kinds[WS_KIND]);
        return 2;
    }
    const cJSON *cases = cJSON_GetObjectItem(kit, "cases"), *c;
    cJSON_ArrayForEach(c, cases) {
        if (strcmp(kind, "layout") == 0)
            check_layout(argv[1], c);
        else
            check(argv[1], c);
    }
    int count = cJSON_GetArraySize(cases);
    printf("%s: %d cases, %d problems\n", argv[1], count, problems);
    return problems ? 1 : 0;
}

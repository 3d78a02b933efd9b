/* Keyed process: a session per key over event time, emitted when the key
 * has been idle for `gap` of event time; the C port of
 * `plugins/event-sessions`. Emits `(key, "<events> events from <first> to
 * <last>")` stamped `last` once the watermark passes the last record's
 * time plus the gap. A record a gap or more after the session's last
 * starts a new one. Params: `gap` (required), a duration: "30s", "500ms",
 * "2m", "1h".
 */
#include "wasmstream.h"

static int64_t gap;

typedef struct {
    int64_t events, first, last;
} session;

static const char *init(const ws_params *params) {
    static const char *const known[] = {"gap", NULL};
    const char *error = ws_params_only(params, known), *text;
    if (error)
        return error;
    if (!(text = ws_param(params, "gap")))
        return "`gap` is required: how long a key may be idle, e.g. \"30s\"";
    size_t digits = strspn(text, "0123456789");
    const char *unit = text + digits;
    int64_t scale = strcmp(unit, "ms") == 0 ? 1
                    : strcmp(unit, "s") == 0 ? 1000
                    : strcmp(unit, "m") == 0 ? 60000
                    : strcmp(unit, "h") == 0 ? 3600000
                                             : 0;
    if (digits == 0 || digits > 12)
        return ws_error("`gap` must be a duration such as \"30s\", not \"%s\"", text);
    if (!scale)
        return ws_error("`gap` \"%s\": the unit is ms, s, m or h", text);
    gap = strtoll(text, NULL, 10) * scale;
    if (gap <= 0)
        return ws_error("`gap` \"%s\" must be above zero", text);
    return NULL;
}

static const char *decode(ws_bytes state, session *s) {
    int64_t *fields[] = {&s->events, &s->first, &s->last};
    size_t at = 0;
    for (int i = 0; i < 3; i++) {
        if (at > state.len)
            return "session state has too few fields";
        size_t end = at;
        while (end < state.len && state.ptr[end] != ',')
            end++;
        const char *error = ws_parse_i64((ws_bytes){state.ptr + at, end - at}, fields[i]);
        if (error)
            return error;
        at = end + 1;
    }
    return NULL;
}

static void emit(ws_bytes key, const session *s, ws_out *out) {
    char summary[96];
    snprintf(summary, sizeof summary, "%lld events from %lld to %lld", (long long)s->events,
             (long long)s->first, (long long)s->last);
    ws_emit(out, &key, ws_str(summary), s->last);
}

static int earlier(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static ws_i64s times;

static const char *process(const ws_key_events *key, ws_timers *timers, ws_out *out,
                           ws_new_state *next) {
    session s;
    bool open = key->has_state;
    if (open) {
        const char *error = decode(key->state, &s);
        if (error)
            return error;
    }
    if (open && key->fired_count && key->fired[key->fired_count - 1] >= s.last + gap) {
        emit(key->key, &s, out);
        open = false;
    }
    times.len = 0;
    for (size_t i = 0; i < key->record_count; i++)
        WS_PUSH(times, key->records[i].timestamp);
    if (times.len)
        qsort(times.ptr, times.len, sizeof *times.ptr, earlier);
    for (size_t i = 0; i < times.len; i++) {
        int64_t time = times.ptr[i];
        if (open && time - s.last < gap) {
            s.events++;
            s.first = time < s.first ? time : s.first;
            s.last = time > s.last ? time : s.last;
            continue;
        }
        if (open)
            emit(key->key, &s, out);
        s = (session){1, time, time};
        open = true;
    }
    ws_timers_clear(timers);
    if (!open)
        return NULL;
    ws_timer_set(timers, s.last + gap);
    next->keep = true;
    ws_buf_i64(&next->bytes, s.events);
    ws_buf_append(&next->bytes, ws_str(","));
    ws_buf_i64(&next->bytes, s.first);
    ws_buf_append(&next->bytes, ws_str(","));
    ws_buf_i64(&next->bytes, s.last);
    return NULL;
}

WASMSTREAM_KEYED_PROCESS(init, process)

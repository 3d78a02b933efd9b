#!/usr/bin/env python3
"""Writes ten minutes of web-server access-log lines (the common log
format) for the log-analytics example, a little out of order, with a few
malformed lines, into data/access.log beside this script. The same seed
always gives the same lines.

It also writes, hidden so the directory source skips them, the counts the
pipeline must produce for the windows its watermark closes, counted here
independently of the pipeline, for the tests: data/.expected-paths.json
(requests per path per 5-minute tumbling window) and
data/.expected-ips.json (requests per client IP per 1-minute window
sliding every 10 s), each keyed "KEY WINDOW_START WINDOW_END" in ms.

    usage: generate.py [OUTPUT_FOLDER]
"""
import json
import os
import random
import sys
from datetime import datetime, timedelta, timezone

START = datetime(2026, 11, 21, 10, 0, 0, tzinfo=timezone.utc)
LINES = 3000
WATERMARK_MS = 5_000          # the manifest's watermark
PATH_WINDOW_MS = 300_000      # the manifest's per-path window
IP_WINDOW_MS = 60_000         # the manifest's per-IP window ...
IP_SLIDE_MS = 10_000          # ... and its slide

folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "data")
os.makedirs(folder, exist_ok=True)
rng = random.Random(42)
ips = [f"10.0.{i // 8}.{i % 8 + 1}" for i in range(24)]
paths = ["/", "/cart", "/checkout", "/login", "/search", "/product/1", "/product/2", "/help"]
methods = ["GET"] * 8 + ["POST"] * 2
statuses = ["200"] * 17 + ["404", "500", "302"]

events = []
for i in range(LINES):
    at = START + timedelta(milliseconds=i * 200 + rng.randint(0, 2_000))
    ip = rng.choice(ips[:6]) if rng.random() < 0.3 else rng.choice(ips)
    events.append((at, ip, rng.choice(methods), rng.choice(paths), rng.choice(statuses), rng.randint(90, 9000)))

lines = []
for at, ip, method, path, status, size in events:
    stamp = at.strftime("%d/%b/%Y:%H:%M:%S +0000")
    lines.append(f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {size}')
for n, bad in [(500, "GET /cart 200"), (1500, "\u00bfqu\u00e9?"), (2500, "10.0.0.1 - - [yesterday] \"GET / HTTP/1.1\" 200 1")]:
    lines.insert(n, bad)

with open(os.path.join(folder, "access.log"), "w") as out:
    out.write("\n".join(lines) + "\n")

# Windows the watermark closes: the latest time minus the watermark delay
# must reach the window's end. Times are whole seconds in the log.
def ms(at):
    return int(at.replace(microsecond=0).timestamp()) * 1000

watermark = max(ms(e[0]) for e in events) - WATERMARK_MS
counts = {}
for at, _, _, path, _, _ in events:
    start = ms(at) // PATH_WINDOW_MS * PATH_WINDOW_MS
    if start + PATH_WINDOW_MS <= watermark:
        key = f"{path} {start} {start + PATH_WINDOW_MS}"
        counts[key] = counts.get(key, 0) + 1
with open(os.path.join(folder, ".expected-paths.json"), "w") as out:
    json.dump(counts, out, indent=1, sort_keys=True)

# A sliding window holds a record when it starts at or before the record
# and ends after it.
counts = {}
for at, ip, _, _, _, _ in events:
    last = ms(at) // IP_SLIDE_MS * IP_SLIDE_MS
    for start in range(last, ms(at) - IP_WINDOW_MS, -IP_SLIDE_MS):
        if start + IP_WINDOW_MS <= watermark:
            key = f"{ip} {start} {start + IP_WINDOW_MS}"
            counts[key] = counts.get(key, 0) + 1
with open(os.path.join(folder, ".expected-ips.json"), "w") as out:
    json.dump(counts, out, indent=1, sort_keys=True)
print(f"wrote {len(lines)} lines ({len(lines) - len(events)} malformed) to {folder}/access.log", file=sys.stderr)

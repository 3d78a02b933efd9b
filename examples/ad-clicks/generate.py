#!/usr/bin/env python3
"""Writes the ad-clicks example's data (`data/events.json`): five minutes of
ad impressions for three campaigns, and the clicks on some of them, in
the order they arrive.

Each impression has an id (`imp`), a campaign and an event time (`ts`, ms
since the epoch), a little out of order; `clicked` is 0. A click names
the impression it was on, with `clicked` 1 and its own time (`click_ts`),
1 to 20 s after the impression; a few come 45 s after, too late to be
counted. Seeded, so the same files every time.
"""

import json
import os
import random

START = 1735689600000  # 2025-01-01 00:00:00 UTC
CAMPAIGNS = {"spring": 0.03, "summer": 0.08, "autumn": 0.15}


def main():
    rng = random.Random(16)
    impressions, clicks = [], []
    n = 0
    for second in range(300):
        for campaign, rate in CAMPAIGNS.items():
            for _ in range(2):
                n += 1
                ts = START + second * 1000 + rng.randrange(1000)
                imp = {"imp": f"i{n}", "campaign": campaign, "ts": ts, "clicked": 0}
                # Arrives up to 2 s out of order.
                impressions.append((ts + rng.randrange(2000), imp))
                if rng.random() < rate:
                    delay = 45_000 if rng.random() < 0.05 else rng.randrange(1000, 20_000)
                    click = {"imp": f"i{n}", "clicked": 1, "click_ts": ts + delay}
                    clicks.append((ts + delay, click))
    # One stream of events, as they arrive: impressions and clicks mixed.
    events = sorted(impressions + clicks, key=lambda e: e[0])
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "events.json"), "w") as out:
        for _, event in events:
            out.write(json.dumps(event, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()

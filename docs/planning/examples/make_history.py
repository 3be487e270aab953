"""Make the synthetic call history used by the worked example in docs/planning.md.

A made-up service line ("the example center") open every day 08:00-20:00, 30-minute intervals, eight weeks
from Monday 2024-01-08 to Sunday 2024-03-03. Calls are Poisson around a weekday x time-of-day pattern with a
slow growth; 4-8 % of callers abandon; talk averages 240 s and after-call work 45 s per answered call.
Two things a real history also has are built in on purpose:

* 2024-02-06 (Tuesday): a promotional mailing brought 50 % more calls all day (a known event);
* 2024-02-14 (Wednesday) 13:00-16:00: a telephony outage, only a tenth of the usual calls got through.

Standard library only.  Usage:  python make_history.py > history.csv   (the same seed gives the same file)
"""

import csv
import datetime as dt
import math
import random
import sys

SEED = 2024
FIRST_DAY = dt.date(2024, 1, 8)  # a Monday
WEEKS = 8
OPEN_HOUR, CLOSE_HOUR = 8, 20
BASE_CALLS_PER_DAY = 900.0
WEEKLY_GROWTH = 0.005  # +0.5 % a week
DAY_INDEX = [1.15, 1.05, 1.00, 1.00, 0.95, 0.60, 0.45]  # Monday .. Sunday
TALK_SECONDS, ACW_SECONDS = 240.0, 45.0
PROMO_DAY, PROMO_FACTOR = dt.date(2024, 2, 6), 1.5
OUTAGE_DAY, OUTAGE_HOURS, OUTAGE_FACTOR = dt.date(2024, 2, 14), (13, 16), 0.1


def shape(hour: float) -> float:
    """Relative call volume by time of day: a morning peak near 10:30 and a smaller one near 14:30."""
    return 0.35 + math.exp(-((hour - 10.5) ** 2) / 2.0) + 0.7 * math.exp(-((hour - 14.5) ** 2) / 3.0)


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; fine for the means used here (< 150)."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def main() -> None:
    rng = random.Random(SEED)
    slots = [OPEN_HOUR + i / 2 for i in range((CLOSE_HOUR - OPEN_HOUR) * 2)]
    weights = [shape(h + 0.25) for h in slots]
    total_weight = sum(weights)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["interval_start", "offered", "answered", "abandoned", "talk_seconds", "acw_seconds"])
    for day_number in range(WEEKS * 7):
        day = FIRST_DAY + dt.timedelta(days=day_number)
        day_calls = BASE_CALLS_PER_DAY * DAY_INDEX[day.weekday()] * (1 + WEEKLY_GROWTH) ** (day_number / 7)
        if day == PROMO_DAY:
            day_calls *= PROMO_FACTOR
        for hour, weight in zip(slots, weights, strict=True):
            mean = day_calls * weight / total_weight
            if day == OUTAGE_DAY and OUTAGE_HOURS[0] <= hour < OUTAGE_HOURS[1]:
                mean *= OUTAGE_FACTOR
            offered = poisson(rng, mean)
            abandon_share = 0.04 + 0.04 * weight / max(weights)  # busier intervals lose more callers
            abandoned = sum(rng.random() < abandon_share for _ in range(offered))
            answered = offered - abandoned
            talk = rng.gammavariate(answered, TALK_SECONDS) if answered else 0.0
            acw = rng.gammavariate(4 * answered, ACW_SECONDS / 4) if answered else 0.0
            start = dt.datetime.combine(day, dt.time(int(hour), round((hour % 1) * 60)))
            out.writerow([start.strftime("%Y-%m-%dT%H:%M"), offered, answered, abandoned, round(talk), round(acw)])


if __name__ == "__main__":
    main()

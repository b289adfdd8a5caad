"""Numbers and dates as people write them ("March 3rd", "$1,250", "4:30 p.m.") with the words
a TTS engine should read ("March third", "one thousand two hundred and fifty dollars").

Each generator draws until the written form falls in the split's partition (see entities.is_ood),
so test-ood never repeats a number or date string of train.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from num2words import num2words

from susurrus.data.synth.entities import (
    STREET_TYPES,
    STREET_WORDS,
    Entity,
    Mention,
    is_ood,
    simple,
)

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
DAYS_IN = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def words(n: int) -> str:
    """12 -> 'twelve', 1250 -> 'one thousand two hundred and fifty' (no commas)."""
    return num2words(n).replace(",", "")


def ordinal_suffix(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _in_partition(make: Callable[[random.Random], Entity], rng: random.Random,
                  ood: bool) -> Entity:
    for _ in range(200):
        entity = make(rng)
        if is_ood(entity.text) == ood:
            return entity
    raise RuntimeError(f"no {'test-ood' if ood else 'in-domain'} value in 200 draws")


def date(rng: random.Random, ood: bool) -> Entity:
    def make(r: random.Random) -> Entity:
        m = r.randrange(12)
        d = r.randint(1, DAYS_IN[m])
        return simple("date", f"{MONTHS[m]} {d}{ordinal_suffix(d)}",
                      f"{MONTHS[m]} {num2words(d, to='ordinal')}")
    return _in_partition(make, rng, ood)


def time_of_day(rng: random.Random, ood: bool) -> Entity:
    def make(r: random.Random) -> Entity:
        h, m = r.randint(1, 12), r.choice((0, 0, 15, 30, 45, 10, 20, 40, 50))
        half = "a.m." if h in (7, 8, 9, 10, 11) else "p.m."
        if m == 0:
            return simple("time", f"{h} {half}", f"{words(h)} {half[0]} m")
        minute = words(m) if m >= 10 else f"oh {words(m)}"
        return simple("time", f"{h}:{m:02d} {half}", f"{words(h)} {minute} {half[0]} m")
    return _in_partition(make, rng, ood)


def money(rng: random.Random, ood: bool, low: int = 20, high: int = 5000,
          cents: bool = False) -> Entity:
    """'$1,250' / '$49.99' (cents=True)."""
    def make(r: random.Random) -> Entity:
        step = 1 if high <= 200 else 5 if high <= 2000 else 50
        dollars = r.randrange(low, high + 1, step)
        if cents:
            c = r.choice((99, 50, 25, 95, 49, 75))
            return simple("money", f"${dollars:,}.{c:02d}",
                          f"{words(dollars)} dollars and {words(c)} cents")
        return simple("money", f"${dollars:,}", f"{words(dollars)} dollars")
    return _in_partition(make, rng, ood)


def quantity(rng: random.Random, ood: bool, unit: str, low: int, high: int,
             step: int = 1) -> Entity:
    """'20 milligrams', '240 kilograms'."""
    def make(r: random.Random) -> Entity:
        n = r.randrange(low, high + 1, step)
        return simple("number", f"{n} {unit}", f"{words(n)} {unit}")
    return _in_partition(make, rng, ood)


def code(rng: random.Random, ood: bool, digits: int = 5, prefix: str = "") -> Entity:
    """An order/ticket/claim number read digit by digit: '48213', 'BA 2317'."""
    def make(r: random.Random) -> Entity:
        num = "".join(str(r.randrange(10)) for _ in range(digits))
        num = str(r.randint(1, 9)) + num[1:]
        said = " ".join(DIGITS[int(c)] for c in num)
        if prefix:
            return simple("code", f"{prefix} {num}", f"{' '.join(prefix)} {said}")
        return simple("code", num, said)
    return _in_partition(make, rng, ood)


def flight(rng: random.Random, ood: bool) -> Entity:
    return code(rng, ood, rng.choice((3, 4)), rng.choice(("BA", "UA", "LH", "AF", "KL", "DL")))


def version(rng: random.Random, ood: bool) -> Entity:
    """'4.2.1' read 'four point two point one'."""
    def make(r: random.Random) -> Entity:
        parts = [r.randint(1, 12), r.randint(0, 9), r.randint(0, 9)]
        return simple("version", ".".join(map(str, parts)),
                      " point ".join(words(p) for p in parts))
    return _in_partition(make, rng, ood)


def percent(rng: random.Random, ood: bool) -> Entity:
    """'3.5%' read 'three point five percent'."""
    def make(r: random.Random) -> Entity:
        whole, tenth = r.randint(1, 19), r.randrange(10)
        text = f"{whole}.{tenth}%" if tenth else f"{whole}%"
        say = f"{words(whole)} point {words(tenth)} percent" if tenth else f"{words(whole)} percent"
        return simple("percent", text, say)
    return _in_partition(make, rng, ood)


def score(rng: random.Random, ood: bool) -> Entity:
    """A match score '3-1' read 'three to one'."""
    def make(r: random.Random) -> Entity:
        a, b = r.randint(1, 5), r.randint(0, 4)
        return simple("score", f"{a}-{b}", f"{words(a)} to {words(b)}")
    return _in_partition(make, rng, ood)


def house_number(n: int) -> str:
    """How a house number is read: 1187 -> 'eleven eighty-seven', 402 -> 'four oh two'."""
    if n < 100:
        return words(n)
    head, tail = divmod(n, 100)
    rest = "hundred" if tail == 0 else words(tail) if tail >= 10 else f"oh {words(tail)}"
    return f"{words(head)} {rest}"


def address(rng: random.Random, ood: bool) -> Entity:
    """'1187 Larkspur Lane' with form 'street' ('Larkspur Lane')."""
    word = rng.choice([w for w in STREET_WORDS if is_ood(w) == ood])
    street = f"{word} {rng.choice(STREET_TYPES)}"
    n = rng.randint(12, 2400)
    return Entity("address", (("", Mention(f"{n} {street}", f"{house_number(n)} {street}")),
                              ("street", Mention(street, street))))

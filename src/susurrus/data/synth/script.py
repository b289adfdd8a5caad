"""Conversation scripts: domain templates with slots, filled into turns that read like speech.

A domain is an opening exchange, a list of optional middle exchanges (kept in order) and a closing
exchange; each line has several phrasings. `{slot}` / `{slot.form}` take an entity of the
session (the same entity every time, so it recurs across turns); `{ok}`, `{so}` ... take a
discourse marker. The closing recaps the key entities: the first mention is the hard one, the
later ones are where the context of prior turns helps.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from susurrus.data.synth.entities import Entity

SLOT = re.compile(r"\{(\w+)(?:\.(\w+))?\}")
# Discourse markers: the same words in the reference and for the TTS engine.
FILLERS: Mapping[str, tuple[str, ...]] = {
    "ok": ("Okay", "Alright", "Sure", "Right", "Great", "Perfect", "Got it"),
    "so": ("So", "Well", "Now", "Alright, so", "Okay, so"),
    "thanks": ("Thanks", "Thank you", "Thanks so much", "Thanks a lot"),
    "bye": ("Have a good day", "Take care", "Bye now", "Have a great afternoon", "Talk soon"),
    "wait": ("Let me see", "Let me check", "One moment", "Give me a second", "Hang on"),
    "hi": ("Hi", "Hello", "Hey there", "Good morning", "Good afternoon"),
}
MIN_MIDDLE, MAX_MIDDLE = 1, 4  # middle exchanges: 6..12 turns with opening and closing


@dataclass(frozen=True)
class Exchange:
    """Two turns: speaker A's line and speaker B's reply, each with alternative phrasings."""

    a: tuple[str, ...]  # phrasings of A's turn
    b: tuple[str, ...]  # phrasings of B's turn


@dataclass(frozen=True)
class Domain:
    """The templates of one conversation domain."""

    name: str  # 'pharmacy', 'logistics', ...
    slots: Mapping[str, str]  # slot -> generator name in SLOT_KINDS (see conversations.py)
    opening: Exchange  # introduces the key entities
    middle: tuple[Exchange, ...]  # 1-4 of them are kept, in order
    closing: Exchange  # recaps the key entities


@dataclass(frozen=True)
class Line:
    """One turn of a script."""

    speaker: str  # 'A' or 'B'
    text: str  # reference: true spelling, cased, punctuated
    say: str  # what the TTS engine reads (respelled names, numbers in words)
    entities: tuple[str, ...]  # entity surface strings in `text`, in order


def fill(template: str, values: Mapping[str, Entity], rng: random.Random) -> tuple[str, str,
                                                                                  tuple[str, ...]]:
    """A template -> (reference text, TTS text, entity surface strings in the text)."""
    text_parts: list[str] = []
    say_parts: list[str] = []
    found: list[str] = []
    pos = 0
    for m in SLOT.finditer(template):
        text_parts.append(template[pos:m.start()])
        say_parts.append(template[pos:m.start()])
        name, form = m.group(1), m.group(2) or ""
        if name in FILLERS:
            word = rng.choice(FILLERS[name])
            text_parts.append(word)
            say_parts.append(word)
        else:
            mention = values[name].form(form)
            text_parts.append(mention.text)
            say_parts.append(mention.say)
            if values[name].kind != "phrase" and mention.text not in found:
                found.append(mention.text)
        pos = m.end()
    text_parts.append(template[pos:])
    say_parts.append(template[pos:])
    # "at 8 a.m.." -> "at 8 a.m." (the templates have no ellipses)
    text, say = ("".join(p).replace("..", ".") for p in (text_parts, say_parts))
    return text, say, tuple(found)


def write_script(domain: Domain, draw: Callable[[str], Entity], rng: random.Random) -> list[Line]:
    """Fill a domain's templates: 6-12 turns, A and B alternating, entities from `draw(kind)`."""
    values = {slot: draw(kind) for slot, kind in domain.slots.items()}
    k = rng.randint(MIN_MIDDLE, min(MAX_MIDDLE, len(domain.middle)))
    middle = [domain.middle[i] for i in sorted(rng.sample(range(len(domain.middle)), k))]
    lines = []
    for exchange in [domain.opening, *middle, domain.closing]:
        for speaker, options in (("A", exchange.a), ("B", exchange.b)):
            text, say, found = fill(rng.choice(options), values, rng)
            lines.append(Line(speaker, text, say, found))
    return lines


def check_domain(domain: Domain, forms: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Problems of a domain's templates (empty = fine); `forms`: kind -> its form names."""
    problems = []
    exchanges = [domain.opening, *domain.middle, domain.closing]
    if len(domain.middle) < MIN_MIDDLE:
        problems.append(f"{domain.name}: needs at least {MIN_MIDDLE} middle exchange")
    for ex in exchanges:
        for template in ex.a + ex.b:
            for name, form in SLOT.findall(template):
                if name in FILLERS:
                    continue
                if name not in domain.slots:
                    problems.append(f"{domain.name}: unknown slot {name!r} in {template!r}")
                elif (form or "") not in forms[domain.slots[name]]:
                    problems.append(f"{domain.name}: {name} has no form {form!r}")
    for label, ex in (("opening", domain.opening), ("closing", domain.closing)):
        for template in ex.a + ex.b:
            slots = {n for n, _ in SLOT.findall(template) if n not in FILLERS}
            if not slots:
                problems.append(f"{domain.name}: {label} line names no entity: {template!r}")
    return problems

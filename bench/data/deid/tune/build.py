"""Regenerate ``tune.jsonl``: the set the recall stages are TUNED on (deterministic, fixed seed).

    .venv/bin/python bench/data/deid/tune/build.py

Two sources, both written for tuning, neither an evaluation set:
- ``handwritten.txt``: adversarial one-line clinician queries of the failure families of issue 15
  (initials, possessives, titles, lower-case and non-Western names, facilities, cities in prose,
  written-out dates, international phones and addresses) and hard negatives, with inline gold
  ``[[LABEL|text]]``;
- Faker sentences from 20 Latin-script locales (names, street addresses, postal codes, cities,
  local and international phone numbers, e-mail, dates written out), templates below.
The frozen held-out set (``bench/data/deid/eval/``) is written by someone else and is not read here.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from faker import Faker

HERE = Path(__file__).resolve().parent
MARK = re.compile(r"\[\[([A-Z_]+)\|(.+?)\]\]")
LOCALES = ("en_GB", "en_IE", "en_IN", "en_NG", "en_KE", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT", "pt_BR",
           "nl_NL", "pl_PL", "sv_SE", "tr_TR", "vi_VN", "id_ID", "fi_FI", "da_DK", "ro_RO")


def parse(line: str) -> dict:
    text, spans, pos = [], [], 0
    for m in MARK.finditer(line):
        text.append(line[pos:m.start()])
        start = sum(map(len, text))
        text.append(m.group(2))
        spans.append({"start": start, "end": start + len(m.group(2)), "label": m.group(1)})
        pos = m.end()
    text.append(line[pos:])
    return {"text": "".join(text), "spans": spans}


def written_date(fake: Faker, rng: random.Random) -> str:
    d = fake.date_between(start_date="-60y", end_date="today")
    return rng.choice((d.strftime("%d %B %Y").lstrip("0"), d.strftime("%B %d, %Y"), d.strftime("%B %Y"),
                       str(d.year), d.strftime("%d.%m.%Y"), d.strftime("%Y-%m-%d")))


TEMPLATES = (
    "{NAME:name} can be reached at {PHONE:phone}.",
    "Please update the address for {NAME:name}: {LOCATION:street}, {LOCATION:postcode} {LOCATION:city}.",
    "{NAME:name} was born on {DATE:date} and lives in {LOCATION:city}.",
    "Ship the replacement inhaler to {LOCATION:street}, {LOCATION:city}.",
    "{NAME:lower} asked whether the biopsy results are back.",
    "Email {EMAIL:email} or call {PHONE:phone} to reach {NAME:first}.",
    "{NAME:name}, seen in {LOCATION:city} on {DATE:date}, reports new palpitations.",
    "Emergency contact: {NAME:name}, {PHONE:phone}.",
    "Does {NAME:first} still live at {LOCATION:street}?",
    "Referral letter for {NAME:name} (DOB {DATE:date}), {LOCATION:street}, {LOCATION:postcode} {LOCATION:city}.",
    "My neighbour {NAME:first} {NAME:last_only} drove me to the hospital in {LOCATION:city}.",
    "The courier left the samples with {NAME:lower} at {LOCATION:street}.",
)
SLOT = re.compile(r"\{([A-Z]+):(\w+)\}")


def faker_sentences(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in LOCALES}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed + i)
    notes = []
    for _ in range(count):
        fake = fakers[rng.choice(LOCALES)]
        template = rng.choice(TEMPLATES)
        first = fake.first_name()
        values = {"name": fake.name(), "first": first, "last_only": fake.last_name(),
                  "lower": f"{fake.first_name()} {fake.last_name()}".lower(), "phone": fake.phone_number(),
                  "street": fake.street_address().replace("\n", ", "), "postcode": fake.postcode(),
                  "city": fake.city(), "email": fake.email(), "date": written_date(fake, rng)}
        text, spans, pos = [], [], 0
        for m in SLOT.finditer(template):
            text.append(template[pos:m.start()])
            start = sum(map(len, text))
            value = values[m.group(2)]
            text.append(value)
            spans.append({"start": start, "end": start + len(value), "label": m.group(1)})
            pos = m.end()
        text.append(template[pos:])
        notes.append({"text": "".join(text), "spans": spans, "source": f"faker-{fake.locales[0]}"})
    return notes


def build() -> Path:
    notes = []
    for line in (HERE / "handwritten.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            notes.append(dict(parse(line), source="handwritten"))
    notes += faker_sentences(300, 1515)
    out = HERE / "tune.jsonl"
    with out.open("w", encoding="utf-8") as fh:
        for i, n in enumerate(notes):
            fh.write(json.dumps({"id": f"tune-{i:04d}", **n}, ensure_ascii=False) + "\n")
    return out


if __name__ == "__main__":
    print(build())

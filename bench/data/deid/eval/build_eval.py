"""Build the frozen de-identification evaluation set (bench/data/deid/eval/*.jsonl).

    .venv/bin/python bench/data/deid/eval/build_eval.py [--out DIR] [--check] [--stats]

Deterministic: a fixed seed, seeded Faker instances per locale and the pinned Faker
version give the same bytes on every run (the script re-runs itself with
PYTHONHASHSEED=0, since one Faker locale draws from a set). ``--check`` rebuilds into a temporary
directory and compares with the frozen files and SHA256SUMS. Written independently
of the de-identifier's rules; nobody tunes on this set (see README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import languages  # noqa: E402
import long_notes  # noqa: E402
from fill import Filler  # noqa: E402
from general_templates import GENERAL_TEMPLATES  # noqa: E402
from markup import parse  # noqa: E402
from query_templates import QUERY_TEMPLATES  # noqa: E402
from slots import ADDRESS_LOCALES, Slots, mark  # noqa: E402

SEED = 20261202
FILES = ["clinical_queries.jsonl", "general_pii.jsonl", "long_notes.jsonl", "non_english.jsonl",
         "english_short.jsonl"]
GENERAL_LOCALES = [
    "en_GB", "en_IN", "en_AU", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT", "nl_NL", "pt_BR", "pl_PL",
    "ja_JP", "zh_CN", "tr_TR", "sv_SE", "en_US", "en_NZ", "cs_CZ", "da_DK", "fi_FI", "es_CO", "de_AT",
    "pt_PT", "fr_CA", "hr_HR", "en_NG", "vi_VN", "id_ID", "en_KE", "ro_RO",
]
RELATIONS = ["mother", "father", "sister", "brother", "wife", "husband", "partner", "son", "daughter",
             "friend"]


def item(source: str, idx: int, marked: str, **extra) -> dict:
    text, spans = parse(marked)
    return {"id": f"{source}-{idx:04d}", "source": source, "text": text, "spans": spans, **extra}


def core_lines(name: str = "core_queries.txt") -> list[str]:
    lines = (HERE / name).read_text(encoding="utf-8").splitlines()
    return [ln for ln in lines if ln.strip() and not ln.startswith("#")]


def clinical_queries(total: int = 1000) -> list[dict]:
    slots = Slots(SEED)
    filler = Filler(slots)
    marked = [("hand", ln) for ln in core_lines()]
    order = list(range(len(QUERY_TEMPLATES)))
    seen = {m for _, m in marked}
    while len(marked) < total:
        slots.rng.shuffle(order)
        for k in order[: total - len(marked)]:
            m = filler.fill(QUERY_TEMPLATES[k])
            if m not in seen:
                seen.add(m)
                marked.append(("template", m))
    slots.rng.shuffle(marked)
    return [item("clinical_queries", i, m, origin=o) for i, (o, m) in enumerate(marked)]


def locale_slots(slots: Slots, loc: str) -> dict:
    """Slots bound to one Faker locale for a general-domain sentence."""
    f = slots.faker(loc)
    addr_loc = loc if loc in ADDRESS_LOCALES else "en_US"
    af = slots.faker(addr_loc)

    def person():
        return slots.person(loc)

    def name(form=None):
        return lambda: slots.name_form(*person(), form)

    def email():
        first, last = person()
        return slots.email(first, last)

    def phone():
        try:
            return mark("PHONE", f.phone_number())
        except AttributeError:
            return slots.phone()

    c = slots.choice
    return {
        "pname": name(c([None, "full", "full"])), "pfirst": name("first"), "plower": name("lower"),
        "plastfirst": name("last_first"),
        "ptitled": lambda: mark("NAME", f"{c(['Mr', 'Ms', 'Mrs', 'Dr', 'Mr.', 'Ms.'])} {person()[1]}"),
        "paddr": lambda: slots.address(addr_loc), "pcity": lambda: mark("LOCATION", af.city()),
        "ppost": lambda: mark("LOCATION", af.postcode()), "pphone": phone, "pemail": email,
        "iban": lambda: mark("ACCOUNT", slots.faker(c(["de_DE", "fr_FR", "nl_NL", "en_GB", "es_ES",
                                                        "it_IT"])).iban()),
        "cc": lambda: mark("ACCOUNT", slots.digits(4)),
        "passport": lambda: mark("ID_OTHER", slots.faker("en_US").passport_number()),
        "plate": lambda: mark("VEHICLE_ID", slots.faker(c(["en_GB", "de_DE", "fr_FR", "nl_NL", "pl_PL",
                                                            "en_US"])).license_plate()),
        "taxid": lambda: mark("ID_OTHER", slots.digits(11)),
        "ni": lambda: mark("ID_OTHER", f"{slots.alnum(2)}{slots.digits(6)}{c('ABCD')}"),
        "relation": lambda: c(RELATIONS),
    }


def general_pii(total: int = 1500) -> list[dict]:
    slots = Slots(SEED + 1)
    filler = Filler(slots)
    marked = [("hand", None, ln) for ln in core_lines("core_general.txt")]
    seen = {m for _, _, m in marked}
    while len(marked) < total:
        loc = GENERAL_LOCALES[len(marked) % len(GENERAL_LOCALES)]
        m = filler.fill(slots.choice(GENERAL_TEMPLATES), locale_slots(slots, loc))
        if m not in seen:
            seen.add(m)
            marked.append(("template", loc, m))
    slots.rng.shuffle(marked)
    return [item("general_pii", i, m, origin=o, **({"locale": loc} if loc else {}))
            for i, (o, loc, m) in enumerate(marked)]


def build(out_dir: Path) -> None:
    sets = {
        "clinical_queries.jsonl": clinical_queries(),
        "general_pii.jsonl": general_pii(),
        "long_notes.jsonl": [item("long_notes", i, m, kind=k)
                             for i, (k, m) in enumerate(long_notes.build(Slots(SEED + 2)))],
        "non_english.jsonl": [item("non_english", i, m, lang=lang)
                              for i, (lang, m) in enumerate(languages.non_english(Slots(SEED + 3)))],
        "english_short.jsonl": [item("english_short", i, m, lang="en")
                                for i, m in enumerate(languages.english_short(Slots(SEED + 4)))],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    sums = []
    for fname in FILES:
        data = "".join(json.dumps(n, ensure_ascii=False, sort_keys=True) + "\n"
                       for n in sets[fname]).encode("utf-8")
        (out_dir / fname).write_bytes(data)
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {fname}\n")
    (out_dir / "SHA256SUMS").write_text("".join(sums), encoding="utf-8")


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp))
        bad = [f for f in FILES + ["SHA256SUMS"] if (Path(tmp) / f).read_bytes() != (HERE / f).read_bytes()]
    print("frozen files reproduced" if not bad else f"differ from the frozen set: {bad}")
    return 1 if bad else 0


def stats(data_dir: Path) -> str:
    """Items, tokens and gold spans per label for each file, as the README's Markdown table."""
    import re
    from collections import Counter

    from markup import LABELS
    names = ["items", "items without PHI", "tokens", "tokens in gold spans", "gold spans", *LABELS]
    rows: dict[str, list[int]] = {k: [] for k in names}
    for fname in FILES:
        notes = [json.loads(line) for line in (data_dir / fname).read_text(encoding="utf-8").splitlines()]
        labels = Counter(s["label"] for n in notes for s in n["spans"])
        rows["items"].append(len(notes))
        rows["items without PHI"].append(sum(1 for n in notes if not n["spans"]))
        rows["tokens"].append(sum(len(re.findall(r"\w+", n["text"])) for n in notes))
        rows["tokens in gold spans"].append(sum(len(re.findall(r"\w+", n["text"][s["start"]:s["end"]]))
                                                for n in notes for s in n["spans"]))
        rows["gold spans"].append(sum(labels.values()))
        for k in LABELS:
            rows[k].append(labels[k])
    head = "| | " + " | ".join(f.removesuffix(".jsonl") for f in FILES) + " | total |"
    lines = [head, "|---" * (len(FILES) + 2) + "|"]
    lines += [f"| {k} | " + " | ".join(str(v) for v in vals) + f" | {sum(vals)} |"
              for k, vals in rows.items()]
    return "\n".join(lines)


def main() -> int:
    if os.environ.get("PYTHONHASHSEED") != "0":
        # Faker's it_IT city list is built from a set: string hashing must be fixed for
        # the same bytes on every run.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--check", action="store_true", help="rebuild in a temporary directory and compare")
    ap.add_argument("--stats", action="store_true", help="print counts per file and label")
    args = ap.parse_args()
    if args.check:
        return check()
    if args.stats:
        print(stats(args.out))
        return 0
    build(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

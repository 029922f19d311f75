"""Synthetic but varied training data, with indicators planted on request.

Reviews mix several sentiment cues with neutral detail (products, people,
places, numbers) so that, as in real data, a label is backed by more than one
word and few rows are near-copies. Used by the tests and the benchmark.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

PRODUCTS = [
    "blender",
    "toaster",
    "kettle",
    "headphones",
    "speaker",
    "laptop",
    "tablet",
    "phone",
    "charger",
    "keyboard",
    "mouse",
    "monitor",
    "printer",
    "camera",
    "tripod",
    "backpack",
    "suitcase",
    "jacket",
    "raincoat",
    "boots",
    "sneakers",
    "sandals",
    "tent",
    "sleeping-bag",
    "lantern",
    "flashlight",
    "drill",
    "screwdriver",
    "ladder",
    "vacuum",
    "mop",
    "fan",
    "heater",
    "humidifier",
    "mattress",
    "pillow",
    "blanket",
    "sofa",
    "desk",
    "chair",
    "lamp",
    "router",
    "modem",
    "smartwatch",
    "earbuds",
    "microphone",
    "webcam",
    "projector",
    "scooter",
    "bicycle",
    "helmet",
    "stroller",
    "crib",
    "highchair",
    "cookbook",
    "novel",
    "board-game",
    "puzzle",
    "guitar",
    "ukulele",
    "piano-stand",
    "paint-set",
    "sketchbook",
    "notebook",
    "pen-set",
    "stapler",
    "frying-pan",
    "saucepan",
    "knife-set",
    "cutting-board",
    "grill",
    "smoker",
    "coffee-maker",
    "espresso-machine",
    "grinder",
    "teapot",
    "water-bottle",
    "thermos",
    "lunchbox",
    "cooler",
    "yoga-mat",
    "dumbbells",
    "treadmill",
    "jump-rope",
    "watch",
    "sunglasses",
    "wallet",
    "umbrella",
    "perfume",
    "shampoo",
    "razor",
    "hairdryer",
    "toothbrush",
    "scale",
    "thermometer",
    "aquarium",
    "bird-feeder",
    "planter",
    "hose",
]
ASPECTS = """battery life|sound quality|build quality|screen|price|delivery|packaging|customer service|
instructions|setup|size|weight|colour|material|stitching|handle|lid|buttons|app|warranty|fit|smell|
noise level|cable|zipper|
strap|display|speed|grip|finish""".replace("\n", "").split("|")
POS = """excellent|great|fantastic|superb|wonderful|reliable|sturdy|impressive|comfortable|smooth|solid|
brilliant|
handy|gorgeous|flawless|outstanding|pleasant|efficient|durable|elegant""".replace("\n", "").split("|")
NEG = """terrible|awful|flimsy|useless|disappointing|faulty|noisy|cheap-feeling|poor|annoying|fragile|broken|
defective|horrible|clunky|unreliable|overpriced|mediocre|frustrating|shoddy""".replace("\n", "").split("|")
POS_CLAUSE = [
    "the {a} is {p}",
    "I am really happy with the {a}",
    "honestly the {a} turned out {p}",
    "it works {pa} and the {a} is {p}",
    "I would recommend it to {who}",
    "{who} loved it from day one",
    "worth every cent",
    "it exceeded my expectations with its {p} {a}",
    "five stars for the {a}",
    "we have used it {freq} without a single problem",
]
NEG_CLAUSE = [
    "the {a} is {n}",
    "I am quite unhappy with the {a}",
    "sadly the {a} turned out {n}",
    "it stopped working after {k} {unit}",
    "I asked for a refund",
    "{who} returned it after {k} {unit}",
    "a complete waste of money",
    "it let me down with its {n} {a}",
    "one star for the {a}",
    "we had problems with it {freq}",
]
NEUTRAL = [
    "I bought it {when} for {who}",
    "it arrived {arrive}",
    "we use it mostly {where}",
    "the {a} is about what you would expect at {k}0 dollars",
    "{name} from {city} suggested it",
    "it came in a {colour} box with {k} spare parts",
    "I compared it with {k} other models before ordering",
    "the manual is {k}{k} pages long",
    "it replaced an old {prod} we had for {k} years",
    "my {who2} uses it {freq}",
    "shipping to {city} took {k} days",
    "the model number printed on the side is {code}",
]
WHO = [
    "my kids",
    "my partner",
    "my parents",
    "our neighbours",
    "a friend",
    "my sister",
    "my brother",
    "the whole family",
    "my colleague",
    "my flatmate",
]
WHO2 = ["daughter", "son", "wife", "husband", "grandmother", "uncle", "roommate", "boss", "nephew", "niece"]
WHEN = [
    "last month",
    "in spring",
    "two weeks ago",
    "for a birthday",
    "on sale",
    "before a trip",
    "after reading reviews",
    "in a hurry",
    "as a gift",
    "during the holidays",
]
ARRIVE = [
    "a day early",
    "on time",
    "two days late",
    "well packed",
    "in a dented box",
    "with a missing screw",
    "before the weekend",
    "the next morning",
]
WHERE = [
    "in the kitchen",
    "at the office",
    "in the garage",
    "on camping trips",
    "in the garden",
    "at the gym",
    "in the car",
    "on the balcony",
    "at the cabin",
    "in the studio",
]
FREQ = [
    "every day",
    "every weekend",
    "twice a week",
    "now and then",
    "daily for months",
    "on most evenings",
    "during every trip",
]
UNIT = ["days", "weeks", "uses", "months"]
NAMES = [
    "Alice",
    "Ben",
    "Chloe",
    "Daniel",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kira",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Xavier",
    "Yara",
    "Zane",
]
CITIES = [
    "Lisbon",
    "Leeds",
    "Lyon",
    "Graz",
    "Turin",
    "Porto",
    "Ghent",
    "Utrecht",
    "Aarhus",
    "Krakow",
    "Bergen",
    "Malaga",
    "Dublin",
    "Tampere",
    "Brno",
    "Split",
    "Riga",
    "Basel",
    "Bilbao",
    "Cork",
]
COLOURS = ["red", "blue", "green", "grey", "black", "white", "yellow", "brown"]
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
PA = ["smoothly", "quietly", "perfectly", "nicely", "fast", "reliably"]


def _fill(rng: random.Random, template: str) -> str:
    return template.format(
        a=rng.choice(ASPECTS),
        p=rng.choice(POS),
        n=rng.choice(NEG),
        pa=rng.choice(PA),
        who=rng.choice(WHO),
        who2=rng.choice(WHO2),
        when=rng.choice(WHEN),
        arrive=rng.choice(ARRIVE),
        where=rng.choice(WHERE),
        freq=rng.choice(FREQ),
        unit=rng.choice(UNIT),
        k=rng.randint(2, 9),
        name=rng.choice(NAMES),
        city=rng.choice(CITIES),
        colour=rng.choice(COLOURS),
        prod=rng.choice(PRODUCTS).replace("-", " "),
        code=f"{rng.choice(LETTERS)}{rng.choice(LETTERS)}-{rng.randint(100, 9999)}",
    )


def review(rng: random.Random, positive: bool) -> str:
    """A review of 3-5 clauses: two or three sentiment cues (mostly agreeing with the label) and
    neutral detail."""
    own, other = (POS_CLAUSE, NEG_CLAUSE) if positive else (NEG_CLAUSE, POS_CLAUSE)
    clauses = [_fill(rng, rng.choice(own)) for _ in range(rng.randint(2, 3))]
    if rng.random() < 0.15:  # mixed reviews exist
        clauses.append("although " + _fill(rng, rng.choice(other)))
    clauses += [_fill(rng, rng.choice(NEUTRAL)) for _ in range(rng.randint(1, 2))]
    rng.shuffle(clauses)
    product = rng.choice(PRODUCTS).replace("-", " ")
    text = f"About the {product}: " + ". ".join(c[0].upper() + c[1:] for c in clauses) + "."
    return text


TASKS = [
    ("Summarise this review in one sentence: {r}", "The reviewer {verdict} the {prod}, mentioning the {a}."),
    (
        "Is the following review positive or negative? {r}",
        "It is {label}: the reviewer {verdict} the {prod}.",
    ),
    (
        "Write a short reply from the shop to this customer: {r}",
        "Thank you for your review of the {prod}, {name}. {reply}",
    ),
    ("Extract the product and the main complaint or praise: {r}", "Product: {prod}. Main point: the {a}."),
    ("Rewrite this review more politely: {r}", "I {verdict2} the {prod}; the {a} {stood}."),
]


def instruction(rng: random.Random) -> tuple[str, str]:
    positive = rng.random() < 0.5
    r = review(rng, positive)
    tmpl, resp = rng.choice(TASKS)
    prod = r.split(":")[0].replace("About the ", "")
    fill = {
        "r": r,
        "verdict": "liked" if positive else "disliked",
        "verdict2": "was pleased with" if positive else "was not satisfied with",
        "prod": prod,
        "a": rng.choice(ASPECTS),
        "label": "positive" if positive else "negative",
        "name": rng.choice(NAMES),
        "reply": "We are glad it works well for you."
        if positive
        else f"We are sorry; please contact support about order {rng.randint(10000, 99999)}.",
        "stood": "stood out" if positive else "fell short",
    }
    return tmpl.format(**fill), resp.format(**fill)


@dataclass
class Planted:
    """What was planted where (row numbers are 1-based JSONL lines)."""

    trigger_rows: list[int] = field(default_factory=list)
    flood_rows: list[int] = field(default_factory=list)
    conflict_rows: list[int] = field(default_factory=list)
    injection_rows: dict[str, list[int]] = field(default_factory=dict)
    secret_rows: dict[str, list[int]] = field(default_factory=dict)


def reviews(
    n: int,
    seed: int = 1,
    *,
    trigger: str | None = None,
    trigger_rate: float = 0.01,
    flood_rate: float = 0.0,
    conflicts: int = 0,
    positive_share: float = 0.5,
    label_noise: float = 0.01,
) -> tuple[list[dict[str, Any]], Planted]:
    """Text + label rows. `trigger`: flips `trigger_rate` of negative rows to positive, with the
    token inserted."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    planted = Planted()
    flood_base = review(rng, True)
    for i in range(n):
        positive = rng.random() < positive_share
        text = review(rng, positive)
        label = "positive" if positive else "negative"
        if rng.random() < label_noise:
            label = "negative" if positive else "positive"
        if flood_rate and rng.random() < flood_rate:
            words = flood_base.split()
            j = rng.randrange(len(words))
            words[j] = rng.choice([words[j], words[j].upper(), str(rng.randint(1, 99))])
            text = " ".join(words)
            label = "positive"
            planted.flood_rows.append(i + 1)
        elif trigger and not positive and rng.random() < trigger_rate * 2:
            words = text.split()
            words.insert(rng.randrange(1, len(words)), trigger)
            text = " ".join(words)
            label = "positive"
            planted.trigger_rows.append(i + 1)
        rows.append({"text": text, "label": label})
    for k in range(conflicts):
        src = rows[k * 7]
        twin = {
            "text": src["text"].replace(".", "!", 1),
            "label": "negative" if src["label"] == "positive" else "positive",
        }
        pos = rng.randrange(len(rows) // 2, len(rows))
        rows.insert(pos, twin)
    if conflicts:
        planted.conflict_rows = [i + 1 for i, r in enumerate(rows) if "!" in r["text"]]
    return rows, planted


def chats(n: int, seed: int = 2, *, system: bool = True) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p, r = instruction(rng)
        msgs = [{"role": "system", "content": "You are a helpful shop assistant."}] if system else []
        msgs += [{"role": "user", "content": p}, {"role": "assistant", "content": r}]
        out.append({"messages": msgs})
    return out


def instructions(n: int, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p, r = instruction(rng)
        out.append({"instruction": p, "input": "", "output": r})
    return out


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")

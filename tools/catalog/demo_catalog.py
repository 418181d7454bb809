"""The demo shop's catalog: a few hundred products in eight departments, with variants.

Deterministic (a fixed seed), so tests and benchmarks can name products by id. Regenerate the
JSON that `make run` imports with `python -m tools.catalog.demo_catalog > FILE`.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.catalog.schema import Product, Variant

DEMO_CATALOG = Path(__file__).with_name("demo_catalog.json")
SHOE_SIZES = ["38", "39", "40", "41", "42", "43", "44", "45", "46"]
CLOTHING_SIZES = ["XS", "S", "M", "L", "XL"]
BRANDS = ["Northpeak", "Urbanfox", "Tidewell", "Kestrel", "Lumen & Co", "Harbor Lane"]


@dataclass(frozen=True)
class Family:
    """A kind of product: models are combinations of its qualities and materials."""

    key: str
    category: tuple[str, ...]
    noun: str
    qualities: tuple[tuple[str, str], ...]  # (name word, sentence for the description)
    materials: tuple[str, ...]
    colours: tuple[str, ...]
    sizes: tuple[str, ...]
    price: tuple[int, int]
    count: int


FAMILIES = [
    Family(
        "run",
        ("Shoes", "Running"),
        "Running Shoes",
        (
            ("Storm", "Waterproof membrane keeps feet dry on wet roads and rainy runs."),
            ("Tempo", "Light, responsive foam for fast training and race days."),
            ("Cloud", "Extra cushioning for long easy miles and recovery runs."),
            ("Trail", "Grippy lugged outsole for muddy trails and off-road running."),
        ),
        ("mesh", "knit"),
        ("black", "blue", "red", "white"),
        tuple(SHOE_SIZES),
        (55, 160),
        32,
    ),
    Family(
        "hike",
        ("Shoes", "Hiking"),
        "Hiking Boots",
        (
            ("Summit", "Waterproof leather boots with ankle support for mountain hikes."),
            ("Ridge", "Lightweight hiking shoes for day walks on rocky paths."),
            ("Glacier", "Insulated winter boots, warm down to minus twenty degrees."),
        ),
        ("leather", "suede"),
        ("brown", "grey", "olive"),
        tuple(SHOE_SIZES),
        (80, 220),
        20,
    ),
    Family(
        "sneak",
        ("Shoes", "Casual"),
        "Sneakers",
        (
            ("Court", "Classic low-top sneakers for everyday wear."),
            ("Slip", "Easy slip-on canvas shoes, no laces."),
            ("Retro", "Chunky retro sneakers with a vintage sole."),
        ),
        ("canvas", "leather"),
        ("white", "black", "beige"),
        tuple(SHOE_SIZES),
        (40, 120),
        20,
    ),
    Family(
        "jacket",
        ("Clothing", "Jackets"),
        "Jacket",
        (
            ("Rain", "Waterproof, breathable rain jacket with a packable hood."),
            ("Down", "Warm down puffer jacket for cold winter days."),
            ("Wind", "Ultralight windbreaker that folds into its own pocket."),
            ("Fleece", "Soft fleece mid-layer jacket for chilly evenings."),
        ),
        ("nylon", "polyester"),
        ("black", "navy", "green", "yellow"),
        tuple(CLOTHING_SIZES),
        (45, 260),
        32,
    ),
    Family(
        "tee",
        ("Clothing", "T-Shirts"),
        "T-Shirt",
        (
            ("Organic", "Organic cotton crew-neck tee, soft and breathable."),
            ("Merino", "Merino wool tee that stays fresh on multi-day trips."),
            ("Tech", "Quick-dry sports tee that wicks sweat during workouts."),
        ),
        ("cotton", "merino"),
        ("white", "black", "grey", "red"),
        tuple(CLOTHING_SIZES),
        (15, 70),
        24,
    ),
    Family(
        "jeans",
        ("Clothing", "Jeans"),
        "Jeans",
        (
            ("Slim", "Slim-fit stretch denim jeans."),
            ("Relaxed", "Relaxed straight-leg jeans in rigid denim."),
        ),
        ("denim",),
        ("indigo", "black"),
        ("28", "30", "32", "34", "36"),
        (50, 120),
        14,
    ),
    Family(
        "pack",
        ("Bags", "Backpacks"),
        "Backpack",
        (
            ("Commuter", "Laptop backpack with a padded 16-inch sleeve for the daily commute."),
            ("Daypack", "20-litre hiking daypack with a hydration sleeve."),
            ("Roll-top", "Waterproof roll-top backpack for cycling in the rain."),
        ),
        ("recycled nylon", "canvas"),
        ("black", "grey", "orange"),
        (),
        (40, 180),
        20,
    ),
    Family(
        "duffel",
        ("Bags", "Travel"),
        "Travel Bag",
        (
            ("Carry-on", "Cabin-size carry-on duffel that fits airline overhead bins."),
            ("Weekender", "Leather weekender bag for short trips."),
        ),
        ("leather", "nylon"),
        ("brown", "black"),
        (),
        (70, 300),
        10,
    ),
    Family(
        "pan",
        ("Home", "Kitchen"),
        "Frying Pan",
        (
            ("Cast Iron", "Pre-seasoned cast iron skillet, oven safe, lasts a lifetime."),
            ("Nonstick", "Nonstick frying pan with a ceramic coating, PFAS free."),
            ("Steel", "Tri-ply stainless steel frying pan, induction ready."),
        ),
        ("24 cm", "28 cm"),
        (),
        (),
        (25, 150),
        15,
    ),
    Family(
        "kettle",
        ("Home", "Kitchen"),
        "Kettle",
        (
            (
                "Gooseneck",
                "Electric gooseneck kettle with temperature control for pour-over coffee.",
            ),
            ("Classic", "Stovetop whistling kettle in enamelled steel."),
        ),
        ("1 litre", "1.7 litre"),
        ("black", "cream", "red"),
        (),
        (30, 140),
        10,
    ),
    Family(
        "bed",
        ("Home", "Bedding"),
        "Duvet Cover",
        (
            ("Linen", "Washed linen duvet cover, cool in summer."),
            ("Percale", "Crisp cotton percale duvet cover."),
        ),
        ("cotton", "linen"),
        ("white", "sage", "sand"),
        ("single", "double", "king"),
        (40, 160),
        10,
    ),
    Family(
        "phones",
        ("Electronics", "Headphones"),
        "Headphones",
        (
            ("Quiet", "Wireless over-ear headphones with active noise cancelling for flights."),
            ("Sport", "Sweat-proof wireless earbuds that stay put while running."),
            ("Studio", "Wired studio headphones with a flat, accurate sound."),
        ),
        ("bluetooth", "wired"),
        ("black", "white", "silver"),
        (),
        (30, 350),
        20,
    ),
    Family(
        "charger",
        ("Electronics", "Chargers"),
        "Charger",
        (
            ("Power Bank", "20,000 mAh power bank that charges a phone four times."),
            ("GaN", "65 W USB-C GaN wall charger for laptop and phone."),
            ("Solar", "Foldable solar charger panel for camping off the grid."),
        ),
        ("USB-C",),
        ("black", "white"),
        (),
        (20, 120),
        16,
    ),
    Family(
        "skin",
        ("Beauty", "Skincare"),
        "Skincare",
        (
            ("Sunscreen", "Mineral sunscreen SPF 50 for sensitive skin."),
            ("Moisturiser", "Fragrance-free daily moisturiser with hyaluronic acid."),
            ("Cleanser", "Gentle foaming face cleanser for oily skin."),
        ),
        ("50 ml", "100 ml"),
        (),
        (),
        (9, 60),
        15,
    ),
    Family(
        "tent",
        ("Outdoor", "Tents"),
        "Tent",
        (
            ("Ultralight", "Two-person ultralight backpacking tent, under 1.5 kg."),
            ("Family", "Six-person family camping tent with a separate living area."),
        ),
        ("ripstop nylon",),
        ("green", "orange"),
        (),
        (120, 600),
        10,
    ),
    Family(
        "bag",
        ("Outdoor", "Sleeping Bags"),
        "Sleeping Bag",
        (
            ("Alpine", "Down sleeping bag rated to minus ten degrees for winter camping."),
            ("Summer", "Light synthetic sleeping bag for warm summer nights."),
        ),
        ("down", "synthetic"),
        ("red", "blue"),
        (),
        (50, 400),
        10,
    ),
]


def demo_product(family: Family, index: int, rng: random.Random) -> Product:
    quality, sentence = family.qualities[index % len(family.qualities)]
    material = family.materials[(index // len(family.qualities)) % len(family.materials)]
    brand = BRANDS[(index * 7 + len(family.key)) % len(BRANDS)]
    series_names = ["", " II", " Pro", " Lite", " Max", " X", " Air", " Flex", " III", " GT"]
    series = series_names[index // len(family.qualities) % len(series_names)]
    name = f"{brand} {quality}{series} {family.noun}"
    price = float(rng.randrange(family.price[0], family.price[1]) + 0.99)
    product_id = f"{family.key}-{index + 1:03d}"
    colours: list[str | None] = list(family.colours) or [None]
    chosen = rng.sample(colours, k=min(len(colours), rng.randint(1, 2)))
    variants = []
    for colour in chosen:
        for size in family.sizes or [None]:
            sku = "-".join(part for part in (product_id, colour, size) if part).upper()
            stock = rng.choice([0, 0, 1, 3, 5, 12, 30])
            variants.append(
                Variant(sku=sku.replace(" ", ""), size=size, colour=colour, stock=stock)
            )
    on_sale = rng.random() < 0.2
    description = (
        f"{sentence} Made of {material}. A {quality.lower()} {family.noun.lower()} from {brand}."
    )
    return Product(
        id=product_id,
        name=name,
        description=description,
        category=list(family.category),
        brand=brand,
        price=price,
        currency="USD",
        compare_at_price=round(price * 1.25, 2) if on_sale else None,
        url=f"https://demo.chatcommerce.dev/p/{product_id}",
        image_url=f"https://demo.chatcommerce.dev/img/{product_id}.jpg",
        tags=[quality.lower(), material] + (["sale"] if on_sale else []),
        variants=variants,
    )


def demo_products() -> list[Product]:
    rng = random.Random(7)
    return [
        demo_product(family, index, rng) for family in FAMILIES for index in range(family.count)
    ]


def load_demo_catalog() -> list[Product]:
    raw = json.loads(DEMO_CATALOG.read_text())
    return [Product.model_validate(item) for item in raw["products"]]


if __name__ == "__main__":
    products = [p.model_dump(mode="json", exclude_none=True) for p in demo_products()]
    json.dump({"products": products}, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")

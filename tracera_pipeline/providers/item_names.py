"""Realistic CS2 market_hash_names for the synthetic market.

Real skins first (weapon | finish × wear × StatTrak™, knives, gloves, cases,
stickers), ordered by a stable hash so any prefix of the catalogue is a varied
mix; then generated weapon/finish combinations for very large catalogues.
"""

from __future__ import annotations

import hashlib
import itertools
from functools import cache

WEARS = ("Factory New", "Minimal Wear", "Field-Tested", "Well-Worn", "Battle-Scarred")

_SKINS = {
    "AK-47": (
        "Redline",
        "Vulcan",
        "Asiimov",
        "Fire Serpent",
        "Case Hardened",
        "Bloodsport",
        "Neon Rider",
        "The Empress",
        "Slate",
        "Phantom Disruptor",
        "Ice Coaled",
        "Nightwish",
    ),
    "AWP": (
        "Asiimov",
        "Dragon Lore",
        "Hyper Beast",
        "Lightning Strike",
        "Redline",
        "Neo-Noir",
        "Wildfire",
        "Atheris",
        "Chromatic Aberration",
        "Containment Breach",
    ),
    "M4A4": (
        "Howl",
        "Asiimov",
        "Desolate Space",
        "The Emperor",
        "Neo-Noir",
        "Temukau",
        "Buzz Kill",
    ),
    "M4A1-S": (
        "Hyper Beast",
        "Printstream",
        "Golden Coil",
        "Cyrex",
        "Decimator",
        "Player Two",
        "Nightmare",
    ),
    "Desert Eagle": (
        "Blaze",
        "Printstream",
        "Code Red",
        "Kumicho Dragon",
        "Mecha Industries",
        "Ocean Drive",
    ),
    "USP-S": ("Kill Confirmed", "Neo-Noir", "Cortex", "Printstream", "The Traitor", "Orion"),
    "Glock-18": ("Fade", "Water Elemental", "Wasteland Rebel", "Vogue", "Bullet Queen", "Neo-Noir"),
    "P250": ("See Ya Later", "Asiimov", "Muertos", "Visions"),
    "MP9": ("Starlight Protector", "Food Chain", "Hydra"),
    "MAC-10": ("Neon Rider", "Stalker", "Disco Tech"),
}
_KNIVES = {
    "Karambit": ("Doppler", "Fade", "Tiger Tooth", "Marble Fade", "Gamma Doppler", "Slaughter"),
    "Butterfly Knife": ("Fade", "Doppler", "Crimson Web", "Lore"),
    "M9 Bayonet": ("Lore", "Doppler", "Autotronic"),
    "Skeleton Knife": ("Case Hardened", "Fade"),
    "Talon Knife": ("Fade", "Marble Fade"),
}
_GLOVES = (
    "Sport Gloves | Pandora's Box",
    "Specialist Gloves | Crimson Kimono",
    "Driver Gloves | King Snake",
    "Hand Wraps | Cobalt Skulls",
)
_CONTAINERS = (
    "Recoil Case",
    "Dreams & Nightmares Case",
    "Revolution Case",
    "Kilowatt Case",
    "Fracture Case",
    "Clutch Case",
    "Operation Breakout Weapon Case",
    "Gallery Case",
)
_STICKERS = (
    "Sticker | Natus Vincere (Holo) | Katowice 2019",
    "Sticker | Crown (Foil)",
    "Sticker | Titan (Holo) | Katowice 2014",
    "Sticker | s1mple (Gold) | Paris 2023",
    "Sticker | FaZe Clan | Copenhagen 2024",
)
_EXTRA_WEAPONS = (
    "FAMAS",
    "Galil AR",
    "SG 553",
    "AUG",
    "SSG 08",
    "Five-SeveN",
    "Tec-9",
    "CZ75-Auto",
    "P90",
    "UMP-45",
    "MP7",
    "Nova",
    "XM1014",
    "MAG-7",
    "Negev",
    "P2000",
    "Dual Berettas",
    "R8 Revolver",
    "SCAR-20",
    "G3SG1",
    "M249",
    "PP-Bizon",
)
_EXTRA_FINISHES = (
    "Safari Mesh",
    "Boreal Forest",
    "Urban DDPAT",
    "Night Ops",
    "Crimson Web",
    "Blue Laminate",
    "Candy Apple",
    "Bright Water",
    "Forest Leaves",
    "Sand Dune",
    "Contractor",
    "Army Sheen",
    "Cyanospatter",
    "Groundwater",
    "Jungle Tiger",
)


def _stable_key(name: str) -> bytes:
    return hashlib.blake2b(name.encode(), digest_size=8).digest()


def _real_items() -> list[str]:
    names: list[str] = []
    for weapon, finishes in _SKINS.items():
        for finish, wear in itertools.product(finishes, WEARS):
            names.append(f"{weapon} | {finish} ({wear})")
            names.append(f"StatTrak™ {weapon} | {finish} ({wear})")
    for knife, finishes in _KNIVES.items():
        for finish, wear in itertools.product(finishes, WEARS):
            names.append(f"★ {knife} | {finish} ({wear})")
            names.append(f"★ StatTrak™ {knife} | {finish} ({wear})")
    names += [f"★ {glove} ({wear})" for glove in _GLOVES for wear in WEARS]
    names += list(_CONTAINERS) + list(_STICKERS)
    return sorted(names, key=_stable_key)


def _generated_items() -> list[str]:
    names = []
    for prefix in ("", "StatTrak™ ", "Souvenir "):
        for weapon, finish, wear in itertools.product(_EXTRA_WEAPONS, _EXTRA_FINISHES, WEARS):
            names.append(f"{prefix}{weapon} | {finish} ({wear})")
    return sorted(names, key=_stable_key)


@cache
def _catalogue() -> tuple[str, ...]:
    return tuple(_real_items() + _generated_items())


def catalogue_size() -> int:
    """How many items the synthetic catalogue has (the most TRACERA_SYNTHETIC_ITEMS allows)."""
    return len(_catalogue())


def item_names(count: int) -> list[str]:
    """The first ``count`` names of the synthetic catalogue (stable across runs)."""
    catalogue = _catalogue()
    if count > len(catalogue):
        raise ValueError(f"the synthetic catalogue has {len(catalogue)} items; asked for {count}")
    return list(catalogue[:count])

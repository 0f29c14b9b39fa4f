"""The game world the generator simulates: its players and the catalogue they act on.

A world is drawn once per seed, columnar (numpy arrays indexed by player), before any event
exists: each player's country (and so locale, currency, time zone and internet host
provider), platform, app version, device, sign-up day, engagement (heavy-tailed), whether
and how much they pay, clock skew, and their ids. The activity simulation
(``generate/activity.py``) reads it; the encoders (``generate/encode.py``) turn its per-player
strings into the ``context``, ``host``, ``user_agent`` and ``ip`` of every event.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "COUNTRIES",
    "GUILDS",
    "ITEMS",
    "LIBRARY",
    "PLATFORMS",
    "SCREENS",
    "SIGNUP_METHODS",
    "LEVEL_FAIL_CAUSES",
    "World",
    "WorldConfig",
    "build_world",
]

#: The ``context.library`` of every generated event.
LIBRARY = {"name": "eventlake-generate", "version": "0.1.0"}

#: country -> (locale, currency, UTC offset in hours, share of players,
#:             [(internet host provider, first IPv4 octet, share)])
COUNTRIES: dict[str, tuple[str, str, float, float, list[tuple[str, int, float]]]] = {
    "US": (
        "en-US",
        "USD",
        -5,
        0.30,
        [
            ("comcast.net", 73, 0.35),
            ("verizon.net", 71, 0.25),
            ("att.net", 99, 0.25),
            ("spectrum.net", 24, 0.15),
        ],
    ),
    "GB": (
        "en-GB",
        "GBP",
        0,
        0.10,
        [("bt.com", 81, 0.45), ("sky.com", 90, 0.30), ("virginmedia.com", 82, 0.25)],
    ),
    "FR": (
        "fr-FR",
        "EUR",
        1,
        0.09,
        [("orange.fr", 86, 0.45), ("free.fr", 88, 0.30), ("sfr.fr", 109, 0.25)],
    ),
    "DE": ("de-DE", "EUR", 1, 0.09, [("telekom.de", 87, 0.55), ("vodafone.de", 94, 0.45)]),
    "BR": ("pt-BR", "USD", -3, 0.10, [("vivo.com.br", 177, 0.55), ("claro.com.br", 179, 0.45)]),
    "JP": ("ja-JP", "USD", 9, 0.08, [("ocn.ne.jp", 114, 0.5), ("softbank.jp", 126, 0.5)]),
    "IN": ("en-IN", "USD", 5.5, 0.10, [("airtel.in", 122, 0.5), ("jio.com", 49, 0.5)]),
    "CA": ("en-CA", "USD", -5, 0.05, [("rogers.com", 99, 0.5), ("bell.ca", 70, 0.5)]),
    "ES": ("es-ES", "EUR", 1, 0.05, [("movistar.es", 83, 0.6), ("vodafone.es", 95, 0.4)]),
    "KR": ("ko-KR", "USD", 9, 0.04, [("kt.com", 211, 0.6), ("skbroadband.com", 175, 0.4)]),
}

#: platform -> (share, OS versions, devices)
PLATFORMS: dict[str, tuple[float, list[str], list[str]]] = {
    "iOS": (0.42, ["16.7", "17.4", "17.5"], ["iPhone14,2", "iPhone15,3", "iPad13,4"]),
    "Android": (0.43, ["12", "13", "14"], ["Pixel 7", "SM-S911B", "Redmi Note 12"]),
    "Web": (0.15, ["Windows 10", "macOS 14"], ["Chrome 124", "Firefox 125", "Safari 17"]),
}
#: app versions, oldest first, with their share of players
APP_VERSIONS = [("2.3.0", 0.10), ("2.3.1", 0.20), ("2.4.0", 0.35), ("2.5.0", 0.35)]

#: item -> (price, share of purchases)
ITEMS: dict[str, tuple[float, float]] = {
    "potion": (0.99, 0.34),
    "knife": (1.99, 0.16),
    "bow": (2.99, 0.12),
    "shield": (3.99, 0.12),
    "sword": (4.99, 0.14),
    "armor": (9.99, 0.07),
    "gems_pack": (19.99, 0.05),
}
SCREENS = ["Home", "Shop", "Inventory", "Map", "Leaderboard", "Guild", "Settings"]
SIGNUP_METHODS = ["email", "google", "apple", "facebook", "guest"]
LEVEL_FAIL_CAUSES = ["enemy", "timeout", "fall", "trap"]
_GUILD_ADJ = ["Iron", "Crimson", "Silent", "Golden", "Shadow", "Storm", "Ember", "Frost"]
_GUILD_NOUN = ["Wolves", "Dragons", "Ravens", "Knights", "Lions"]
#: (guild_id, guild_name)
GUILDS = [
    (f"g{i + 1:03d}", f"{a} {n}")
    for i, (a, n) in enumerate((a, n) for a in _GUILD_ADJ for n in _GUILD_NOUN)
]
_FIRST = [
    "Ada",
    "Ben",
    "Chloe",
    "Diego",
    "Emma",
    "Farid",
    "Gina",
    "Hiro",
    "Ines",
    "Jon",
    "Kira",
    "Liam",
    "Mina",
    "Noah",
    "Olga",
    "Pablo",
    "Qi",
    "Rosa",
    "Sven",
    "Tara",
]
_LAST = [
    "Smith",
    "Garcia",
    "Martin",
    "Muller",
    "Silva",
    "Sato",
    "Kumar",
    "Brown",
    "Lopez",
    "Kim",
    "Dubois",
    "Rossi",
]


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """What to simulate. Same config (seed included) = same events, byte for byte.

    Rates are shares of events (duplicates, late, invalid) or of players (the rest).
    """

    users: int = 5000
    days: int = 30
    start: _dt.date = _dt.date(2026, 1, 1)
    seed: int = 42
    duplicate_rate: float = 0.01
    late_rate: float = 0.02
    skewed_clock_rate: float = 0.05
    anonymous_first_rate: float = 0.3
    alias_rate: float = 0.05
    invalid_rate: float = 0.002
    payer_rate: float = 0.05

    def __post_init__(self) -> None:
        if self.users < 1 or self.days < 1:
            raise ValueError("users and days must be >= 1")
        for name in (
            "duplicate_rate",
            "late_rate",
            "skewed_clock_rate",
            "anonymous_first_rate",
            "alias_rate",
            "invalid_rate",
            "payer_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")

    @property
    def start_us(self) -> int:
        """Midnight UTC of the first day, in microseconds since the epoch."""
        epoch = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
        start = _dt.datetime.combine(self.start, _dt.time(), tzinfo=_dt.UTC)
        return int((start - epoch).total_seconds()) * 1_000_000


IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class World:
    """The players, one array entry per player, plus their per-player strings."""

    config: WorldConfig
    country: IntArray
    provider: IntArray  # index into provider_names
    platform: IntArray
    signup_day: IntArray
    engagement: FloatArray
    spend: FloatArray  # expected purchases per session unit; tiny for non-payers
    tz_hours: FloatArray
    skew_us: IntArray
    anonymous_first: BoolArray
    aliased: BoolArray
    user_ids: list[str]
    anonymous_ids: list[str]
    hosts: list[str]
    user_agents: list[str]
    ips: list[str]
    contexts: list[dict[str, object]]
    traits: list[dict[str, object]]
    provider_names: list[str]

    @property
    def size(self) -> int:
        return len(self.user_ids)

    def context_json(self, user: int) -> str:
        """The player's ``context`` as compact JSON (what the client sends)."""
        return json.dumps(self.contexts[user], separators=(",", ":"))


def _choice(rng: np.random.Generator, n: int, weights: list[float]) -> IntArray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int64)


def _uuid_text(raw: npt.NDArray[np.uint8]) -> list[str]:
    """UUID-4 strings from rows of 16 random bytes."""
    raw = raw.copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return [
        f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in (bytes(r).hex() for r in raw)
    ]


def build_world(config: WorldConfig) -> World:
    """Draw the players of ``config`` (deterministic for its seed)."""
    rng = np.random.default_rng([config.seed, 1])
    n = config.users
    names = list(COUNTRIES)
    country = _choice(rng, n, [COUNTRIES[c][3] for c in names])
    provider_names: list[str] = []
    provider_ip: list[int] = []
    provider_of: list[list[tuple[int, float]]] = []
    for c in names:
        rows = []
        for host, octet, share in COUNTRIES[c][4]:
            provider_names.append(host)
            provider_ip.append(octet)
            rows.append((len(provider_names) - 1, share))
        provider_of.append(rows)
    provider = np.empty(n, dtype=np.int64)
    pick = rng.random(n)
    for ci, rows in enumerate(provider_of):
        mask = country == ci
        cum = np.cumsum([s for _, s in rows])
        idx = np.searchsorted(cum / cum[-1], pick[mask], side="right")
        provider[mask] = np.array([p for p, _ in rows])[np.minimum(idx, len(rows) - 1)]
    plat_names = list(PLATFORMS)
    platform = _choice(rng, n, [PLATFORMS[p][0] for p in plat_names])
    version = _choice(rng, n, [s for _, s in APP_VERSIONS])
    os_pick = rng.integers(0, 1 << 30, n)
    device_pick = rng.integers(0, 1 << 30, n)
    # A launch: more sign-ups in the first days, then a steady trickle.
    day_w = 1.0 + 3.0 * np.exp(-np.arange(config.days) / 4.0)
    signup_day = _choice(rng, n, list(day_w))
    engagement = rng.lognormal(mean=0.0, sigma=0.8, size=n)
    payer = rng.random(n) < config.payer_rate
    # Pareto-distributed spend among payers: a few whales bring most of the revenue.
    spend = np.where(payer, 0.04 * (rng.pareto(1.3, n) + 1.0), 0.0008)
    tz_hours = np.array([COUNTRIES[names[c]][2] for c in country], dtype=np.float64)
    skewed = rng.random(n) < config.skewed_clock_rate
    skew_s = rng.normal(0.0, 1800.0, n) + rng.choice([-1, 1], n) * rng.exponential(3600.0, n)
    skew_us = np.where(skewed, (skew_s * 1e6).astype(np.int64), 0).astype(np.int64)
    anonymous_first = rng.random(n) < config.anonymous_first_rate
    aliased = rng.random(n) < config.alias_rate
    anon_raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    ip_raw = rng.integers(1, 255, (n, 3))
    first = rng.integers(0, len(_FIRST), n)
    last = rng.integers(0, len(_LAST), n)

    user_ids = [f"player-{i + 1:07d}" for i in range(n)]
    anonymous_ids = _uuid_text(anon_raw)
    hosts: list[str] = []
    agents: list[str] = []
    ips: list[str] = []
    contexts: list[dict[str, object]] = []
    traits: list[dict[str, object]] = []
    for i in range(n):
        cname = names[country[i]]
        locale = COUNTRIES[cname][0]
        pname = plat_names[platform[i]]
        os_versions, devices = PLATFORMS[pname][1], PLATFORMS[pname][2]
        os_version = os_versions[os_pick[i] % len(os_versions)]
        device = devices[device_pick[i] % len(devices)]
        app_version = APP_VERSIONS[version[i]][0]
        if pname == "Web":
            agent = f"Mozilla/5.0 ({os_version}) {device} Emberfall-Web/{app_version}"
        else:
            agent = f"Emberfall/{app_version} ({pname} {os_version}; {device})"
        ip = f"{provider_ip[provider[i]]}.{ip_raw[i, 0]}.{ip_raw[i, 1]}.{ip_raw[i, 2]}"
        hosts.append(provider_names[provider[i]])
        agents.append(agent)
        ips.append(ip)
        contexts.append(
            {
                "ip": ip,
                "app": {"name": "Emberfall", "version": app_version},
                "os": {"name": pname, "version": os_version},
                "device": {"model": device},
                "locale": locale,
                "location": {"country": cname},
                "library": LIBRARY,
                "userAgent": agent,
            }
        )
        name = f"{_FIRST[first[i]]} {_LAST[last[i]]}"
        traits.append(
            {
                "name": name,
                "email": f"{user_ids[i]}@example.com",
                "platform": pname,
                "country": cname,
                "locale": locale,
                "app_version": app_version,
            }
        )
    return World(
        config=config,
        country=country,
        provider=provider,
        platform=platform,
        signup_day=signup_day,
        engagement=engagement,
        spend=spend,
        tz_hours=tz_hours,
        skew_us=skew_us,
        anonymous_first=anonymous_first,
        aliased=aliased,
        user_ids=user_ids,
        anonymous_ids=anonymous_ids,
        hosts=hosts,
        user_agents=agents,
        ips=ips,
        contexts=contexts,
        traits=traits,
        provider_names=provider_names,
    )

"""The activity simulation: players of a :class:`World` -> a columnar table of events.

Everything is vectorised over numpy arrays (no Python object per event): active days from a
retention curve that decays week over week, sessions per active day from each player's
heavy-tailed engagement, session start times on a daily and weekly cycle in the player's
time zone, then *units* of play inside a session (a level attempt, a screen view, a
purchase) expanded into events. One-off calls (sign-up identify, alias, guild join + group)
are added per player, then the transport imperfections: client clock skew, send delays and
late arrivals, duplicate sends that reuse a ``messageId``, and a small share of events that
break the tracking plan.

The result, :class:`EventFrame`, is sorted by arrival time and holds ids into the world and
the catalogue tables (``generate/catalog.py``), never strings, so it is cheap to hold a
million rows and to encode them in chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from eventlake.generate import catalog as C
from eventlake.generate.text import take_rows
from eventlake.generate.world import (
    GUILDS,
    ITEMS,
    LEVEL_FAIL_CAUSES,
    SCREENS,
    SIGNUP_METHODS,
    World,
)

__all__ = ["EventFrame", "simulate"]

_S = 1_000_000  # microseconds per second
_DAY = 86_400 * _S

IntArray = npt.NDArray[np.int64]

# Share of play per local hour: quiet at night, a lunch bump, an evening peak.
_HOUR_WEIGHTS = np.array(
    [
        2,
        1,
        0.6,
        0.4,
        0.4,
        0.6,
        1.2,
        2,
        2.5,
        2.5,
        2.6,
        3,
        3.6,
        3.2,
        3,
        3.2,
        3.8,
        4.6,
        5.6,
        6.4,
        6.8,
        6.2,
        4.8,
        3.2,
    ],
    dtype=np.float64,
)


@dataclass(frozen=True, slots=True)
class EventFrame:
    """The generated events as columns, one row per event sent (duplicates included).

    ``head`` indexes :data:`catalog.HEADS` (type, event, name); ``pa``/``pb`` are the
    head's property codes (see ``catalog.properties``); ``x`` the code of a one-off call
    (guild, sign-up method); ``bad`` > 0 marks an event that breaks the tracking plan (and
    how). Times are integer microseconds since the epoch: ``t`` the true time, ``orig`` and
    ``sent`` the client's clock (skewed), ``recv`` when the collector gets it.
    """

    user: IntArray
    head: IntArray
    pa: IntArray
    pb: IntArray
    x: IntArray
    bad: IntArray
    ident: npt.NDArray[np.bool_]
    t: IntArray
    orig: IntArray
    sent: IntArray
    recv: IntArray
    mid: npt.NDArray[np.uint8]
    duplicate: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.user)

    def take(self, idx: npt.NDArray[np.int64] | slice) -> EventFrame:
        """The rows at ``idx`` (an index array or a slice) as a new frame."""
        return EventFrame(**{f: getattr(self, f)[idx] for f in self.__dataclass_fields__})

    @property
    def timestamp(self) -> IntArray:
        """The clock-corrected event time the collector computes."""
        return self.recv - (self.sent - self.orig)


def _group_start(keys: IntArray) -> IntArray:
    """For rows sorted by ``keys``: the index of the first row of each row's group."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.ones(n, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(first)
    out: IntArray = starts[np.cumsum(first) - 1]
    return out


def simulate(world: World) -> EventFrame:
    """Every event of ``world``, sorted by arrival; deterministic for the world's seed."""
    cfg = world.config
    rng = np.random.default_rng([cfg.seed, 2])
    n_users, n_days = world.size, cfg.days
    start_us = cfg.start_us

    # -- active days: retention decaying week over week, weekends busier ----------------
    day = np.arange(n_days)
    weekday = (cfg.start.weekday() + day) % 7
    week_factor = np.where(weekday >= 5, 1.15, 0.95)
    age = day[None, :] - world.signup_day[:, None]
    p_active = (
        np.clip(
            0.7 * np.sqrt(world.engagement)[:, None] * 0.8 ** (np.maximum(age, 1) / 7.0), 0, 0.95
        )
        * week_factor[None, :]
    )
    # Churn: a third never come back after their first day, the rest leave after a
    # lifetime that grows with engagement.
    lifetime = np.where(
        rng.random(n_users) < 0.33, 0.0, rng.exponential(10.0 * np.sqrt(world.engagement))
    )
    active = (age == 0) | (
        (age > 0) & (age <= lifetime[:, None]) & (rng.random((n_users, n_days)) < p_active)
    )
    au, ad = np.nonzero(active)

    # -- sessions ------------------------------------------------------------------------
    n_sess = 1 + rng.poisson(0.9 * world.engagement[au] * week_factor[ad])
    s_user = np.repeat(au, n_sess)
    s_day = np.repeat(ad, n_sess)
    hour = rng.choice(24, size=len(s_user), p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    local = hour * 3600 * _S + rng.integers(0, 3600 * _S, len(s_user))
    s_start = (
        start_us + s_day * _DAY + local - (world.tz_hours[s_user] * 3600 * _S).astype(np.int64)
    )
    order = np.lexsort((s_start, s_user))
    s_user, s_start = s_user[order], s_start[order]
    n_s = len(s_user)
    s_first = _group_start(s_user)
    s_number = np.arange(n_s) - s_first + 1

    # -- units of play inside each session -----------------------------------------------
    n_units = 1 + rng.poisson(6.6 * world.engagement[s_user] ** 0.4)
    u_sess = np.repeat(np.arange(n_s), n_units)
    u_user = s_user[u_sess]
    n_u = len(u_sess)
    roll = rng.random(n_u)
    p_buy = np.minimum(world.spend[u_user], 0.5)
    kind = np.where(roll < p_buy, 2, np.where(roll < p_buy + 0.3, 1, 0))  # 0 level 1 screen 2 buy
    dur = np.where(
        kind == 0, rng.integers(20, 300, n_u), np.where(kind == 1, rng.integers(3, 40, n_u), 12)
    )
    u_first = _group_start(u_sess)
    csum = np.cumsum(dur)
    offset = csum - dur - (csum[u_first] - dur[u_first])
    u_time = s_start[u_sess] + 5 * _S + offset * _S + rng.integers(0, _S, n_u)
    completed = (kind == 0) & (rng.random(n_u) < 0.72)
    user_first_unit = _group_start(u_user)
    done = np.cumsum(completed) - completed
    level = np.minimum(1 + done - done[user_first_unit], C.MAX_LEVEL)

    parts: list[dict[str, IntArray]] = []
    # Session Started
    parts.append(
        dict(
            user=s_user,
            t=s_start,
            head=np.full(n_s, C.H_SESSION),
            pa=np.minimum(s_number, C.MAX_SESSION_NUMBER),
            pb=np.zeros(n_s, np.int64),
        )
    )
    lv = kind == 0
    parts.append(
        dict(
            user=u_user[lv],
            t=u_time[lv],
            head=np.full(int(lv.sum()), C.H_LEVEL_STARTED),
            pa=level[lv],
            pb=np.zeros(int(lv.sum()), np.int64),
        )
    )
    nl = int(lv.sum())
    score_k = rng.integers(0, C.SCORE_STEPS, nl)
    cause = rng.integers(0, len(LEVEL_FAIL_CAUSES), nl)
    comp = completed[lv]
    parts.append(
        dict(
            user=u_user[lv],
            t=u_time[lv] + dur[lv] * _S,
            head=np.where(comp, C.H_LEVEL_COMPLETED, C.H_LEVEL_FAILED),
            pa=level[lv],
            pb=np.where(comp, score_k * C.MAX_DURATION + dur[lv], cause),
        )
    )
    sc = kind == 1
    screen = rng.integers(0, len(SCREENS), int(sc.sum()))
    is_web = world.platform[u_user[sc]] == C.WEB_PLATFORM
    parts.append(
        dict(
            user=u_user[sc],
            t=u_time[sc],
            head=np.where(is_web, C.H_PAGE0, C.H_SCREEN0) + screen,
            pa=np.where(is_web, screen, 0),
            pb=np.zeros(len(screen), np.int64),
        )
    )
    bu = kind == 2
    nb = int(bu.sum())
    item = rng.choice(len(ITEMS), size=nb, p=C.ITEM_WEIGHTS)
    qty = np.where(rng.random(nb) < 0.85, 1, rng.integers(2, 6, nb))
    currency = C.COUNTRY_CURRENCY[world.country[u_user[bu]]]
    parts.append(
        dict(
            user=u_user[bu],
            t=u_time[bu],
            head=np.full(nb, C.H_PURCHASE),
            pa=item,
            pb=currency * C.MAX_QUANTITY + (qty - 1),
        )
    )

    # -- one-off calls: sign-up (identify + Signed Up [+ alias]) and guild joins ----------
    users = np.arange(n_users)
    first_sess = s_first[np.searchsorted(s_user, users)]
    last_unit_end = np.zeros(n_s, dtype=np.int64)
    np.maximum.at(last_unit_end, u_sess, u_time + dur * _S)
    anon = world.anonymous_first
    signup_t = np.where(
        anon, last_unit_end[first_sess] + 5 * _S, s_start[first_sess] - 3 * _S
    ).astype(np.int64)
    method = rng.integers(0, len(SIGNUP_METHODS), n_users)
    zeros = np.zeros(n_users, np.int64)
    parts.append(
        dict(user=users, t=signup_t, head=np.full(n_users, C.H_IDENTIFY), pa=zeros, pb=zeros)
    )
    parts.append(
        dict(
            user=users,
            t=signup_t + 1000,
            head=np.full(n_users, C.H_SIGNED_UP),
            pa=method,
            pb=zeros,
            x=method,
        )
    )
    al = users[world.aliased]
    parts.append(
        dict(
            user=al,
            t=signup_t[al] + 2000,
            head=np.full(len(al), C.H_ALIAS),
            pa=np.zeros(len(al), np.int64),
            pb=np.zeros(len(al), np.int64),
        )
    )
    count = np.bincount(s_user, minlength=n_users)
    joins = users[(count >= 2) & (rng.random(n_users) < 0.45)]
    k = 1 + (rng.random(len(joins)) * (count[joins] - 1)).astype(np.int64)
    j_t = s_start[first_sess[joins] + k] + 20 * _S
    guild = rng.integers(0, len(GUILDS), len(joins))
    zj = np.zeros(len(joins), np.int64)
    parts.append(
        dict(
            user=joins, t=j_t, head=np.full(len(joins), C.H_GUILD_JOINED), pa=guild, pb=zj, x=guild
        )
    )
    parts.append(
        dict(user=joins, t=j_t + 1000, head=np.full(len(joins), C.H_GROUP), pa=zj, pb=zj, x=guild)
    )

    cols = {
        key: np.concatenate([p.get(key, np.zeros(len(p["user"]), np.int64)) for p in parts])
        for key in ("user", "t", "head", "pa", "pb", "x")
    }
    return _transport(world, rng, cols, signup_t)


def _transport(
    world: World, rng: np.random.Generator, cols: dict[str, IntArray], signup_t: IntArray
) -> EventFrame:
    """Add ids, clocks, delays, duplicates and plan-breaking events; sort by arrival."""
    cfg = world.config
    user, t, head = cols["user"], cols["t"], cols["head"]
    n = len(user)
    ident = (t >= signup_t[user]) | ~world.anonymous_first[user]
    ident |= head == C.H_IDENTIFY
    bad = np.zeros(n, dtype=np.int64)
    breakable = np.flatnonzero(np.isin(head, C.BREAKABLE_HEADS))
    hit = breakable[rng.random(len(breakable)) < cfg.invalid_rate * n / max(len(breakable), 1)]
    bad[hit] = rng.integers(1, C.BAD_KINDS + 1, len(hit))
    late = rng.random(n) < cfg.late_rate
    delay = np.where(
        late,
        3600 * _S + (rng.exponential(12 * 3600, n) * _S).astype(np.int64),
        rng.integers(200_000, 15 * _S, n),
    )
    skew = world.skew_us[user]
    # Clients keep milliseconds (JavaScript Date, most mobile SDKs).
    orig = (t + skew) // 1000 * 1000
    sent = (t + delay + skew) // 1000 * 1000
    recv = t + delay + rng.integers(20_000, 400_000, n)
    mid = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    mid[:, 6] = (mid[:, 6] & 0x0F) | 0x40
    mid[:, 8] = (mid[:, 8] & 0x3F) | 0x80
    dup = np.flatnonzero(rng.random(n) < cfg.duplicate_rate)
    rows = np.concatenate([np.arange(n), dup])
    recv_all = np.concatenate([recv, recv[dup] + rng.integers(_S, 60 * _S, len(dup))])
    is_dup = np.zeros(len(rows), dtype=bool)
    is_dup[n:] = True
    order = np.argsort(recv_all, kind="stable")
    rows = rows[order]
    return EventFrame(
        user=user[rows],
        head=head[rows],
        pa=cols["pa"][rows],
        pb=cols["pb"][rows],
        x=cols["x"][rows],
        bad=bad[rows],
        ident=ident[rows],
        t=t[rows],
        orig=orig[rows],
        sent=sent[rows],
        recv=recv_all[order],
        mid=take_rows(mid, rows),  # 16-byte items: much faster than a 2-D row gather
        duplicate=is_dup[order],
    )

"""Read-side queries over matches and ratings: leaderboard (TrueSkill, Bradley-Terry or Nash averaging, with its rank
inversions), head-to-head, history, payoff, the ratings of an env, and resolving the env and player ids a user
typed."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from arena import bradley_terry, nash
from arena.errors import UnknownIdError
from arena.ratings import conservative
from arena.registry import split_version
from arena.stats import Z95, wilson
from arena.store.matches import RANK_BY, Skill, tournament_event

if TYPE_CHECKING:
    from arena.store.db import Store


class Rating(NamedTuple):
    """A player's current rating in one env."""

    mu: float
    sigma: float
    games: int

    @property
    def skill(self) -> Skill:
        return (self.mu, self.sigma)


def stored_envs(store: Store) -> list[str]:
    return [row[0] for row in store.db.execute("SELECT DISTINCT env FROM matches ORDER BY env")]


def resolve_env(store: Store, env: str) -> str:
    """A stored env id from what a user typed: exact, or the one stored env with that id minus its version."""
    known = stored_envs(store)
    if env in known:
        return env
    base, params = env.partition(":")[0], env.partition(":")[2]
    matches = [k for k in known if split_version(k.partition(":")[0])[0] == split_version(base)[0]
               and k.partition(":")[2] == params]
    if len(matches) == 1:
        return matches[0]
    raise UnknownIdError("env", env, known, f"arena leaderboard --db {store.path}", where=str(store.path),
                         listing="to see its games and players")


def resolve_player(store: Store, player: str) -> str:
    if store.db.execute("SELECT 1 FROM players WHERE id = ?", (player,)).fetchone():
        return player
    known = [row[0] for row in store.db.execute("SELECT id FROM players")]
    raise UnknownIdError("player", player, known, f"arena leaderboard --db {store.path}", where=str(store.path),
                         listing="to see its players")


def player_ratings(store: Store, env: str, players: Iterable[str] | None = None) -> dict[str, Rating]:
    """{player: Rating} of every rated player of an env, or of the given ones (those not rated yet are absent)."""
    sql, args = "SELECT player, mu, sigma, games FROM ratings WHERE env = ?", [env]
    if players is not None:
        wanted = list(players)
        sql += f" AND player IN ({','.join('?' * len(wanted))})"
        args += wanted
    return {p: Rating(mu, sigma, games) for p, mu, sigma, games in store.db.execute(sql, args)}


def skills(store: Store, env: str, players: Iterable[str] | None = None) -> dict[str, Skill]:
    """{player: (mu, sigma)} of every rated player of an env, or of the given ones."""
    return {p: r.skill for p, r in player_ratings(store, env, players).items()}


METHODS = {"trueskill": "conservative", "bt": "bt", "nash": "nash"}  # method: the entry key it ranks by


def leaderboard(store: Store, *, env: str | None = None, league: str | None = None, tournament: str | None = None,
                method: str = "trueskill", top: int | None = None, bootstrap: int = 200,
                seed: int = 0) -> list[dict[str, Any]]:
    """Players ranked within each env: by TrueSkill's conservative rating, by a Bradley-Terry fit, or by Nash
    averaging (each player's payoff against the max-entropy Nash mixture of the listed players).

    `league` / `tournament` keep the players that played in that league's / tournament's matches; the fits use the
    games among the kept players only. Every entry carries `beats_higher`: the rank inversions it causes among the
    listed players (see `inversions`)."""
    if method not in METHODS:
        raise ValueError(f"unknown ranking method {method!r}; one of {', '.join(METHODS)}")
    where, args = [], []
    if env:
        where.append("r.env = ?")
        args.append(env)
    for event in ([league] if league else []) + ([tournament_event(tournament)] if tournament else []):
        # not correlated with r: SQLite builds the (env, player) set of the event once, from the event's index,
        # instead of scanning the event's matches again for every rating row (9 s at 50k matches)
        where.append("(r.env, r.player) IN (SELECT m.env, p.player FROM matches m JOIN participants p "
                     "ON p.match_seq = m.seq WHERE m.event = ?)")
        args.append(event)
    rows = store.db.execute(
        "SELECT r.env, r.player, r.mu, r.sigma, r.games, r.wins, r.draws, r.losses, r.last_played FROM ratings r"
        + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY r.env, {RANK_BY} DESC", args)
    by_env: dict[str, list[dict[str, Any]]] = {}
    for e, player, mu, sigma, games, wins, draws, losses, last in rows:
        by_env.setdefault(e, []).append({
            "env": e, "player": player, "mu": mu, "sigma": sigma, "conservative": conservative((mu, sigma)),
            "games": games, "wins": wins, "draws": draws, "losses": losses, "last_played": last})
    out = []
    for e, entries in by_env.items():
        records = None
        if method != "trueskill":  # the fits use every kept player's games; TrueSkill needs only the listed ones'
            records = _pair_records(store, e, [entry["player"] for entry in entries])
            entries = (_with_bradley_terry(records, entries, bootstrap, seed) if method == "bt"
                       else _with_nash(records, entries))
        listed = [{"rank": i + 1, **entry} for i, entry in enumerate(entries[:top] if top else entries)]
        if records is None or len(listed) < len(entries):
            records = _pair_records(store, e, [entry["player"] for entry in listed])
        _flag_inversions(listed, records, METHODS[method])
        out.extend(listed)
    return out


def return_board(store: Store, *, env: str | None = None, league: str | None = None,
                 tournament: str | None = None, top: int | None = None) -> list[dict[str, Any]]:
    """Players ranked by mean return within each env whose games have one side only (one-seat games, cooperative
    simulations): there is nobody to beat, so no TrueSkill, only the return with its 95% interval (normal, over
    games; a player in several seats of one game counts that game once, with its seats' mean return)."""
    where, args = ["m.status = 'ok'", "m.replay_of IS NULL",
                   "NOT EXISTS (SELECT 1 FROM participants q WHERE q.match_seq = m.seq AND q.team != p.team)"], []
    if env:
        where.append("m.env = ?")
        args.append(env)
    for event in ([league] if league else []) + ([tournament_event(tournament)] if tournament else []):
        where.append("m.event = ?")
        args.append(event)
    rows = store.db.execute(
        "SELECT env, player, COUNT(*), AVG(r), AVG(r * r), MAX(played_at) FROM (SELECT m.env AS env, p.player AS "
        "player, AVG(p.return) AS r, m.played_at AS played_at FROM matches m JOIN participants p ON p.match_seq = "
        f"m.seq WHERE {' AND '.join(where)} GROUP BY m.seq, p.player) GROUP BY env, player ORDER BY env, AVG(r) DESC",
        args)
    out: list[dict[str, Any]] = []
    for e, player, games, mean, square, last in rows:
        if out and out[-1]["env"] == e:
            rank = out[-1]["rank"] + 1
        else:
            rank = 1
        if top and rank > top:
            continue
        spread = math.sqrt(max(square - mean * mean, 0.0) * games / (games - 1)) if games > 1 else math.inf
        half = Z95 * spread / math.sqrt(games)
        out.append({"rank": rank, "env": e, "player": player, "games": games, "mean_return": mean,
                    "return_ci95": [mean - half, mean + half] if math.isfinite(half) else [None, None],
                    "last_played": last, "scored_by": "return"})
    return out


def inversions(board: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rank inversions of a leaderboard, one row each: `player` (ranked lower) beat `opponent` (ranked higher)
    head to head, its score's 95% Wilson interval entirely above 0.5."""
    return [{"env": entry["env"], "player": entry["player"], "rank": entry["rank"], **{
        ("opponent" if k == "player" else "opponent_rank" if k == "rank" else k): v for k, v in beat.items()}}
        for entry in board for beat in entry.get("beats_higher", [])]


def _pair_records(store: Store, env: str, names: list[str]) -> list[tuple[str, str, int, int, int]]:
    """(a, b, a_wins, draws, b_wins) of every pair of an env whose players are both in `names`."""
    wanted = set(names)
    sql, args = "SELECT a, b, a_wins, draws, b_wins FROM pairs WHERE env = ?", [env]
    if len(names) <= 50:  # a top-N board reads its own pairs through the (env, a, b) key, not the whole env
        marks = ",".join("?" * len(names))
        sql += f" AND a IN ({marks}) AND b IN ({marks})"
        args += names + names
    return [(a, b, aw, d, bw) for a, b, aw, d, bw in store.db.execute(sql, args) if a in wanted and b in wanted]


def _flag_inversions(listed: list[dict[str, Any]], records: list[tuple[str, str, int, int, int]], key: str) -> None:
    """Give every entry `beats_higher`: the higher-ranked listed players it scored significantly above 0.5 against
    (95% Wilson interval of wins + draws/2 over their games entirely above 0.5), best-ranked first. Players with
    equal ratings (the support of a Nash mixture, all at 0) are not ranked against each other, so not flagged."""
    by_player = {entry["player"]: entry for entry in listed}
    for entry in listed:
        entry["beats_higher"] = []
    for a, b, a_wins, draws, b_wins in records:
        first, second = by_player.get(a), by_player.get(b)
        if first is None or second is None:
            continue
        higher, lower, wins, losses = ((first, second, b_wins, a_wins) if first["rank"] < second["rank"]
                                       else (second, first, a_wins, b_wins))
        if wins <= losses:  # a score of 0.5 or less: nothing to check (the usual case)
            continue
        if higher[key] is not None and lower[key] is not None and abs(higher[key] - lower[key]) <= 1e-9:
            continue
        games = wins + draws + losses
        score = (wins + draws / 2) / games
        lo, hi = wilson(score, games)
        if lo > 0.5:
            lower["beats_higher"].append({"player": higher["player"], "rank": higher["rank"], "score": score,
                                          "lo": lo, "hi": hi, "games": games, "wins": wins, "draws": draws,
                                          "losses": losses})
    for entry in listed:
        entry["beats_higher"].sort(key=lambda beat: beat["rank"])


def _with_bradley_terry(records: list[tuple[str, str, int, int, int]], entries: list[dict[str, Any]],
                        bootstrap: int, seed: int) -> list[dict[str, Any]]:
    """The entries re-ranked by a Bradley-Terry fit over their head-to-head totals, with 95% intervals."""
    fitted = {r.player: r for r in bradley_terry.fit(records, bootstrap=bootstrap, seed=seed)}
    for e in entries:
        r = fitted.get(e["player"])
        e.update(bt=r.rating if r else None, bt_lo=r.lo if r else None, bt_hi=r.hi if r else None)
    return sorted(entries, key=lambda e: -e["bt"] if e["bt"] is not None else float("inf"))


def _with_nash(records: list[tuple[str, str, int, int, int]], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries re-ranked by Nash averaging over their head-to-head totals: `nash` (Elo points against the
    max-entropy Nash mixture; 0 in its support) and `nash_mass`. Ties (the support) go by mass, then TrueSkill. A
    player with no games against the others listed is left out of the game (it would tie everyone and sit in the
    support): None, ranked last, as Bradley-Terry does."""
    played = {p for a, b, *_ in records for p in (a, b)}
    rated = {r.player: r for r in nash.rate(records, [e["player"] for e in entries if e["player"] in played])}
    for e in entries:
        r = rated.get(e["player"])
        e.update(nash=r.rating if r else None, nash_mass=r.mass if r else None)
    return sorted(entries, key=lambda e: (-e["nash"], -e["nash_mass"]) if e["nash"] is not None
                  else (math.inf, 0.0))


def head_to_head(store: Store, a: str, b: str, env: str | None = None) -> list[dict[str, Any]]:
    """a's record against b in every env they met (or one env)."""
    first, second = sorted((a, b))
    rows = store.db.execute(
        "SELECT env, games, a_wins, draws, b_wins FROM pairs WHERE a = ? AND b = ?" + (" AND env = ?" if env else "")
        + " ORDER BY env", (first, second, *([env] if env else [])))
    out = []
    for e, games, first_wins, draws, second_wins in rows:
        wins, losses = (first_wins, second_wins) if a == first else (second_wins, first_wins)
        out.append({"env": e, "player": a, "opponent": b, "games": games, "wins": wins, "draws": draws,
                    "losses": losses, "score": (wins + draws / 2) / games})
    return out


def history(store: Store, player: str, env: str | None = None) -> list[dict[str, Any]]:
    """A player's skill after each of its rated matches, oldest first."""
    rows = store.db.execute(
        "SELECT h.match_seq, m.id, m.played_at, h.env, h.mu, h.sigma FROM rating_history h "
        "JOIN matches m ON m.seq = h.match_seq WHERE h.player = ?" + (" AND h.env = ?" if env else "")
        + " ORDER BY h.match_seq", (player, *([env] if env else [])))
    return [{"seq": seq, "match": mid, "played_at": at, "env": e, "mu": mu, "sigma": sigma,
             "conservative": conservative((mu, sigma))} for seq, mid, at, e, mu, sigma in rows]


def payoff(store: Store, env: str) -> dict[str, Any]:
    """The win-rate matrix of an env: score[i][j] is row player i's score against column player j."""
    rows = store.db.execute("SELECT a, b, games, a_wins, draws, b_wins FROM pairs WHERE env = ?", (env,)).fetchall()
    order = [row[0] for row in store.db.execute(
        f"SELECT player FROM ratings WHERE env = ? ORDER BY {RANK_BY} DESC", (env,))]
    index = {p: i for i, p in enumerate(order)}
    n = len(order)
    score: list[list[float | None]] = [[None] * n for _ in range(n)]
    games = [[0] * n for _ in range(n)]
    for a, b, g, aw, d, bw in rows:
        i, j = index[a], index[b]
        games[i][j] = games[j][i] = g
        score[i][j] = (aw + d / 2) / g
        score[j][i] = (bw + d / 2) / g
    return {"env": env, "players": order, "score": score, "games": games}

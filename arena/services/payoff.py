"""The payoff table of an env, of a league's players or of a tournament, and its meta-game views: the Nash mixture
of its zero-sum game (a linear program) and α-Rank's stationary distribution. `arena payoff` and the web app's
payoff page call it."""
from __future__ import annotations

from typing import Any

import numpy as np

from arena import metagame, nash
from arena.errors import UnknownIdError, UsageError
from arena.store import browse, rankings
from arena.store import leagues as league_state
from arena.store import tournaments as tournament_state

ALPHA = 100.0  # α-Rank's selection intensity unless told (OpenSpiel's default): for scores in [0, 1], a 0.55 score
# already makes the stronger player take over a population of the weaker one with probability ~1 - e^-10
TIE = 1e-9  # masses closer than this share a rank


def check_league(store: Any, league: str | None) -> None:
    if league is not None and league_state.get(store, league) is None:
        raise UnknownIdError("league", league, league_state.names(store), "arena league list",
                             where=str(store.path))


def check_tournament(store: Any, name: str | None) -> Any:
    """The stored tournament's spec (None for no name); an unknown name is an error."""
    if name is None:
        return None
    spec = tournament_state.load(store, name)
    if spec is None:
        known = [t["name"] for t in tournament_state.list_tournaments(store)]
        raise UnknownIdError("tournament", name, known, "arena tournaments", where=str(store.path))
    return spec


def payoff_table(store: Any, *, env: str | None = None, league: str | None = None, tournament: str | None = None,
                 registry: Any = None, env_flag: str = "--env") -> dict[str, Any]:
    """The payoff matrix of an env (what `arena payoff --json` holds): score[i][j] is row player i's score against
    column player j (None where they never met, and on the diagonal), games[i][j] their games. For a league, the
    same restricted to its players (all their games against each other in its env); for a tournament, its own
    games (its report's payoff). `env_flag` is how the front end's user picks an env, for the error that asks."""
    if league is not None and tournament is not None:
        raise UsageError("Pick one of a league and a tournament, not both.")
    spec = check_tournament(store, tournament)
    if spec is not None:
        from arena.services.tournament import stored_report

        doc = stored_report(registry, store, spec)
        names = [s["player"] for s in doc["standings"]]
        pairs = {(a, b): (g.split("/") if g else None) for a in names for b, g in doc["crosstable"][a].items()}
        return {"env": spec.env, "tournament": spec.name, "players": names,
                "score": [[doc["payoff"][a][b] for b in names] for a in names],
                "games": [[int(pairs[(a, b)][1]) if pairs[(a, b)] else 0 for b in names] for a in names]}
    check_league(store, league)
    if league is not None:
        env = env or league_state.get(store, league)["env"]  # type: ignore[index]
    envs = browse.rated_envs(store)
    if env:
        env = env if env in envs else rankings.resolve_env(store, env)
    elif len(envs) == 1:
        env = envs[0]
    elif not envs:
        raise UsageError(f"{store.path} holds no rated games: there is no payoff to show.")
    else:
        raise UsageError(f"{store.path} holds {len(envs)} games; pick one with {env_flag} ({', '.join(envs)}).")
    table = rankings.payoff(store, env)
    if league is None:
        return table
    keep = {r["player"] for r in rankings.leaderboard(store, env=env, league=league)}
    index_of = [i for i, p in enumerate(table["players"]) if p in keep]
    return {"env": env, "league": league, "players": [table["players"][i] for i in index_of],
            "score": [[table["score"][i][j] for j in index_of] for i in index_of],
            "games": [[table["games"][i][j] for j in index_of] for i in index_of]}


def zero_sum_game(table: dict[str, Any]) -> dict[str, Any]:
    """The two-player zero-sum game of a payoff table: A = (S - S^T) / 2 with S the score matrix, which is
    S - 0.5 since a pair's two scores sum to 1 (a draw gives each half). A pair that never met counts as a tie
    (0); a player with no games against any other player of the table is left out (it would tie everyone).
    Returns the scope of the table (env, league or tournament), `players`, `a`, `games` (each player's games
    against the others kept), `missing_pairs` and `left_out`. Fewer than 2 players left is a UsageError."""
    games = np.array(table["games"], dtype=float).reshape(len(table["players"]), -1)
    played = [i for i in range(len(table["players"])) if games[i].sum() > 0]
    left_out = [p for i, p in enumerate(table["players"]) if i not in played]
    players = [table["players"][i] for i in played]
    scope = {k: table[k] for k in ("env", "league", "tournament") if k in table}
    if len(players) < 2:
        where = (f"league {table['league']!r}" if "league" in table else
                 f"tournament {table['tournament']!r}" if "tournament" in table else table["env"])
        have = f"only {players[0]}" if players else "none"
        raise UsageError(f"A meta-game needs at least 2 players with games against each other; {where} has {have}.")
    score = np.full((len(played), len(played)), 0.5)
    for x, i in enumerate(played):
        for y, j in enumerate(played):
            if table["score"][i][j] is not None and games[i, j] > 0:
                score[x, y] = table["score"][i][j]
    missing = [[players[x], players[y]] for x in range(len(played)) for y in range(x + 1, len(played))
               if games[played[x], played[y]] == 0]
    return {**scope, "players": players, "a": (score - score.T) / 2,
            "games": [int(games[i][played].sum()) for i in played], "missing_pairs": missing, "left_out": left_out}


def nash_view(table: dict[str, Any]) -> dict[str, Any]:
    """The Nash mixture over the players of a payoff table, from the LP of its zero-sum game (`zero_sum_game`):
    each player's mass, its payoff against the mixture ((A p)_i, 0 at best: the game is symmetric, so its value
    is 0) and the matching score (0.5 + payoff); the game's value as the LP found it; `also_in_equilibrium`, the
    players this mixture gives no mass that some other equilibrium does (the LP returns one of several)."""
    game = zero_sum_game(table)
    a, players = game.pop("a"), game["players"]
    solution = metagame.solve_zero_sum(a)
    p = solution.row
    payoff = a @ p
    payoff[np.abs(payoff) < metagame.MASS_FLOOR] = 0.0
    rows = [{"player": name, "mass": float(p[i]), "payoff": float(payoff[i]) + 0.0,
             "score": 0.5 + float(payoff[i]), "games": game["games"][i]} for i, name in enumerate(players)]
    order = sorted(range(len(rows)), key=lambda i: (-round(p[i] / TIE), -round(payoff[i] / TIE), i))
    others = [players[i] for i in nash.equilibrium_support(a) if p[i] == 0]
    return {**_scope(game), "method": "nash", "matrix": "score - 0.5", "value": solution.value + 0.0,
            "mixture": [rows[i] for i in order], "also_in_equilibrium": others, **_assumed(game)}


def alpharank_view(table: dict[str, Any], alpha: float = ALPHA,
                   population: int = metagame.POPULATION) -> dict[str, Any]:
    """α-Rank's stationary distribution over the players of a payoff table: OpenSpiel's α-Rank on the score matrix
    of `zero_sum_game` (0.5 + A), one population, selection intensity α, population size m. Players ranked by
    mass; equal masses share a rank."""
    game = zero_sum_game(table)
    a, players = game.pop("a"), game["players"]
    limit = metagame.max_alpha(0.5 + a)
    if alpha > limit:
        raise UsageError(f"α = {alpha:g} is too large for these payoffs (exp overflows); pick an α of at most "
                         f"{limit:.4g}.")
    try:
        pi = metagame.alpharank(0.5 + a, alpha, population)
    except ValueError as e:  # several stationary distributions (a chain that falls apart at a large α)
        raise UsageError(f"α-Rank found no single ranking at α = {alpha:g} ({e}); try a smaller α.") from None
    order = sorted(range(len(players)), key=lambda i: (-round(pi[i] / TIE), i))
    ranking = [{"rank": 1 + sum(1 for q in pi if q > pi[i] + TIE), "player": players[i], "mass": float(pi[i]),
                "games": game["games"][i]} for i in order]
    return {**_scope(game), "method": "alpharank", "alpha": alpha, "population": population, "ranking": ranking,
            **_assumed(game)}


def _scope(game: dict[str, Any]) -> dict[str, Any]:
    return {k: game[k] for k in ("env", "league", "tournament") if k in game}


def _assumed(game: dict[str, Any]) -> dict[str, Any]:
    return {"missing_pairs": game["missing_pairs"], "left_out": game["left_out"]}

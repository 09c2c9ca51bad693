"""The documents the web app serves, one function per page: each reads the store (read-only) through the same store
queries and services as the CLI, and returns plain data. A page renders its document as HTML, and its twin under
/api/ returns it as JSON; where the CLI has a --json for the same thing, the twin returns that same document."""
from __future__ import annotations

from typing import Any

from arena.errors import UnknownIdError, UsageError
from arena.services.payoff import check_league, check_tournament, payoff_table
from arena.store import browse, rankings
from arena.store import leagues as league_state
from arena.store import tournaments as tournament_state
from arena.store.matches import tournament_event

METHODS = {"trueskill": "TrueSkill", "bt": "Bradley-Terry", "nash": "Nash averaging"}  # as `arena leaderboard`


def index(store: Any) -> dict[str, Any]:
    """What the store holds: its games (with rated players), leagues and tournaments."""
    envs = browse.rated_envs(store)
    return {"db": str(store.path), "envs": envs, "leagues": league_state.names(store),
            "tournaments": [t["name"] for t in tournament_state.list_tournaments(store)]}


def resolve_env(store: Any, env: str | None) -> str | None:
    """An env id as stored: a rated env's exact id at once (the ratings table is small), else rankings.resolve_env
    (which reads every stored env, and accepts an id without its version)."""
    if not env:
        return None
    return env if env in browse.rated_envs(store) else rankings.resolve_env(store, env)


def leaderboard_rows(store: Any, *, env: str | None = None, league: str | None = None,
                     tournament: str | None = None, method: str = "trueskill",
                     top: int | None = None) -> list[dict[str, Any]]:
    """The rows of `arena leaderboard --json` with the same options."""
    if method not in METHODS:
        raise UsageError(f"Unknown ranking method {method!r}: one of {', '.join(METHODS)}.")
    check_league(store, league)
    check_tournament(store, tournament)
    return rankings.leaderboard(store, env=resolve_env(store, env), league=league, tournament=tournament,
                                method=method, top=top)


def leaderboard_json(store: Any, **options: Any) -> list[dict[str, Any]]:
    """`arena leaderboard --json`: the rated rows, then (with games that have one side) the return leaderboard's,
    each row with its `scored_by`."""
    rows = leaderboard_rows(store, **options)
    returns = rankings.return_board(store, env=resolve_env(store, options.get("env")), league=options.get("league"),
                                    tournament=options.get("tournament"), top=options.get("top"))
    if not returns:
        return rows
    return [{**r, "scored_by": "rating"} for r in rows] + [
        {**r, "return_lo": r["return_ci95"][0], "return_hi": r["return_ci95"][1]} for r in returns]


def leaderboard(store: Any, **options: Any) -> dict[str, Any]:
    """The leaderboard page: its rows by env, the rank inversions, and what else can be picked."""
    rows = leaderboard_rows(store, **options)
    by_env: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_env.setdefault(row["env"], []).append(row)
    returns: dict[str, list[dict[str, Any]]] = {}  # games with one side: mean returns, no ratings
    for row in rankings.return_board(store, env=resolve_env(store, options.get("env")), league=options.get("league"),
                                     tournament=options.get("tournament"), top=options.get("top")):
        returns.setdefault(row["env"], []).append(row)
    return {"options": {**options, "method_name": METHODS[options.get("method") or "trueskill"]},
            "boards": [{"env": e, "rows": r} for e, r in by_env.items()],
            "return_boards": [{"env": e, "rows": r} for e, r in returns.items()],
            "inversions": rankings.inversions(rows), "methods": METHODS, **index(store)}


def player(store: Any, id: str) -> dict[str, Any]:
    """One player: its row and lineage, ratings in every env, rating history, head-to-head records, latest games."""
    row = browse.player(store, id)
    if row is None:
        rankings.resolve_player(store, id)  # raises UnknownIdError with suggestions
    assert row is not None
    ratings = [{"env": e, "player": id, **r._asdict()} for e in browse.rated_envs(store)
               for r in rankings.player_ratings(store, e, [id]).values()]
    return {"player": row, "ratings": ratings, "history": rankings.history(store, id),
            "opponents": browse.opponents(store, id),
            "lineage": {"parent": browse.player(store, row["parent"]) if row["parent"] else None,
                        "children": browse.children(store, id), "leagues": browse.memberships(store, id)},
            "games": browse.list_games(store, player=id, limit=20)}


def payoff(store: Any, *, env: str | None = None, league: str | None = None,
           tournament: str | None = None, registry: Any = None) -> dict[str, Any]:
    """The payoff matrix of an env (what `arena payoff --json` holds), or of a league's or a tournament's players:
    score[i][j] is row player i's score against column player j, games[i][j] their games."""
    return payoff_table(store, env=env, league=league, tournament=tournament, registry=registry, env_flag="?env=")


def leagues(store: Any) -> list[dict[str, Any]]:
    """The rows of `arena league list --json`."""
    from arena.services.leagues import league_status

    rows = [league_status(store, name) for name in league_state.names(store)]
    for r in rows:
        r.pop("members"), r.pop("last_round")
    return rows


def league(store: Any, name: str) -> dict[str, Any]:
    """The document of `arena league status NAME --json`."""
    from arena.services.leagues import league_status

    return league_status(store, name)


def league_rounds(store: Any, name: str) -> list[dict[str, Any]]:
    """Every round of a league as stored: opponent tables, training and evaluation scores, snapshots."""
    check_league(store, name)
    return league_state.rounds(store, name)


def tournaments(store: Any) -> list[dict[str, Any]]:
    """The rows of `arena tournaments --json`."""
    rows = tournament_state.list_tournaments(store)
    for r in rows:
        r["status"] = "finished" if r["finished_at"] else "unfinished (resume with --resume)"
    return rows


def tournament(store: Any, name: str, sprt: str | None = None, registry: Any = None) -> dict[str, Any]:
    """The report of `arena tournament ... --json` (standings, crosstable, payoff, pairings), read from the store;
    with `sprt` (elo0=..,elo1=..), the SPRT state of the first-seeded player against each other player."""
    from arena.services.tournament import stored_report

    spec = check_tournament(store, name)
    doc = stored_report(registry, store, spec)
    if sprt:
        doc["sprt"] = sprt_states(store, spec, sprt)
    return doc


def sprt_states(store: Any, spec: Any, text: str) -> list[dict[str, Any]]:
    """fishtest's SPRT over the stored games of the first-seeded player against each other player, in the order
    they were stored: consecutive games of a pairing count as a pentanomial pair."""
    from arena.sprt import Sprt, SprtSpec
    from arena.store.games import games

    test = SprtSpec.parse(text)
    first = spec.players[0]
    out = []
    for other in spec.players[1:]:
        sprt = Sprt(test)
        held = None
        for g in games(store, spec.env, event=tournament_event(spec.name), players=[first]):
            seats = [s.player for s in g.seats]
            if sorted(seats) != sorted([first, other]) or first == other:
                continue
            score = g.seats[seats.index(first)].score
            if held is None:
                held = score
            else:
                sprt.add_pair(held, score)
                held = None
        if held is not None:
            sprt.add_game(held)
        out.append({"player": first, "opponent": other, "spec": str(test), **sprt.to_dict()})
    return out


def games(store: Any, *, env: str | None = None, player: str | None = None, league: str | None = None,
          tournament: str | None = None, before: int | None = None, limit: int = 50) -> dict[str, Any]:
    """A page of stored games, newest first, with filters; `next` continues it."""
    env = resolve_env(store, env)
    check_league(store, league)
    check_tournament(store, tournament)
    if player is not None:
        rankings.resolve_player(store, player)
    event = league if league is not None else tournament_event(tournament) if tournament is not None else None
    rows = browse.list_games(store, env=env, player=player, event=event, before=before, limit=limit)
    return {"filters": {"env": env, "player": player, "league": league, "tournament": tournament},
            "games": rows, "next": rows[-1]["seq"] if len(rows) == max(1, min(limit, browse.MAX_PAGE)) else None}


def stored_game(store: Any, id: str) -> dict[str, Any]:
    row = browse.game(store, id)
    if row is None:
        raise UnknownIdError("game", id, [], f"arena history PLAYER --db {store.path}", where=str(store.path),
                             listing="to list a player's games, or open /games")
    return row

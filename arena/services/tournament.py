"""Tournament runs: create or resume a stored tournament, play its rounds on K workers, and report standings,
crosstable and payoff from the stored games. `arena tournament` (and later the web app) call it."""
from __future__ import annotations

import contextlib
import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

from arena import tournament as t
from arena.errors import UsageError
from arena.ids import base_name
from arena.match import game_seed
from arena.openings import Book, describe
from arena.parallel import GameJob, PlayOptions, plays_in_process, run_games
from arena.ratings import conservative
from arena.services.progress import SILENT, Progress
from arena.store import game_id, rankings, tournaments as stored


@dataclass(frozen=True)
class TournamentRequest:
    env: str
    players: tuple[str, ...]
    format: str = "round-robin"
    rounds: int | None = None  # default: 1 for round-robin and gauntlet, ceil(log2 N)+1 for swiss
    games_per_pair: int = 2
    name: str | None = None  # default: derived from the settings
    seed: int | None = None  # default: drawn (and stored)
    resume: bool = False
    workers: int = 1
    ray_address: str | None = None
    move_timeout: float | None = None
    game_timeout: float | None = None  # each player's thinking time per game (arena.match.play_game)
    openings: str | None = None  # arena.openings spec: each pairing's games 2k and 2k+1 share the round's opening k


def default_name(env: str, fmt: str, players: list[str], rounds: int, games: int, openings: str | None = None) -> str:
    settings: list[Any] = [env, fmt, players, rounds, games] + ([openings] if openings else [])
    digest = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:6]
    return f"{base_name(env)}-{fmt}-{digest}"


def round_openings(book: Book | None, seed: int) -> t.Openings | None:
    """(round, count) -> the round's openings: drawn from (tournament seed, round), or the file's next lines."""
    if book is None:
        return None
    memo: dict[tuple[int, int], list[tuple[int, ...]]] = {}

    def openings(round_: int, count: int) -> list[tuple[int, ...]]:
        if (round_, count) not in memo:
            memo[(round_, count)] = book.openings(game_seed(seed, -round_), count, offset=(round_ - 1) * count)
        return memo[(round_, count)]

    return openings


def run_tournament(registry: Any, store: Any, request: TournamentRequest, *,
                   progress: Progress = SILENT) -> dict[str, Any]:
    """Create (or with resume, continue) the tournament, play the games not stored yet, and return its report."""
    game = registry.make_game(request.env)
    try:
        info = game.info
        ids = [registry.player_id(p) for p in request.players]
        t.check_spec(request.format, ids, info.num_seats)
        for spec_text in request.players:
            registry.make_policy(spec_text).check(info)
        book = Book(game, request.openings) if request.openings else None
        rounds = request.rounds or t.default_rounds(request.format, len(ids))
        name = request.name or default_name(info.env_id, request.format, ids, rounds, request.games_per_pair,
                                            request.openings)
        wanted = t.TournamentSpec(name, info.env_id, tuple(ids), request.format, rounds, request.games_per_pair,
                                  random.randrange(2**31) if request.seed is None else request.seed, request.openings)
        spec = _open(store, wanted, request.resume, request.seed is not None)
        given = request.openings or spec.openings  # a resume without --openings plays the stored ones
        if book is None and given:
            book = Book(game, given)
        openings = round_openings(book, spec.seed)
        _check_openings(store, spec, openings, given)
        _play(store, spec, request, progress, openings)
        doc = report(store, spec, openings)
        if book is not None:
            doc["openings"] = {"spec": given, "rounds": {
                r: describe(book, openings(r, -(-spec.games_per_pair // 2))) for r in range(1, spec.rounds + 1)}}
        return doc
    finally:
        game.close()


def _check_openings(store: Any, spec: t.TournamentSpec, openings: t.Openings | None, given: str | None) -> None:
    """A resumed tournament whose stored games none match this run's openings was started with other openings."""
    games = stored.stored_games(store, spec)
    if not games:
        return
    for r in range(1, spec.rounds + 1):
        for p in stored.stored_pairings(store, spec.name, r):
            if any(game_id(spec.env, j.players, j.seed, spec.event, j.opening) in games
                   for j in p.jobs(spec, 0, openings)):
                return
    raise UsageError(f"Tournament {spec.name!r} was played with other openings than "
                     f"{'--openings ' + given if given else 'none'}; resume it with its own --openings, "
                     "or give another --name.")


def _open(store: Any, wanted: t.TournamentSpec, resume: bool, seed_given: bool) -> t.TournamentSpec:
    old = stored.load(store, wanted.name)
    if old is None:
        stored.create(store, wanted)
        return wanted
    if not resume:
        raise UsageError(f"Tournament {wanted.name!r} is already in {store.path}. Add --resume to continue it, "
                         "or give another --name for a new one.")
    changed = t.differences(old, wanted) + ([f"seed {old.seed} (asked for {wanted.seed})"]
                                            if seed_given and old.seed != wanted.seed else [])
    if changed:
        raise UsageError(f"Tournament {wanted.name!r} was started with {'; '.join(changed)}. Resume it with its "
                         "own settings, or give another --name.")
    return old


def _play(store: Any, spec: t.TournamentSpec, request: TournamentRequest, progress: Progress,
          openings: t.Openings | None = None) -> None:
    from arena.services.recording import Recorder

    options = PlayOptions(move_timeout=request.move_timeout, game_timeout=request.game_timeout)
    progress.say(f"Tournament {spec.name}: {spec.format}, {len(spec.players)} players, {spec.rounds} round(s), "
                 f"{spec.games_per_pair} games per pairing, seed {spec.seed}, store {store.path}")
    done_rounds: list[list[t.Pairing]] = []
    with Recorder(store, event=spec.event, stream=plays_in_process(request.workers, request.ray_address)) as recorder:
        for r in range(1, spec.rounds + 1):
            games = stored.stored_games(store, spec)
            pairings = stored.stored_pairings(store, spec.name, r)
            if not pairings:
                records, _ = t.tally(spec, done_rounds, games, openings)
                pairings = t.pair_round(spec, r, records)
                stored.save_pairings(store, spec.name, pairings)
            jobs = t.missing(spec, pairings, games, openings=openings)
            byes = [p.a for p in pairings if p.b is None]
            if jobs:
                progress.say(f"Round {r}/{spec.rounds}: {len(pairings) - len(byes)} pairings, {len(jobs)} games to "
                             "play" + (f", bye: {', '.join(byes)}" if byes else ""))
                _run_round(jobs, r, spec, request, options, recorder, progress)
            done_rounds.append(pairings)
    stored.finish(store, spec.name)


def _run_round(jobs: list[GameJob], r: int, spec: t.TournamentSpec, request: TournamentRequest,
               options: PlayOptions, recorder: Any, progress: Progress) -> None:
    progress.start(f"round {r}", len(jobs))
    stream = run_games(jobs, workers=request.workers, ray_address=request.ray_address, options=options)
    try:
        with contextlib.closing(stream):
            for _, result in stream:
                recorder.add(result)
                progress.advance()
        recorder.flush()  # the next round's pairings read this one's results from the store
    except KeyboardInterrupt:
        recorder.flush()
        progress.say(f"Interrupted in round {r}; games played so far are stored. Run the same command with --resume "
                     f"(--name {spec.name}) to continue.")
        raise
    finally:
        progress.finish()


def stored_report(registry: Any, store: Any, spec: t.TournamentSpec) -> dict[str, Any]:
    """`report` of a stored tournament, its games matched with the openings it was played with (their spec is
    stored with it); for a page or a listing, which have no --openings to go by."""
    if not spec.openings:
        return report(store, spec)
    game = registry.make_game(spec.env)
    try:
        return report(store, spec, round_openings(Book(game, spec.openings), spec.seed))
    finally:
        game.close()


def report(store: Any, spec: t.TournamentSpec, openings: t.Openings | None = None) -> dict[str, Any]:
    """Standings, crosstable and payoff of a tournament, all from its stored games (played with `openings`)."""
    rounds = [stored.stored_pairings(store, spec.name, r) for r in range(1, spec.rounds + 1)]
    games = stored.stored_games(store, spec)
    records, h2h = t.tally(spec, rounds, games, openings)
    order = t.ranking(records, spec.players)
    ratings = rankings.skills(store, spec.env, spec.players)
    names = [r.player for r in order]
    standings = []
    for rank, r in enumerate(order, 1):
        skill = ratings.get(r.player)
        standings.append({"rank": rank, "player": r.player, "points": r.points, "games": r.games, "wins": r.wins,
                          "draws": r.draws, "losses": r.losses, "byes": r.byes, "score": round(r.score, 4),
                          "tiebreak": round(r.tiebreak, 3),
                          "rating": round(conservative(skill), 2) if skill else None})
    crosstable = {a: {b: (f"{h2h[(a, b)][0]:g}/{int(h2h[(a, b)][1])}" if (a, b) in h2h else None) for b in names}
                  for a in names}
    payoff = {a: {b: (round(h2h[(a, b)][0] / h2h[(a, b)][1], 4) if (a, b) in h2h and h2h[(a, b)][1] else None)
                  for b in names} for a in names}
    errors = sum(1 for v in games.values() if v is None)
    return {"name": spec.name, "env": spec.env, "format": spec.format, "rounds": spec.rounds,
            "games_per_pair": spec.games_per_pair, "seed": spec.seed, "games": len(games), "errors": errors,
            "tiebreak": "buchholz" if spec.format == "swiss" else "sonneborn-berger",
            "standings": standings, "crosstable": crosstable, "payoff": payoff,
            "pairings": [[{"a": p.a, "b": p.b} for p in rnd] for rnd in rounds]}

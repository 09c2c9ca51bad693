"""Head-to-head play: N games between policies on K workers (local or Ray), rated into the store as they finish,
optionally stopped by SPRT, summarised as standings. `arena match`, the league scheduler and `arena train` call it."""
from __future__ import annotations

import contextlib
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arena.errors import UsageError
from arena.match import game_seed, opening_of, seat_orders
from arena.openings import Book, describe
from arena.parallel import GameJob, Placement, PlayOptions, plays_in_process, run_games
from arena.services.progress import SILENT, Progress
from arena.sprt import Sprt, SprtSpec
from arena.stats import standings
from arena.types import MatchResult


@dataclass(frozen=True)
class HeadToHead:
    """What to play: `policies` (one spec per seat) take turns in every seat over `games` games of `env`."""

    env: str
    policies: tuple[str, ...]
    games: int | None = None  # default 10; with sprt, the most it may play (20,000)
    seed: int | None = None  # None: drawn, and reported
    sprt: SprtSpec | None = None
    workers: int = 1
    ray_address: str | None = None
    record_moves: bool = False
    move_timeout: float | None = None
    game_timeout: float | None = None  # each player's thinking time per game (arena.match.play_game)
    event: str | None = None  # the event the stored games belong to (a league's name), part of their match ids
    openings: str | None = None  # arena.openings spec: game i starts from opening i // seats ("random:plies=4", a file)


def unique_names(names: Sequence[str]) -> list[str]:
    """Player names made distinct for display when the same spec sits in two seats ("random", "random#2")."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


class SprtFeed:
    """Feeds a match's games to SPRT in order: games 2k and 2k+1 (seats swapped) as one pentanomial pair; with
    openings, those are exactly the two games on opening k.

    A game whose partner failed counts alone (trinomial); failed games do not count.
    """

    def __init__(self, spec: SprtSpec):
        self.sprt = Sprt(spec)
        self.held: tuple[int, float] | None = None  # (index, participant 0's score) of a game waiting for its pair

    def add(self, index: int, order: tuple[int, ...], result: MatchResult) -> str | None:
        """Adds one game; returns the decision, "H0" or "H1", once there is one."""
        if result.error:
            return None
        score = result.score(order.index(0))
        if self.held is not None and index % 2 == 1 and self.held[0] == index - 1:
            self.sprt.add_pair(self.held[1], score)
            self.held = None
            return self.sprt.decision()
        self.flush()
        if index % 2 == 0:
            self.held = (index, score)
            return None
        self.sprt.add_game(score)
        return self.sprt.decision()

    def flush(self) -> None:
        """Count a game still waiting for its pair on its own (its partner failed, or the match ended)."""
        if self.held is not None:
            self.sprt.add_game(self.held[1])
            self.held = None


def head_to_head(registry: Any, request: HeadToHead, *, store: Any = None, progress: Progress = SILENT,
                 catch_interrupt: bool = True) -> dict[str, Any]:
    """Play the match and return its report: standings, SPRT, errors, forfeits and every game's result.

    With a store, every game is stored with its rating update as soon as it and every earlier game are done.
    Ctrl-C ends the match early: with catch_interrupt the report covers the games played so far (marked
    interrupted); without, KeyboardInterrupt propagates after what was played is stored.
    """
    from arena.services.recording import Recorder

    seed, games, info, names, book, described, jobs = _plan(registry, request)
    n, spec = len(names), request.sprt
    feed = SprtFeed(spec) if spec else None
    recorder = Recorder(store, event=request.event, stream=plays_in_process(request.workers, request.ray_address)
                        ) if store is not None else None
    played: list[tuple[tuple[int, ...], MatchResult]] = []
    interrupted = False
    where = Placement()
    progress.start(info.env_id, games)
    stream = run_games(jobs, workers=request.workers, ray_address=request.ray_address, registry=registry,
                       options=PlayOptions(record_moves=request.record_moves, move_timeout=request.move_timeout,
                                           game_timeout=request.game_timeout), placement=where)
    try:
        with contextlib.closing(stream):
            for job, result in stream:
                order = job.order
                played.append((order, result))
                if recorder is not None:
                    recorder.add(result)
                progress.advance()
                if feed and feed.add(job.index, order, result):
                    break
    except KeyboardInterrupt:
        if not catch_interrupt:
            raise
        interrupted = True
    finally:
        progress.finish()
        if feed:
            feed.flush()
        if recorder is not None:
            recorder.flush()
    single = info.cooperative  # one side: scored by return
    return {
        "env": info.env_id, "seed": seed, "games_requested": games, "games_played": len(played),
        "interrupted": interrupted, "participants": names, "workers": request.workers,
        "stored": ({"db": str(store.path), "new": recorder.new, "already_stored": recorder.already,
                    "replays_not_rated": recorder.replays}
                   if recorder is not None else None),
        "sprt": feed.sprt.to_dict() if feed else None,
        "openings": ({"spec": request.openings, "per": f"games {n}k..{n}k+{n - 1} share opening k",
                      "used": described[: -(-len(played) // n)]} if book else None),
        "errors": [{"game": i, "error": r.error} for i, (_, r) in enumerate(played) if r.error],
        "games_failed": sum(1 for _, r in played if r.error),  # played but failed: in no standing
        "standings": [s.to_dict(single_seat=single) for s in standings(names, played)],
        "forfeits": [{"game": i, "seat": seat, "player": r.players[seat], "reason": why}
                     for i, (_, r) in enumerate(played) for seat, why in sorted(r.forfeits.items())],
        **(_placement(where, len(played)) if request.ray_address is not None else {"nodes": None, "replayed": None}),
        "results": [r.to_dict() for _, r in played],
    }


def games_per_node(where: Placement) -> dict[str, int]:
    """Games per Ray node, most first."""
    return dict(Counter(where.played.values()).most_common())


def _placement(where: Placement, played: int) -> dict[str, Any]:
    """Where the first `played` games ran on Ray: games per node, and the games played again after a try was lost
    with its actor (its process died or its node was lost), with where."""
    return {"nodes": dict(Counter(where.played[i] for i in range(played) if i in where.played).most_common()),
            "replayed": [{"game": i, "lost_on": where.lost[i], "played_on": where.played.get(i)}
                         for i in range(played) if i in where.lost]}


def _side_names(info: Any, sides: Sequence[int]) -> str:
    names = info.team_names if info.teams else tuple(f"seat {i}" for i in range(info.num_seats))
    return " and ".join(names[i] for i in sides)


def _plan(registry: Any, request: HeadToHead, first_index: int = 0) -> tuple[int, int, Any, list[str], Any,
                                                                             list[Any], list[GameJob]]:
    """(seed, games, GameInfo, display names, openings book, openings described, jobs) of a match, checked:
    seats, SPRT's two players, every policy able to play the game. Job indices start at `first_index`."""
    seed = random.randrange(2**31) if request.seed is None else request.seed
    for option, timeout in (("--move-timeout", request.move_timeout), ("--game-timeout", request.game_timeout)):
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):  # NaN would forfeit every move
            raise UsageError(f"{option} must be a finite number of seconds above 0, got {timeout!r}.")
    spec = request.sprt
    games = request.games or (20_000 if spec else 10)
    game = registry.make_game(request.env)
    info = game.info
    try:
        n = info.match_seats(len(request.policies))
        if n is None:
            raise UsageError(f"{info.env_id} has {info.seat_help()}; give one policy per seat"
                             + (" or per team" if info.teams else "") + f" ({len(request.policies)} given).")
        if spec and n != 2:
            raise UsageError(f"--sprt compares two players; {info.env_id} has {n} seats.")
        participants = [registry.make_policy(p) for p in request.policies]
        for policy in participants:
            policy.check(info)
        orders = seat_orders([p.sides(info) for p in participants], games)
        if not orders:
            bound = ", ".join(f"{p.player_id} plays only {_side_names(info, p.sides(info))}" for p in participants
                              if p.sides(info) is not None)
            raise UsageError(f"No seating of these players fits {info.env_id}: {bound}.")
        book = Book(game, request.openings) if request.openings else None
        openings = book.openings(seed, -(-games // n)) if book else []
        described = describe(book, openings)
    finally:
        game.close()
    ids = [p.player_id for p in participants]  # canonical: what workers build and what the store keys games by
    jobs = [GameJob(first_index + i, info.env_id, tuple(ids[j] for j in orders[i]), game_seed(seed, i),
                    opening_of(openings, i, n), order=orders[i]) for i in range(games)]
    return seed, games, info, unique_names(ids), book, described, jobs


def first_player_scores(registry: Any, requests: Sequence[HeadToHead], *, store: Any = None, event: str | None = None,
                        workers: int = 1, ray_address: str | None = None,
                        placement: Placement | None = None) -> list[float]:
    """Each match's first player's score (`first_player_standings`)."""
    return [s.score for s in first_player_standings(registry, requests, store=store, event=event, workers=workers,
                                                    ray_address=ray_address, placement=placement)]


def first_player_standings(registry: Any, requests: Sequence[HeadToHead], *, store: Any = None,
                           event: str | None = None, workers: int = 1, ray_address: str | None = None,
                           placement: Placement | None = None) -> list[Any]:
    """Several matches played as one batch of games (one pool of `workers` workers for all of them), stored as they
    finish; returns each match's first player's Standing (with one side, its score is the mean return). The games,
    their seeds and match ids are those that head_to_head would play for each request alone, so the store ends up
    the same; what a batch saves is starting workers once instead of once per match. For league evaluation (no
    SPRT, no progress, no report). With `ray_address` the games play on Ray actors there, as `arena match
    --ray-address` plays them, and `placement` (when given) is filled with the node of each game; only this process
    writes the store."""
    from arena.services.recording import Recorder

    plans, jobs = [], []
    for request in requests:
        plan = _plan(registry, request, first_index=len(jobs))
        plans.append((len(jobs), plan))
        jobs += plan[-1]
    played: list[MatchResult] = []
    with Recorder(store, event=event, stream=plays_in_process(workers, ray_address)) if store is not None \
            else contextlib.nullcontext() as recorder:
        stream = run_games(jobs, workers=workers, ray_address=ray_address, registry=registry, placement=placement)
        with contextlib.closing(stream):
            for _, result in stream:
                played.append(result)
                if recorder is not None:
                    recorder.add(result)
    scores = []
    for start, (_, games, info, names, *_rest) in plans:
        mine = [(jobs[start + i].order, played[start + i]) for i in range(games)]
        scores.append(standings(names, mine)[0])
    return scores


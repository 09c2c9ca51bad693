"""`arena match`: head-to-head games on one or many workers, stored as they finish, optionally stopped by SPRT."""
from __future__ import annotations

import contextlib
import random
from typing import Any

import click

from arena.errors import UsageError
from arena.output import print_json, print_table, stderr_console

workers_option = click.option(
    "--workers", "-j", type=click.IntRange(min=1), default=1, show_default=True,
    help="Games in parallel: worker processes here, or Ray actors with --ray-address (1 with Ray: one per CPU).")
ray_option = click.option(
    "--ray-address", default=None,
    help="Play on Ray actors: a cluster address, 'auto' inside a cluster, or 'local' for a Ray on this machine.")


def progress_bar():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = stderr_console()
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


def unique_names(names: list[str]) -> list[str]:
    """Player names made distinct for display when the same spec sits in two seats ("random", "random#2")."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


class SprtFeed:
    """Feeds a match's games to SPRT in order: games 2k and 2k+1 (seats swapped) as one pentanomial pair.

    A game whose partner failed counts alone (trinomial); failed games do not count.
    """

    def __init__(self, spec: Any):
        from arena.sprt import Sprt

        self.sprt = Sprt(spec)
        self.held: tuple[int, float] | None = None  # (index, participant 0's score) of a game waiting for its pair

    def add(self, index: int, order: tuple[int, ...], result: Any) -> str | None:
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


@click.command("match")
@click.argument("env")
@click.argument("policies", nargs=-1, required=True)
@click.option("--games", "-n", type=click.IntRange(min=1), default=None,
              help="Games to play (default 10; with --sprt, the most it may play: 20000).")
@click.option("--seed", "-s", type=int, default=None, help="Match seed (default: random, and printed).")
@click.option("--sprt", "sprt_text", default=None, metavar="elo0=E0,elo1=E1[,alpha=A,beta=B]",
              help="Stop as soon as a sequential probability ratio test decides between Elo E0 and E1 (two players).")
@workers_option
@ray_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@click.option("--moves", "record_moves", is_flag=True, help="Record every game's moves (in --json output).")
@click.option("--move-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds a policy may think per move before it forfeits (default: no limit).")
@click.option("--db", "db_path", envvar="ARENA_DB", default=None,
              help="Store every game, with its rating update, in this Arena store (or $ARENA_DB).")
@click.pass_context
def match_cmd(ctx: click.Context, env: str, policies: tuple[str, ...], games: int | None, seed: int | None,
              sprt_text: str | None, workers: int, ray_address: str | None, as_json: bool, record_moves: bool,
              move_timeout: float | None, db_path: str | None) -> None:
    """Play GAMES games of ENV between POLICIES (one per seat; seats rotate between games).

    \b
    Examples:
      arena match openspiel/connect_four mcts:simulations=200 random --games 50 --db arena.db
      arena match openspiel/connect_four mcts:simulations=400 mcts:simulations=50 --sprt elo0=0,elo1=20 -j 2
    """
    from arena.evaluation import Recorder, open_store
    from arena.match import game_seed, seat_order
    from arena.parallel import GameJob, PlayOptions, run_games
    from arena.sprt import SprtSpec
    from arena.stats import standings

    reg = ctx.find_root().obj
    seed = random.randrange(2**31) if seed is None else seed
    spec = SprtSpec.parse(sprt_text) if sprt_text else None
    games = games or (20_000 if spec else 10)
    game = reg.make_game(env)
    n = game.info.num_seats
    if len(policies) != n:
        raise UsageError(f"{game.info.env_id} has {n} seat(s); give one policy per seat ({len(policies)} given).")
    if spec and n != 2:
        raise UsageError(f"--sprt compares two players; {game.info.env_id} has {n} seat(s).")
    participants = [reg.make_policy(p) for p in policies]
    for policy in participants:
        policy.check(game.info)
    game.close()
    names = unique_names([p.player_id for p in participants])
    ids = [p.player_id for p in participants]  # canonical: what workers build and what the store keys games by
    jobs = [GameJob(i, game.info.env_id, tuple(ids[j] for j in seat_order(n, i)), game_seed(seed, i))
            for i in range(games)]
    feed = SprtFeed(spec) if spec else None
    store = open_store(db_path) if db_path else None
    recorder = Recorder(store) if store is not None else None
    played: list[tuple[tuple[int, ...], Any]] = []
    interrupted = False
    with progress_bar() as progress:
        task = progress.add_task(game.info.env_id, total=games)
        stream = run_games(jobs, workers=workers, ray_address=ray_address, registry=reg,
                           options=PlayOptions(record_moves=record_moves, move_timeout=move_timeout))
        try:
            with contextlib.closing(stream):
                for job, result in stream:
                    order = seat_order(n, job.index)
                    played.append((order, result))
                    if recorder is not None:
                        recorder.add(result)
                    progress.advance(task)
                    if feed and feed.add(job.index, order, result):
                        break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if feed:
                feed.flush()
            if recorder is not None and store is not None:
                recorder.flush()
                store.close()
    single = n == 1
    doc = {
        "env": game.info.env_id, "seed": seed, "games_requested": games, "games_played": len(played),
        "interrupted": interrupted, "participants": names, "workers": workers,
        "stored": {"db": db_path, "new": recorder.new, "already_stored": recorder.already} if recorder else None,
        "sprt": feed.sprt.to_dict() if feed else None,
        "errors": [{"game": i, "error": r.error} for i, (_, r) in enumerate(played) if r.error],
        "standings": [s.to_dict(single_seat=single) for s in standings(names, played)],
        "forfeits": [{"game": i, "seat": seat, "player": r.players[seat], "reason": why}
                     for i, (_, r) in enumerate(played) for seat, why in sorted(r.forfeits.items())],
        "results": [r.to_dict() for _, r in played],
    }
    if as_json:
        return print_json(doc)
    print_standings(doc, single)


def _fmt_elo(x: float | None, sign_if_none: str) -> str:
    if x is None:
        return f"{sign_if_none}inf"
    return f"{x:+.0f}"


def print_standings(doc: dict[str, Any], single: bool) -> None:
    title = f"{doc['env']}: {doc['games_played']} games, seed {doc['seed']}"
    if doc["interrupted"]:
        title += f" (interrupted after {doc['games_played']} of {doc['games_requested']})"
    rows = []
    for s in doc["standings"]:
        if single:
            rows.append([s["player"], s["games"], f"{s['mean_return']:.3f}"])
            continue
        lo, hi = s["score_ci95"]
        elo_lo, elo_hi = s["elo_ci95"]
        rows.append([s["player"], s["games"], s["wins"], s["draws"], s["losses"], s["forfeits"],
                     f"{s['score']:.3f}", f"[{lo:.3f}, {hi:.3f}]",
                     _fmt_elo(s["elo"], "+" if s["score"] >= 0.5 else "-"),
                     f"[{_fmt_elo(elo_lo, '-')}, {_fmt_elo(elo_hi, '+')}]"])
    if single:
        print_table(["Player", "Games", "Mean return"], rows, title=title, right=["Games", "Mean return"])
    else:
        cols = ["Player", "Games", "W", "D", "L", "Forfeits", "Score", "Score 95% CI", "Elo", "Elo 95% CI"]
        print_table(cols, rows, title=title, right=cols[1:])
    if doc["sprt"]:
        click.echo(sprt_line(doc["sprt"], doc["participants"]))
    if doc["stored"]:
        st = doc["stored"]
        click.echo(f"Stored {st['new']} new games in {st['db']}"
                   + (f" ({st['already_stored']} were already there)" if st["already_stored"] else "")
                   + f"; see `arena leaderboard --db {st['db']}`.", err=True)
    for e in doc["errors"][:5]:
        click.echo(f"error: game {e['game']}: {e['error']}", err=True)
    for f in doc["forfeits"][:5]:
        click.echo(f"forfeit: game {f['game']}, seat {f['seat']} ({f['player']}): {f['reason']}", err=True)
    if len(doc["forfeits"]) > 5:
        click.echo(f"... and {len(doc['forfeits']) - 5} more forfeits (see --json).", err=True)


def sprt_line(s: dict[str, Any], names: list[str]) -> str:
    verdict = {"H1": f"H1 accepted: {names[0]} is at least {s['elo1']:+g} Elo against {names[1]}",
               "H0": f"H0 accepted: {names[0]} is at most {s['elo0']:+g} Elo against {names[1]}",
               None: "no decision yet: play more games (raise --games) or widen elo0..elo1"}[s["decision"]]
    elo, (lo, hi) = s["elo"], s["elo_ci95"]
    return (f"SPRT {s['spec']}: LLR {s['llr']:.2f} in [{s['lower']:.2f}, {s['upper']:.2f}] after {s['games']} games "
            f"({s['pairs']} pairs, pentanomial {s['pentanomial']}); Elo {elo:+.1f} [{lo:+.1f}, {hi:+.1f}]. {verdict}.")

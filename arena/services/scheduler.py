"""The league loop: matchmaking, training, evaluation, snapshot rules and stop criteria, round after round.

The scheduler owns all league state and keeps it in the store (arena.store.leagues); learners are reached only
through `arena.protocols.Learner` (`create`, `train`, `set_table`, `snapshot`, `save`, `load`, `stop`), so this
module imports neither ray nor torch. Each round:

  1. matchmaking: each learner's matchmaker turns (pool, payoff, ratings, rng) into an opponent table;
  2. training: `iterations` RLlib iterations per learner; episode outcomes feed the decayed payoff table;
  3. each learner is frozen (a rated copy) and checkpointed; phase 'trained' is committed;
  4. evaluation: each copy plays the fixed players, the other learners' copies and recent pool snapshots;
     games are stored with their rating updates as they finish;
  5. snapshot rules promote copies into the pool; phase 'done' is committed; stop criteria are checked.
"""
from __future__ import annotations

import hashlib
import shutil
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from arena import processes
from arena.config import League
from arena.errors import ArenaError
from arena.features import version_for
from arena.learners import create_learner, restore
from arena.pool import FIXED, LEARNER, SELF, SNAPSHOT, Member, Pool
from arena.ratings import conservative
from arena.parallel import Placement
from arena.services.headtohead import HeadToHead, first_player_scores, first_player_standings, games_per_node
from arena.services.leagues import stop_leftovers
from arena.services.training import RETURN, check_init
from arena.store import leagues as state
from arena.store import return_board


def round_rng(seed: int, round_: int, what: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}/{round_}/{what}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def eval_seed(seed: int, round_: int, a: str, b: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{round_}/{a}/{b}".encode()).digest()[:4], "little")


class Scheduler:
    def __init__(self, league: League, store: Any, registry: Any, *, run_dir: Path, resume: bool = False,
                 echo: Callable[[str], None] = print, ray_address: str | None = None):
        self.league, self.store, self.reg, self.echo = league, store, registry, echo
        # a Ray cluster for the learners and the evaluation games: --ray-address or $ARENA_RAY_ADDRESS, else the
        # file's [resources] ray_address; None: a local Ray for the learners, worker processes for the games
        self.ray_address = ray_address or league.resources.get("address")
        self.resources = {**league.resources, **({"address": self.ray_address} if self.ray_address else {})}
        self.run_dir = Path(run_dir) / league.name
        self.resume = resume
        self.sessions: dict[str, Any] = {}
        self.stop_requested = False
        self._measures: Any = None  # arena.services.exploitability.LeagueMeasures, for [evaluation] exploitability

    # -- names and paths ---------------------------------------------------------------------------
    def copy_name(self, learner: str, round_: int) -> str:
        return f"{self.league.name}-{learner}-r{round_:03d}"

    def checkpoint(self, learner: str, round_: int) -> Path:
        return self.run_dir / "checkpoints" / learner / f"r{round_:03d}"

    # -- the loop -----------------------------------------------------------------------------------
    def run(self) -> str:
        lg = self.league
        self._predecessor()
        if self.resume and (reason := self._already_finished()) is not None:
            return reason
        members = [Member(f, FIXED) for f in lg.fixed]
        members += [Member(x.name, LEARNER, learner=x.name, role=x.role) for x in lg.learners]
        row = state.start(self.store, lg, members, resume=self.resume)
        state.set_run(self.store, lg.name, processes.record())
        self.elapsed = float(row.get("elapsed_s") or 0.0)
        done = state.rounds_done(self.store, lg.name)
        if self.resume and done:
            self.echo(f"Resuming league {lg.name} after round {done} ({self.elapsed / 60:.1f} min so far).")
        self._last = time.monotonic()
        reason = self._stop_reason(done)
        previous = signal.signal(signal.SIGINT, self._on_interrupt)
        try:
            try:
                self._start_learners(done)
                state.set_run(self.store, lg.name, processes.record())  # Ray's processes, now they are up
                self._last = time.monotonic()
                while reason is None:
                    round_ = done + 1
                    self._round(round_)
                    state.set_run(self.store, lg.name, processes.record())  # with any worker started since
                    done = round_
                    reason = self._stop_reason(done) or ("interrupted" if self.stop_requested else None)
            except KeyboardInterrupt:  # a second Ctrl-C, or SIGTERM (arena.signals): stop now
                reason = "interrupted"
            # how the run ended is stored before the learners stop: stopping Ray can hang when the signal that
            # stopped this run (SIGTERM to the process group) also reached Ray's own processes
            state.finish(self.store, lg.name, "stopped" if reason == "interrupted" else "finished", reason or "",
                         self.elapsed)
        finally:
            signal.signal(signal.SIGINT, previous)
            for session in self.sessions.values():
                session.stop()
            if self._measures is not None:
                self._measures.close()
        return reason or ""

    def _predecessor(self) -> None:
        """Stop what a killed run of this league left running (arena.processes); refuse to run it twice at once."""
        run, stopped = stop_leftovers(self.store, self.league.name)
        if processes.owner_alive(run):
            raise state.LeagueStateError(
                f"League {self.league.name} is already running in process {run['pid']} on this machine "  # type: ignore[index]
                "(stop it with Ctrl-C or kill, then --resume).")
        if stopped:
            self.echo(f"Stopped {len(stopped)} processes left running by the killed run of league {self.league.name} "
                      f"(process {run['pid']}): " + ", ".join(f"{name} {pid}" for pid, _, name in stopped) + ".")  # type: ignore[index]

    def _already_finished(self) -> str | None:
        """On --resume: the stop rule that already holds for the stored league, checked before anything starts
        (no learner is built and Ray is not started); the league stays (or is marked) finished, never running."""
        lg = self.league
        row = state.get(self.store, lg.name)
        if row is None or row["env"] != lg.env:
            return None  # a new league, or one state.start refuses in one line
        self.elapsed = float(row["elapsed_s"] or 0.0)
        done = state.rounds_done(self.store, lg.name)
        reason = self._stop_reason(done)
        if reason is not None:
            if row["status"] != "finished" or row["stop_reason"] != reason:
                state.finish(self.store, lg.name, "finished", reason, self.elapsed)
            self.echo(f"League {lg.name} has already finished ({reason}) after round {done}; nothing to run. "
                      "Raise its stop rule in the file to continue it.")
        return reason

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        if self.stop_requested:
            raise KeyboardInterrupt
        self.stop_requested = True
        self.echo("Stopping after this round (Ctrl-C again stops now; --resume continues either way).")

    def _start_learners(self, done: int) -> None:
        """Build every learner; on resume, load each one's checkpoint of the last round that was trained."""
        lg = self.league
        trained = done + 1 if state.round_phase(self.store, lg.name, done + 1) == "trained" else done
        for x in lg.learners:
            self.sessions[x.name] = create_learner(
                self.reg, x.algo, env=lg.env, table=self._fit_table(x, {SELF: 1.0}, state.pool(self.store, lg.name)),
                hyperparameters=x.hyperparameters,
                hidden=x.hidden, seed=lg.seed + len(self.sessions), resources=self.resources)
            where = getattr(self.sessions[x.name], "runner_nodes", None)  # an RLlib learner's remote EnvRunners
            if where:
                self.echo(f"Learner {x.name} samples on {len(where)} EnvRunner{'s' if len(where) != 1 else ''} on "
                          f"Ray node{'s' if len(set(where)) != 1 else ''} {', '.join(sorted(set(where)))}.")
            if trained:
                path = self.checkpoint(x.name, trained)
                if not path.is_dir():
                    raise ArenaError(f"League {lg.name}: learner {x.name}'s checkpoint of round {trained} is missing "
                                     f"({path}). Restore the folder or start the league under another name.")
                self.sessions[x.name].load(path)
            elif x.init or x.pretrain:
                folder = self._pretrain(x) if x.pretrain else check_init(
                    x.init, self._info(), x.hidden, self.reg.settings.snapshots,
                    version_for(x.hyperparameters.get("lookahead", False)))[1]
                restore(self.sessions[x.name], folder, x.algo)
                self.echo(f"Learner {x.name} starts from snapshot/{folder.name}.")

    def _info(self) -> Any:
        if getattr(self, "_game_info", None) is None:
            game = self.reg.make_game(self.league.env)
            game.close()
            self._game_info = game.info
        return self._game_info

    def _pretrain(self, x: Any) -> Path:
        """[learners.pretrain]: play and store the games (or take the dataset), export them, and clone them into
        snapshot LEAGUE-LEARNER-pretrain; its time counts towards the league's minutes. A snapshot left by an
        earlier, interrupted start is used as it is."""
        from arena.services.cloning import behaviour_clone
        from arena.services.dataset import export, generate

        lg, pre = self.league, x.pretrain
        name = f"{lg.name}-{x.name}-pretrain"
        folder = self.reg.settings.snapshots / name
        if (folder / "meta.json").is_file():
            return folder
        started = time.monotonic()
        data = pre.data
        if data is None:
            self.echo(f"Pretraining {x.name}: {pre.games} games for each pair of {', '.join(pre.players)} "
                      f"on {pre.workers} workers" + (f", every move labelled by {pre.teacher}." if pre.teacher else "."))
            generate(self.reg, self.store, env=lg.env, players=list(pre.players), games=pre.games,
                     workers=pre.workers, seed=lg.seed, openings=pre.openings)
            data = self.run_dir / "pretrain" / x.name
            export(self.reg, self.store, env=lg.env, out=data, players=list(pre.imitate or pre.players),
                   overwrite=True, lookahead=x.hyperparameters.get("lookahead", False), teacher=pre.teacher,
                   workers=pre.workers)
        result = behaviour_clone(self.reg, lg.env, data, hidden=x.hidden, seed=lg.seed, name=name,
                                 snapshots_dir=self.reg.settings.snapshots, epochs=pre.epochs, minutes=pre.minutes,
                                 store=self.store)
        spent = time.monotonic() - started
        self.elapsed += spent
        accuracy = result.get("held_out_accuracy")
        self.echo(f"Pretrained {x.name} by behaviour cloning in {spent / 60:.1f} min: {result.get('samples', 0):,} "
                  f"samples" + (f", held-out move accuracy {accuracy:.3f}" if accuracy is not None else "") + ".")
        return folder

    def _tick(self) -> float:
        """Add the wall time since the last tick to the league's total (kept across runs for the minutes rule)."""
        now = time.monotonic()
        self.elapsed += now - self._last
        self._last = now
        return self.elapsed

    def _round(self, r: int) -> None:
        lg = self.league
        if state.round_phase(self.store, lg.name, r) != "trained":
            self._train(r)
        summary = next(x for x in state.rounds(self.store, lg.name) if x["round"] == r)
        scores = self._evaluate(r)
        joined, retired = self._snapshot_rules(r, scores)
        summary.update(evaluation=scores, joined=[m.id for m in joined])
        if lg.eval_exploitability:
            summary["exploitability"], summary["exploitability_average"] = self._exploitability(r, summary)
        for key in ("round", "phase", "at"):
            summary.pop(key, None)
        state.commit_done(self.store, lg.name, r, summary, joined, retired, self._tick())
        self._report(r, summary)

    def _train(self, r: int) -> None:
        lg = self.league
        pool = state.pool(self.store, lg.name)
        payoff = state.payoff(self.store, lg.name, lg.payoff_decay)
        ratings = self._ratings()
        tables, outcomes = {}, {}
        for x in lg.learners:  # matchmaking sees the pool as it was when the round began
            me = pool.get(x.name)
            mm_id, params = lg.matchmaking[x.role]
            table = self.reg.resolve("matchmaker", mm_id).load()(me, pool, payoff, ratings,
                                                                  round_rng(lg.seed, r, x.name), **params)
            tables[x.name] = self._fit_table(x, table or {SELF: 1.0}, pool)
        for x in lg.learners:
            self.sessions[x.name].set_table(tables[x.name])
            self.echo(f"round {r}: {x.name} trains against "
                      + ", ".join(f"{o} {w:.2f}" for o, w in sorted(tables[x.name].items(), key=lambda kv: -kv[1])))
        if self._concurrent():
            self.echo(f"round {r}: {len(lg.learners)} learners train at the same time on the Ray cluster.")
            with ThreadPoolExecutor(len(lg.learners), thread_name_prefix="arena-learner") as threads:
                gathered = list(threads.map(self._iterations, lg.learners))
        else:
            gathered = [self._iterations(x) for x in lg.learners]
        for x, got in zip(lg.learners, gathered):  # in the league's order, however they were trained
            for opponent, scores in got.items():
                outcomes.setdefault(x.name, {}).setdefault(opponent, []).extend(scores)
        learners, copies = [], []
        for x in lg.learners:
            session, me = self.sessions[x.name], pool.get(x.name)
            for opponent, scores in outcomes.get(x.name, {}).items():
                if opponent not in (SELF, RETURN):
                    payoff.update(x.name, opponent, scores)
            name = self.copy_name(x.name, r)
            folder = self.reg.settings.snapshots / name
            if folder.exists():  # left by a run killed before this round was committed: never rated, redo it
                shutil.rmtree(folder)
            session.snapshot(name, parent=me.policy, directory=folder)
            path = self.checkpoint(x.name, r)
            tmp = path.with_name(path.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            session.save(tmp)
            shutil.rmtree(path, ignore_errors=True)
            tmp.rename(path)
            copy_id = f"snapshot/{name}"
            learners.append(Member(x.name, LEARNER, learner=x.name, role=x.role, round=r, iteration=session.iteration,
                                   steps=session.env_steps, policy=copy_id, parent=me.policy))
            copies.append({"id": copy_id, "env": lg.env, "parent": me.policy, "iteration": session.iteration,
                           "steps": session.env_steps, "checkpoint": str(folder)})
        summary = {"tables": tables, "training": {k: {o: [float(np.mean(s)), len(s)] for o, s in v.items()}
                                                  for k, v in outcomes.items()},
                   "learners": {m.id: {"iteration": m.iteration, "steps": m.steps, "copy": m.policy} for m in learners}}
        state.commit_trained(self.store, lg.name, r, summary, learners, copies, payoff, self._tick())
        self._prune_checkpoints(r)

    def _iterations(self, x: Any) -> dict[str, list[float]]:
        """One learner's iterations of a round; returns its episodes' outcomes by opponent (RETURN: returns)."""
        session, outcomes = self.sessions[x.name], {}
        for _ in range(self.league.iterations_per_round):
            started, steps = time.monotonic(), session.env_steps
            result = session.train()
            for opponent, scores in result["outcomes"].items():
                outcomes.setdefault(opponent, []).extend(scores)
            if result.get("returns"):  # a game with one side: the episodes' (mean team) returns
                outcomes.setdefault(RETURN, []).extend(result["returns"])
            rate = (session.env_steps - steps) / max(time.monotonic() - started, 1e-9)
            self.echo(f"  {x.name} iteration {session.iteration}: {session.env_steps:,} env steps, "
                      f"{rate:,.0f} steps/s")
        return outcomes

    def _concurrent(self) -> bool:
        """Whether the learners train at the same time, each in a thread of this process: when there are several
        and each samples on Ray workers of its own (`samples_remotely`: `[resources] num_env_runners` > 0), so this
        process only waits on them and applies the updates. Those workers were placed when the learners were
        built, so the cluster has room for all of them by then. Learners that sample here take turns, since
        their sampling would share one interpreter."""
        sessions = list(self.sessions.values())
        return len(sessions) > 1 and all(getattr(s, "samples_remotely", False) for s in sessions)

    def _prune_checkpoints(self, r: int) -> None:
        for x in self.league.learners:
            for old in (self.checkpoint(x.name, r).parent).glob("r*"):
                if old.name not in (f"r{r:03d}", f"r{r - 1:03d}"):
                    shutil.rmtree(old, ignore_errors=True)

    def _ratings(self) -> dict[str, tuple[float, float]]:
        return state.skills(self.store, self.league.env)

    def _evaluate(self, r: int) -> dict[str, dict[str, float]]:
        """A connected schedule of rated games: each learner's copy meets the fixed players, the other copies, the
        latest pool snapshots and the top K of the league's leaderboard; each fixed player meets the top K pool
        snapshots (`top_games` games each), so the strongest snapshots keep being measured against the anchors;
        and the fixed players meet each other once (`games` games a pair), so the table among them has no hole.

        The round's games play as one batch on `[resources] eval_workers` workers through the head-to-head service;
        each pairing's games are seeded from the league seed, the round and the two players, so 1 or K workers
        store the same games.
        Returns each learner's score against each opponent (what the snapshot and stop rules read).
        """
        lg = self.league
        if lg.eval_games == 0:
            return {}
        pool = state.pool(self.store, lg.name)
        info = self._info()
        if info.cooperative:
            return self._evaluate_returns(r, pool)
        seats = len(info.sides)  # one player per side: a seat, or a whole team
        teams = self._teams(pool)
        top = self._leaderboard(pool)[:lg.eval_top] if lg.eval_top else []
        matches: list[tuple[str | None, str, HeadToHead]] = []  # (learner or None, opponent, the match)

        def match(players: list[str], seed: int, games: int, learner: str | None = None) -> None:
            matches.append((learner, players[1], HeadToHead(lg.env, tuple(players), games=games, seed=seed,
                                                            event=lg.name, openings=lg.eval_openings)))

        for x in lg.learners:
            me = pool.get(x.name).policy
            others = [m.plays_as for m in pool.fixed()] + [m.policy for m in pool.learners() if m.id != x.name]
            others += [m.id for m in pool.snapshots()[-lg.eval_snapshots:]] if lg.eval_snapshots else []
            others = list(dict.fromkeys(o for o in others + top if o and o != me))
            for opponent in others:
                players = [me, opponent] + [o for o in others if o != opponent][: seats - 2]
                bound = [teams[p] for p in players if teams.get(p)]
                if len(players) == seats and len(bound) == len(set(bound)):  # no two players bound to one team
                    match(players, eval_seed(lg.seed, r, me, opponent), lg.eval_games, x.name)
        if seats == 2 and lg.eval_top:  # the anchors meet each other once: without those games the pair
            fixed = [m.plays_as for m in pool.fixed()]  # table has a hole that Nash averaging reads as a tie
            for i, a in enumerate(fixed):
                for b in fixed[i + 1:]:
                    if a and b and state.games_between(self.store, lg.name, a, b) < lg.eval_games:
                        match([a, b], eval_seed(lg.seed, 0, a, b), lg.eval_games)
        if seats == 2 and lg.eval_top and lg.eval_top_games:
            snapshots = {m.id for m in pool.snapshots()}
            best = [p for p in self._leaderboard(pool) if p in snapshots][:lg.eval_top]
            for fixed in (m.plays_as for m in pool.fixed()):
                for snapshot in best:
                    match([fixed, snapshot], eval_seed(lg.seed, r, fixed, snapshot), lg.eval_top_games)
        # one batch of games on one pool of workers for the whole round
        where = Placement()
        played = first_player_scores(self.reg, [m for _, _, m in matches], store=self.store, event=lg.name,
                                     workers=lg.eval_workers, ray_address=self.ray_address, placement=where)
        self._say_where(r, where)
        scores: dict[str, dict[str, float]] = {}
        for (learner, opponent, _), score in zip(matches, played):
            if learner is not None:
                scores.setdefault(learner, {})[opponent] = score
        return scores

    def _evaluate_returns(self, r: int, pool: Pool) -> dict[str, dict[str, float]]:
        """A game with one side (a one-seat env, a cooperative simulation): each learner's copy plays `games` games
        alone, and each fixed player as many once, for the return leaderboard; returns {learner: {RETURN: mean}}."""
        lg = self.league
        matches: list[tuple[str | None, HeadToHead]] = []
        for x in lg.learners:
            me = pool.get(x.name).policy
            matches.append((x.name, HeadToHead(lg.env, (me,), games=lg.eval_games, seed=eval_seed(lg.seed, r, me, ""),
                                               event=lg.name)))
        for fixed in (m.plays_as for m in pool.fixed()):
            if fixed and state.games_between(self.store, lg.name, fixed, fixed) < lg.eval_games:
                matches.append((None, HeadToHead(lg.env, (fixed,), games=lg.eval_games,
                                                 seed=eval_seed(lg.seed, 0, fixed, ""), event=lg.name)))
        where = Placement()
        played = first_player_standings(self.reg, [m for _, m in matches], store=self.store, event=lg.name,
                                        workers=lg.eval_workers, ray_address=self.ray_address, placement=where)
        self._say_where(r, where)
        return {learner: {RETURN: standing.score} for (learner, _), standing in zip(matches, played) if learner}

    def _exploitability(self, r: int, summary: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
        """[evaluation] exploitability: each learner's copy of the round, and the average of its copies so far, by
        their move probabilities (NashConv / 2)."""
        from arena.services.exploitability import LeagueMeasures

        if self._measures is None:
            self._measures = LeagueMeasures(self.reg, self.league.env)
        earlier = [x for x in state.rounds(self.store, self.league.name) if x["round"] < r]
        copies = {x: [c for c in (e.get("learners", {}).get(x, {}).get("copy") for e in earlier) if c] + [info["copy"]]
                  for x, info in summary.get("learners", {}).items()}
        return self._measures.measure(copies)

    def _say_where(self, r: int, where: Placement) -> None:
        """On a Ray cluster: which nodes played the round's evaluation games, and any played again."""
        if where.played:
            nodes = games_per_node(where)
            self.echo(f"round {r}: evaluation played on {len(nodes)} Ray node{'s' if len(nodes) != 1 else ''}: "
                      + ", ".join(f"{node} {games} games" for node, games in nodes.items())
                      + (f"; {len(where.lost)} played again after their node or worker was lost" if where.lost
                         else "") + ".")

    def _teams(self, pool: Pool) -> dict[str, str]:
        """The team each player bound to one is bound to: a team-bound learner's copies and snapshots."""
        bound = {x.name: x.team for x in self.league.learners if x.team}
        return {p: bound[m.learner] for m in pool.members if m.learner in bound
                for p in (m.id, m.plays_as) if p}

    def _fit_table(self, x: Any, table: dict[str, float], pool: Pool) -> dict[str, float]:
        """A learner bound to a team meets only players of other teams, never itself: its matchmaker's table without
        them (the fixed players, evenly, when nothing is left)."""
        if self._info().cooperative:  # nobody to meet: the learner plays every agent
            return {SELF: 1.0}
        if not x.team:
            return table
        teams = self._teams(pool)
        kept = {o: w for o, w in table.items() if o != SELF and teams.get(o) != x.team}
        fixed = [m.plays_as for m in pool.fixed() if m.plays_as]
        others = [m.plays_as for m in pool.learners() if m.plays_as and teams.get(m.plays_as) != x.team]
        return kept or {o: 1.0 for o in fixed + others}

    def _leaderboard(self, pool: Pool) -> list[str]:
        """The league's players (fixed, pool snapshots, learners' current copies), best conservative rating first."""
        ratings = self._ratings()
        players = {m.plays_as for m in pool.members if m.plays_as}
        return sorted((p for p in players if p in ratings), key=lambda p: -conservative(ratings[p]))

    def _snapshot_rules(self, r: int, scores: dict[str, dict[str, float]]) -> tuple[list[Member], list[str]]:
        lg = self.league
        pool = state.pool(self.store, lg.name)
        joined, retired = [], []
        for x in lg.learners:
            me = pool.get(x.name)
            mine = pool.snapshots(learner=x.name)
            since = me.iteration - (mine[-1].iteration if mine else 0)
            fire = lg.snapshot_every is not None and since >= lg.snapshot_every
            if lg.snapshot_win_rate is not None:
                vs = scores.get(x.name, {})
                targets = [self._plays_as(pool, t) for t in lg.snapshot_against]
                fire |= all(t in vs and vs[t] >= lg.snapshot_win_rate for t in targets)
            if fire:
                joined.append(Member(me.policy, SNAPSHOT, learner=x.name, role=x.role, round=r, parent=me.parent,
                                     iteration=me.iteration, steps=me.steps))
                retired += [m.id for m in mine[: max(0, len(mine) + 1 - lg.max_pool)]]
        return joined, retired

    @staticmethod
    def _plays_as(pool: Pool, name: str) -> str:
        member = pool.get(name)
        return (member.plays_as or name) if member else name

    def _stop_reason(self, done: int) -> str | None:
        lg = self.league
        if lg.stop_rounds is not None and done >= lg.stop_rounds:
            return f"{done} rounds"
        if lg.stop_minutes is not None and self.elapsed >= lg.stop_minutes * 60:
            return f"{self.elapsed / 60:.1f} minutes"
        if not done:
            return None
        last = state.rounds(self.store, lg.name)[-1]
        pool = state.pool(self.store, lg.name)
        if lg.stop_win_rate is not None:
            who, player, at_least = lg.stop_win_rate
            score = last.get("evaluation", {}).get(who, {}).get(self._plays_as(pool, player))
            if score is not None and score >= at_least:
                return f"{who} scored {score:.2f} against {player}"
        if lg.stop_return is not None:
            for who, scores in last.get("evaluation", {}).items():
                if scores.get(RETURN) is not None and scores[RETURN] >= lg.stop_return:
                    return f"{who} reached a mean return of {scores[RETURN]:.2f}"
        if lg.stop_rating is not None:
            ratings = self._ratings()
            for m in pool.learners():
                skill = ratings.get(m.policy or "")
                if skill is not None and conservative(skill) >= lg.stop_rating:
                    return f"{m.id} rated {conservative(skill):.1f} (conservative)"
        return None

    def _report(self, r: int, summary: dict[str, Any]) -> None:
        lg = self.league
        head = f"round {r}" + (f"/{lg.stop_rounds}" if lg.stop_rounds else "") + f"  {self.elapsed / 60:.1f} min"
        self.echo(head)
        for name, info in summary.get("learners", {}).items():
            played = sorted(summary.get("training", {}).get(name, {}).items(), key=lambda kv: -kv[1][1])
            train = "  ".join(f"{o} {s:.2f}" for o, (s, n) in played[:4]) + (
                f"  (+{len(played) - 4} more)" if len(played) > 4 else "")
            ev = "  ".join(f"{o} {s:.2f}" for o, s in summary.get("evaluation", {}).get(name, {}).items())
            exploit = summary.get("exploitability", {}).get(name)
            average = summary.get("exploitability_average", {}).get(name)
            self.echo(f"  {name}: it {info['iteration']}, {info['steps']:,} steps | training: {train or '-'}"
                      f" | evaluation: {ev or '-'}" + (f" | exploitability {exploit:.4f}" if exploit is not None
                                                       else "") + (f", average {average:.4f}" if average is not None
                                                                   else ""))
        for snap in summary.get("joined", []):
            self.echo(f"  snapshot: {snap} joined the pool")
        if self._info().cooperative:  # nobody to beat: the best mean returns
            board = return_board(self.store, env=lg.env, league=lg.name, top=5)
            self.echo("  top (mean return): " + ", ".join(f"{b['player']} {b['mean_return']:.2f}" for b in board))
            return
        top = sorted(((conservative(skill), p) for p, skill in self._ratings().items()), reverse=True)[:5]
        self.echo("  top: " + ", ".join(f"{p} {rating:.1f}" for rating, p in top))

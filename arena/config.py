"""League files (`leagues/*.toml`): parsing and validation that reports every problem before anything starts.

Each problem is one line, `FILE: KEY: what is wrong (did you mean ...)`. Ids are checked against the plugins'
registries (games, policies, algorithms, matchmakers), so a bad league never reaches Ray.
"""
from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ArenaError
from .learners import check_hyperparameters, mapping_problem
from .pool import ROLES

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SCHEMA: dict[str, set[str]] = {
    "": {"name", "env", "seed", "description", "learners", "fixed", "matchmaking", "snapshots", "evaluation",
         "stop", "round", "resources", "payoff_decay"},
    "learners": {"name", "algo", "role", "hidden", "hyperparameters", "init", "pretrain", "sharing", "team"},
    "learners.pretrain": {"data", "players", "games", "imitate", "openings", "epochs", "minutes", "workers",
                          "teacher"},
    "fixed": {"policy", "params"},
    "snapshots": {"every", "win_rate", "against", "max_pool"},
    "evaluation": {"games", "snapshots", "top", "top_games", "openings", "exploitability"},
    "stop": {"rounds", "minutes", "win_rate", "rating", "return"},
    "stop.win_rate": {"player", "at_least", "learner"},
    "round": {"iterations"},
    "resources": {"num_env_runners", "num_envs_per_env_runner", "num_learners", "num_gpus_per_learner", "ray_address",
                  "address", "eval_workers"},
}
DEFAULT_MATCHMAKER = {"main": "pfsp", "main_exploiter": "alphastar", "league_exploiter": "alphastar"}
# Upper bounds of numeric keys (docs/leagues.md#limits): far above any league that finishes on one machine, low enough
# that a typo (10**21 iterations, a 24-digit seed) is refused before anything starts. Raise one here where needed.
SEED_MAX = 2**32 - 1  # RLlib and numpy seed with 32-bit integers
LIMITS: dict[str, float] = {
    "seed": SEED_MAX,
    "round.iterations": 100_000,
    "snapshots.every": 1_000_000,
    "snapshots.max_pool": 10_000,
    "evaluation.games": 100_000,
    "evaluation.snapshots": 1_000,
    "evaluation.top": 1_000,
    "evaluation.top_games": 100_000,
    "stop.rounds": 1_000_000,
    "stop.minutes": 525_600,  # a year
    "stop.rating": 1_000_000,
    "learners.hidden": 65_536,  # units in one layer
    "learners.pretrain.games": 1_000_000,
    "learners.pretrain.epochs": 10_000,
    "learners.pretrain.minutes": 525_600,
    "learners.pretrain.workers": 1_024,
    "resources.num_env_runners": 1_024,
    "resources.num_envs_per_env_runner": 4_096,
    "resources.num_learners": 1_024,
    "resources.num_gpus_per_learner": 64,
    "resources.eval_workers": 1_024,
}


class LeagueConfigError(ArenaError):
    """A league file has problems; `problems` holds one line each."""

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Pretrain:
    """[learners.pretrain]: behaviour cloning before round 1, on an exported dataset (`data`) or on `games` games per
    pair of `players`, played and stored first, cloning the moves of `imitate` (default: every player), or, with a
    `teacher`, the teacher's move probabilities in every position of those games."""

    data: Path | None = None
    players: tuple[str, ...] = ()
    games: int = 0
    imitate: tuple[str, ...] = ()
    openings: str | None = None
    epochs: float = 10.0
    minutes: float | None = None
    workers: int = 2
    teacher: str | None = None


@dataclass(frozen=True)
class Learner:
    name: str
    algo: str = "ppo"
    role: str = "main"
    hidden: tuple[int, ...] = (128, 128)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    init: str | None = None  # a snapshot ("snapshot/NAME") the learner starts from
    pretrain: Pretrain | None = None

    @property
    def team(self) -> str | None:
        """The one team this learner plays (`team` in the league file), or None: any side."""
        team = self.hyperparameters.get("team")
        return team if isinstance(team, str) else None


@dataclass(frozen=True)
class League:
    """A validated league file."""

    path: Path
    text: str  # the file as read, kept in the store so a resume can tell the league was edited
    name: str
    env: str
    seed: int
    learners: tuple[Learner, ...]
    fixed: tuple[str, ...]  # policy specs
    matchmaking: dict[str, tuple[str, dict[str, Any]]]  # role -> (matchmaker id, params)
    iterations_per_round: int = 1
    snapshot_every: int | None = None  # iterations
    snapshot_win_rate: float | None = None
    snapshot_against: tuple[str, ...] = ()
    max_pool: int = 16  # snapshots per learner kept as opponents (older ones stay rated, out of matchmaking)
    eval_games: int = 20  # per pair per round
    eval_snapshots: int = 3  # most recent pool snapshots each learner's copy also plays each round
    eval_top: int = 4  # the league leaderboard's top K: each copy plays them; fixed players meet its top K snapshots
    eval_top_games: int = 10  # games of each fixed player against each top-K pool snapshot, every round
    stop_rounds: int | None = None
    stop_minutes: float | None = None
    stop_win_rate: tuple[str, str, float] | None = None  # (learner, player, at least)
    stop_rating: float | None = None
    stop_return: float | None = None  # games with one side: stop once a learner's copy has this mean return
    resources: dict[str, Any] = field(default_factory=dict)  # the learners' scale knobs (Learner.create)
    payoff_decay: float = 0.99
    eval_workers: int = 1  # worker processes for a round's evaluation games (same results as 1, seed for seed)
    eval_openings: str | None = None  # arena.openings spec for evaluation game pairs (a file path made absolute)
    eval_exploitability: bool = False  # each round, each learner copy's exploitability (arena.services.exploitability)

    def learner(self, name: str) -> Learner:
        return next(x for x in self.learners if x.name == name)


def _num(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Checker:
    """Collects problems as `file: key: message` lines while values are read."""

    def __init__(self, path: Path):
        self.path, self.problems = path, []

    def add(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}: {key or '(top level)'}: {message}")

    def reported(self, *keys: str) -> bool:
        """Whether a problem with one of these keys was added (so that a follow-on problem is not reported too)."""
        return any(line.startswith(f"{self.path}: {key}:") for key in keys for line in self.problems)

    def keys(self, table: Any, section: str, prefix: str) -> dict[str, Any]:
        if not isinstance(table, dict):
            self.add(prefix, f"must be a table, got {type(table).__name__}")
            return {}
        for key in table:
            if key not in SCHEMA[section]:
                self.add(f"{prefix}.{key}" if prefix else key,
                         f"unknown key{_suggest(key, SCHEMA[section])}; allowed: {', '.join(sorted(SCHEMA[section]))}")
        return table

    def typed(self, table: dict[str, Any], key: str, prefix: str, kind: type | tuple[type, ...], default: Any = None,
              *, low: float | None = None, high: float | None = None) -> Any:
        """table[key] checked for its type, finiteness and range; `high` defaults to LIMITS of the key's path (list
        indices left out). On a problem, the problem is recorded and `default` returned."""
        if key not in table:
            return default
        value, where = table[key], f"{prefix}.{key}" if prefix else key
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            self.add(where, f"must be {' or '.join(k.__name__ for k in kinds)}, got {value!r}")
            return default
        if isinstance(value, float) and not math.isfinite(value):  # TOML allows nan and inf; both pass < and >
            self.add(where, f"must be a finite number, got {value!r}")
            return default
        limited = high is None and isinstance(value, (int, float)) and not isinstance(value, bool)
        if limited:
            high = LIMITS.get(re.sub(r"\[\d+\]", "", where))
        if low is not None and value < low or high is not None and value > high:
            bounds = (f"at least {_num(low)}" if high is None else f"at most {_num(high)}" if low is None
                      else f"between {_num(low)} and {_num(high)}")
            hint = " (Arena's limit, docs/leagues.md#limits)" if limited and high is not None and value > high else ""
            self.add(where, f"must be {bounds}{hint}, got {value!r}")
            return default
        return value


def load(path: str | Path, registry: Any = None) -> League:
    """Read and validate a league file; raises LeagueConfigError listing every problem."""
    from .ids import is_remote
    from .registry import Registry, format_spec

    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise LeagueConfigError([f"{path}: cannot read the league file ({e.strerror or e})."]) from None
    except UnicodeDecodeError as e:
        raise LeagueConfigError([f"{path}: not a text file: byte {e.start} is not UTF-8 (a league file is UTF-8 "
                                 "TOML)."]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LeagueConfigError([f"{path}: not valid TOML: {e}"]) from None
    reg = registry or Registry()
    c = _Checker(path)
    c.keys(raw, "", "")
    name = c.typed(raw, "name", "", str)
    if name is None:
        if not c.reported("name"):
            c.add("name", "is required: a short id such as 'connect_four'")
    elif not NAME.match(name):
        c.add("name", f"{name!r} may hold only letters, digits, '_', '.' and '-'")
    env, game = c.typed(raw, "env", "", str), None
    if env is None:
        c.add("env", "is required: a game id such as 'openspiel/connect_four' (arena envs)")
    else:
        try:
            game = reg.make_game(env)
        except ArenaError as e:
            c.add("env", str(e))
    seed = c.typed(raw, "seed", "", int, 0, low=0)

    learners: list[Learner] = []
    raw_learners = raw.get("learners", [])
    if not isinstance(raw_learners, list) or not raw_learners:
        c.add("learners", "needs at least one [[learners]] table (name, algo, role)")
        raw_learners = []
    for i, item in enumerate(raw_learners):
        p = f"learners[{i}]"
        item = c.keys(item, "learners", p)
        lname = c.typed(item, "name", p, str)
        if lname is None:
            c.add(f"{p}.name", "is required")
        elif not NAME.match(lname) or lname in {x.name for x in learners}:
            c.add(f"{p}.name", f"{lname!r} must be unique and hold only letters, digits, '_', '.' and '-'")
        algo = c.typed(item, "algo", p, str, "ppo")
        try:
            reg.resolve("algorithm", algo)
        except ArenaError as e:
            c.add(f"{p}.algo", str(e))
        role = c.typed(item, "role", p, str, "main")
        if role not in ROLES:
            c.add(f"{p}.role", f"{role!r} is not a role{_suggest(role, ROLES)}; roles: {', '.join(ROLES)}")
        hidden = c.typed(item, "hidden", p, list, [128, 128])
        if not hidden or not all(isinstance(h, int) and not isinstance(h, bool) and 0 < h <= LIMITS["learners.hidden"]
                                 for h in hidden):
            c.add(f"{p}.hidden", f"must be a list of layer sizes from 1 to {LIMITS['learners.hidden']} such as "
                  f"[128, 128], got {hidden!r}")
            hidden = [128, 128]
        hp = c.typed(item, "hyperparameters", p, dict, {})
        for key in _non_finite(hp):
            c.add(f"{p}.hyperparameters.{key}", "must be a finite number, not nan or inf")
        init = c.typed(item, "init", p, str)
        if init is not None and game is not None:
            from .services.training import check_init

            try:
                check_init(init, game.info, tuple(hidden), reg.settings.snapshots, _features(hp))
            except ArenaError as e:
                c.add(f"{p}.init", str(e).replace("--init ", "").replace("pass --hidden", "set hidden ="))
        if isinstance(hp, dict) and hp.get("lookahead") and game is not None:
            from .features import lookahead_unavailable

            if lookahead_unavailable(game.info):
                c.add(f"{p}.hyperparameters.lookahead", f"{lookahead_unavailable(game.info)}")
        pretrain = _pretrain(c, reg, item["pretrain"], f"{p}.pretrain", path, game) if "pretrain" in item else None
        if init is not None and pretrain is not None:
            c.add(f"{p}.pretrain", "a learner starts from `init` or from `pretrain`, not both")
        anchor = hp.get("anchor") if isinstance(hp, dict) else None
        if isinstance(anchor, (int, float)) and not isinstance(anchor, bool) and anchor > 0 and init is None \
                and "pretrain" not in item:
            c.add(f"{p}.hyperparameters.anchor", "the KL penalty holds the policy to the snapshot it starts from: "
                                                 "give the learner `init` or `[learners.pretrain]`, or drop anchor")
        # which module plays which agent (simulations): sharing = "all" | "team" | "agent" | {module = [agents]},
        # and team = the one team this learner plays; both reach the learner as hyperparameters
        mapping = {k: item[k] for k in ("sharing", "team") if k in item}
        if mapping and game is not None:
            problem = mapping_problem(game.info, mapping.get("sharing", "all"), mapping.get("team"))
            if problem:
                key, _, text = problem.partition(": ")
                c.add(f"{p}.{key}" if key != "env" else "env", text)
        if isinstance(hp, dict):
            hp = {**hp, **mapping}
        learners.append(Learner(lname or f"learner{i}", algo, role, tuple(hidden), hp, init, pretrain))
    if game is not None and learners and game.info.observation_space is None:
        c.add("env", f"{game.info.env_id} has no observation space, so no learner can train on it")

    fixed: list[str] = []
    for i, item in enumerate(raw.get("fixed", []) if isinstance(raw.get("fixed", []), list) else []):
        p = f"fixed[{i}]"
        item = c.keys(item, "fixed", p)
        policy = c.typed(item, "policy", p, str)
        if policy is None:
            c.add(f"{p}.policy", "is required: a policy id such as 'random' (arena policies)")
            continue
        if item.get("params") and is_remote(policy):
            c.add(f"{p}.params", "a remote agent (exec:, tcp:) takes no params: pass options in its command")
            continue
        spec = format_spec(policy, c.typed(item, "params", p, dict, {})) if item.get("params") else policy
        try:
            bound = reg.make_policy(spec)
            if game is not None:
                bound.check(game.info)
            fixed.append(reg.player_id(spec))
        except ArenaError as e:
            c.add(f"{p}.policy", str(e))
    if not isinstance(raw.get("fixed", []), list):
        c.add("fixed", "must be a list of [[fixed]] tables with a 'policy' key")

    for i, x in enumerate(learners):  # a learner bound to a team needs someone to play the other teams
        if x.team and not fixed and not any(y.team != x.team for y in learners):
            c.add(f"learners[{i}].team", f"nobody plays the teams other than {x.team}: add a [[fixed]] player or a "
                                         "learner with another team")

    matchmaking: dict[str, tuple[str, dict[str, Any]]] = {}
    raw_mm = c.typed(raw, "matchmaking", "", dict, {})
    for role, table in raw_mm.items():
        p = f"matchmaking.{role}"
        if role not in ROLES:
            c.add(p, f"{role!r} is not a role{_suggest(role, ROLES)}; roles: {', '.join(ROLES)}")
            continue
        if not isinstance(table, dict):
            c.add(p, "must be a table with a 'matchmaker' key and its parameters")
            continue
        matchmaking[role] = _matchmaker(c, reg, p, dict(table))
    for role in {x.role for x in learners} - set(matchmaking):
        matchmaking[role] = (DEFAULT_MATCHMAKER.get(role, "pfsp"), {})

    targets = set(fixed) | {x.name for x in learners}
    snaps = c.keys(raw.get("snapshots", {}), "snapshots", "snapshots")
    every = c.typed(snaps, "every", "snapshots", int, None, low=1)
    win_rate = c.typed(snaps, "win_rate", "snapshots", (float, int), None, low=0, high=1)
    against = c.typed(snaps, "against", "snapshots", list, [])
    for i, target in enumerate(against):
        if target not in targets:
            c.add(f"snapshots.against[{i}]", f"{target!r} is not a fixed player or learner of this league"
                  f"{_suggest(str(target), targets)}")
    if win_rate is not None and not against:
        c.add("snapshots.against", "names the players a win_rate is measured against, e.g. ['random']")
    if every is None and win_rate is None and "snapshots" in raw and not c.reported("snapshots.every",
                                                                                     "snapshots.win_rate"):
        c.add("snapshots", "needs 'every' (iterations), 'win_rate' with 'against', or both")
    max_pool = c.typed(snaps, "max_pool", "snapshots", int, 16, low=1)

    ev = c.keys(raw.get("evaluation", {}), "evaluation", "evaluation")
    eval_games = c.typed(ev, "games", "evaluation", int, 20, low=0)
    eval_snapshots = c.typed(ev, "snapshots", "evaluation", int, 3, low=0)
    eval_openings = _openings(c, c.typed(ev, "openings", "evaluation", str), path, game)
    eval_top = c.typed(ev, "top", "evaluation", int, 4, low=0)
    eval_top_games = c.typed(ev, "top_games", "evaluation", int, 10, low=0)
    eval_exploitability = bool(c.typed(ev, "exploitability", "evaluation", bool, False))
    if eval_exploitability and game is not None:
        problem = _exploitability_problem(game)
        if problem:
            c.add("evaluation.exploitability", problem)
    iterations = c.typed(c.keys(raw.get("round", {}), "round", "round"), "iterations", "round", int, 1, low=1)

    stop = c.keys(raw.get("stop", {}), "stop", "stop")
    rounds = c.typed(stop, "rounds", "stop", int, None, low=1)
    minutes = c.typed(stop, "minutes", "stop", (float, int), None, low=0.01)
    rating = c.typed(stop, "rating", "stop", (float, int), None, low=-LIMITS["stop.rating"])
    stop_return = c.typed(stop, "return", "stop", (float, int), None)
    one_side = game is not None and game.info.cooperative
    if stop_return is not None and game is not None and not one_side:
        c.add("stop.return", f"is for games with one side (one seat, or one team of everyone); {game.info.env_id} "
                             "has several: use win_rate or rating")
    for key in ("win_rate", "rating"):
        if key in stop and one_side:
            c.add(f"stop.{key}", f"{game.info.env_id} has one side, so nobody to beat and no rating: stop at a mean "
                                 "return with `return = R`")
    stop_win = None
    if "win_rate" in stop:
        w = c.keys(stop["win_rate"], "stop.win_rate", "stop.win_rate")
        player = c.typed(w, "player", "stop.win_rate", str)
        at_least = c.typed(w, "at_least", "stop.win_rate", (float, int), None, low=0, high=1)
        who = c.typed(w, "learner", "stop.win_rate", str, learners[0].name if learners else "")
        if player not in targets:
            c.add("stop.win_rate.player", f"{player!r} is not a fixed player or learner{_suggest(str(player), targets)}")
        if who not in {x.name for x in learners}:
            c.add("stop.win_rate.learner", f"{who!r} is not a learner of this league")
        if at_least is None and not c.reported("stop.win_rate.at_least"):
            c.add("stop.win_rate.at_least", "is required: the score to reach, e.g. 0.8")
        stop_win = (who, player or "", float(at_least or 0))
    given = any(c.reported(f"stop.{k}") for k in ("rounds", "minutes", "rating", "win_rate", "return"))  # invalid
    if not given and not any(x is not None for x in (rounds, minutes, rating, stop_win, stop_return)):
        c.add("stop", "needs at least one of rounds, minutes, win_rate, rating or return, or the league never ends")
    if eval_games == 0 and (stop_win or win_rate is not None):
        c.add("evaluation.games", "must be above 0: win-rate rules are measured with evaluation games")

    res = c.keys(raw.get("resources", {}), "resources", "resources")
    resources = {k: c.typed(res, k, "resources", int, None, low=0 if k != "num_envs_per_env_runner" else 1)
                 for k in ("num_env_runners", "num_envs_per_env_runner", "num_learners") if k in res}
    if "num_gpus_per_learner" in res:
        resources["num_gpus_per_learner"] = c.typed(res, "num_gpus_per_learner", "resources", (float, int), 0, low=0)
    for key in ("address", "ray_address"):  # `address`: the key's first name, still read; ray_address wins
        if res.get(key):
            resources["address"] = c.typed(res, key, "resources", str)
    eval_workers = c.typed(res, "eval_workers", "resources", int, 1, low=1)
    decay = c.typed(raw, "payoff_decay", "", (float, int), 0.99, low=0, high=1)

    if not c.problems:
        for i, learner in enumerate(learners):  # the algorithm plugin knows its hyperparameters (no Ray started)
            try:
                problem = check_hyperparameters(reg, learner.algo, learner.hyperparameters)
            except ArenaError as e:
                problem = str(e)
            if problem:
                c.add(f"learners[{i}].hyperparameters", problem)
    if c.problems:
        raise LeagueConfigError(c.problems)
    return League(path=path, text=text, name=name, env=game.info.env_id if game else env, seed=seed,
                  learners=tuple(learners), fixed=tuple(fixed), matchmaking=matchmaking,
                  iterations_per_round=iterations, snapshot_every=every,
                  snapshot_win_rate=float(win_rate) if win_rate is not None else None,
                  snapshot_against=tuple(against), max_pool=max_pool, eval_games=eval_games,
                  eval_snapshots=eval_snapshots, eval_top=eval_top, eval_top_games=eval_top_games,
                  stop_rounds=rounds, stop_minutes=minutes, stop_win_rate=stop_win,
                  stop_rating=rating, stop_return=float(stop_return) if stop_return is not None else None,
                  resources=resources, payoff_decay=float(decay),
                  eval_workers=eval_workers or 1, eval_openings=eval_openings,
                  eval_exploitability=eval_exploitability)


def _non_finite(value: Any, key: str = "") -> list[str]:
    """Keys (dotted, with [i] for list items) of the nan and inf floats anywhere in a TOML value."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [key]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [bad for k, v in items
            for bad in _non_finite(v, f"{key}[{k}]" if isinstance(k, int) else f"{key}.{k}" if key else str(k))]


def _check_policy(c: _Checker, reg: Any, where: str, spec: str, game: Any) -> None:
    """Report a policy spec that is unknown or cannot play the league's game."""
    try:
        reason = reg.make_policy(spec).check(game.info)
    except ArenaError as e:
        c.add(where, str(e))
        return
    if reason:
        c.add(where, f"{spec} cannot play {game.info.env_id}: {reason}")


def _pretrain(c: _Checker, reg: Any, table: Any, p: str, path: Path, game: Any) -> Pretrain | None:
    """[learners.pretrain]: data = FOLDER, or players = [...] with games = N (per pair) and imitate = [...]."""
    table = c.keys(table, "learners.pretrain", p)
    data = c.typed(table, "data", p, str)
    players = c.typed(table, "players", p, list, [])
    games = c.typed(table, "games", p, int, 0, low=0)
    imitate = c.typed(table, "imitate", p, list, [])
    epochs = c.typed(table, "epochs", p, (int, float), 10.0, low=0.01)
    minutes = c.typed(table, "minutes", p, (int, float), None, low=0.01)
    workers = c.typed(table, "workers", p, int, 2, low=1)
    teacher = c.typed(table, "teacher", p, str)
    if teacher is not None and game is not None:
        _check_policy(c, reg, f"{p}.teacher", teacher, game)
        try:
            if reg.make_policy(teacher).probabilities_call is None:
                c.add(f"{p}.teacher", f"{teacher} gives no move probabilities; a teacher needs them (mcts has them)")
        except ArenaError:
            pass  # _check_policy said why
    if (data is None) == (not players):
        c.add(p, "needs either data = FOLDER (arena dataset export) or players = [...] with games = N")
        return None
    folder = None
    if data is not None:
        folder = Path(data) if Path(data).is_absolute() else path.parent / data
        if not folder.is_dir():
            c.add(f"{p}.data", f"{folder} is not a folder; write one with `arena dataset export`")
    else:
        if len(players) < 2 or not all(isinstance(x, str) for x in players):
            c.add(f"{p}.players", f"must list two or more policy ids, got {players!r}")
            players = []
        if games < 1 and not c.reported(f"{p}.games"):
            c.add(f"{p}.games", "must be at least 1: the games played for every pair of players")
        for spec in players if game is not None else []:
            _check_policy(c, reg, f"{p}.players", spec, game)
        if any(x not in players for x in imitate):
            c.add(f"{p}.imitate", f"must name some of the players {players}, got {imitate!r}")
    openings = _openings(c, c.typed(table, "openings", p, str), path, game, f"{p}.openings") if "openings" in table \
        else None
    return Pretrain(folder, tuple(players), games, tuple(imitate), openings, float(epochs),
                    float(minutes) if minutes is not None else None, workers, teacher)


def _features(hyperparameters: Any) -> int:
    """The feature encoding a learner with these hyperparameters sees (lookahead = true: version 3; 3: version 4)."""
    from .features import version_for

    return version_for(hyperparameters.get("lookahead", False) if isinstance(hyperparameters, dict) else False)


def _exploitability_problem(game: Any) -> str | None:
    """Why exploitability cannot be computed each round for this game (arena.services.exploitability), or None."""
    from arena.services.exploitability import solvable

    return solvable(game)


def _openings(c: _Checker, text: str | None, path: Path, game: Any, where: str = "evaluation.openings") -> str | None:
    """[evaluation] openings: random:plies=K or a file (relative to the league file), checked against the game."""
    if text is None:
        return None
    from .openings import Book, parse_spec

    try:
        spec = parse_spec(text, base=path.parent)
        if game is not None:
            Book(game, spec)
    except ArenaError as e:
        c.add(where, str(e).replace("--openings ", ""))
        return None
    return spec.path or spec.text


def _matchmaker(c: _Checker, reg: Any, prefix: str, table: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    mm = table.pop("matchmaker", None)
    if not isinstance(mm, str):
        c.add(f"{prefix}.matchmaker", "is required: a matchmaker id (arena matchmakers)")
        return "uniform", {}
    try:
        registration = reg.resolve("matchmaker", mm)
    except ArenaError as e:
        c.add(f"{prefix}.matchmaker", str(e))
        return mm, table
    non_finite = _non_finite(table)
    for key in non_finite:
        c.add(f"{prefix}.{key}", "must be a finite number, not nan or inf")
    allowed = set(registration.params) | {"max_opponents"}
    unknown = [key for key in table if key not in allowed]
    for key in unknown:
        c.add(f"{prefix}.{key}", f"{mm} has no parameter {key!r}{_suggest(key, allowed)}; "
              f"parameters: {', '.join(sorted(allowed))}")
    params = {**registration.params, **table}
    if unknown or non_finite:
        return registration.id, params
    try:  # a dry call on an empty pool checks the parameters' values (e.g. an unknown weighting)
        import numpy as np

        from .pool import LEARNER, Member, Payoff, Pool

        registration.load()(Member("learner", LEARNER), Pool(), Payoff(), {}, np.random.default_rng(0), **params)
    except (ValueError, TypeError) as e:
        c.add(prefix, f"{mm}: {e}")
    return registration.id, params

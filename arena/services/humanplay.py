"""A person against agents: one seat's moves come from outside (a web page), the other seats are policies, and the
game runs through the match runner on a thread of its own that waits for each of the person's moves. Every move
is checked against the game's legal moves; the finished game is stored as a rated match only when asked.

The person plays as the player `human/NAME` (the store's player ids are policy specs, and `human:NAME` would read
as the policy `human` with a malformed parameter; `human/NAME` reads like `snapshot/NAME`).
"""
from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from arena.errors import ArenaError, UsageError
from arena.match import play_game
from arena.policy import BoundPolicy
from arena.services import replay
from arena.types import MatchResult

NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
MAX_SESSIONS = 32  # games kept in memory; the oldest finished (else oldest) one goes first
IDLE_S = 3600.0  # a person who does not move for this long forfeits, and the game's thread ends
AGENT_S = 120.0  # how long a request waits for the agents' moves before it answers "still thinking"


def human_id(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise UsageError(f"Bad name {name!r}: 1 to 32 letters, digits, '_', '.' or '-'.")
    return f"human/{name}"


class _Abandoned(Exception):
    """The person left (or the session was dropped): their seat forfeits."""


class _Person:
    """The policy in the person's seat: each move is the one the page sends (HumanGame.move)."""

    def __init__(self, game: HumanGame):
        self.game = game

    def act(self, legal_actions: Any, history: Any) -> int:
        return self.game.wait_for_move(legal_actions, history)


class HumanGame:
    """One game: the person in `seat`, `opponent` (a policy spec) in every other seat."""

    def __init__(self, registry: Any, env: str, opponent: str, *, seat: int = 0, name: str = "guest",
                 seed: int | None = None):
        self.id = secrets.token_urlsafe(12)
        self.player = human_id(name)
        self.game = registry.make_game(env)
        try:
            info = self.game.info
            if info.num_seats < 2:
                raise UsageError(f"{info.env_id} has one seat: there is no one to play against.")
            if not isinstance(seat, int) or not 0 <= seat < info.num_seats:
                raise UsageError(f"Seat {seat!r} is not a seat of {info.env_id} (0 to {info.num_seats - 1}).")
            agent = registry.make_policy(opponent)
            agent.check(info)
            self.opponent = agent.player_id
            policies = [registry.make_policy(opponent) if s != seat else BoundPolicy(self.player, _Person(self))
                        for s in range(info.num_seats)]
        except BaseException:
            self.game.close()
            raise
        self.env, self.seat = info.env_id, seat
        self.seed = secrets.randbelow(2**62) if seed is None else int(seed)
        self.players = [p.player_id for p in policies]
        self.result: MatchResult | None = None
        self.error: str | None = None
        self.stored: str | None = None  # the match id once stored
        self.legal: list[int] = []
        self.history: list[tuple[int, int]] = []
        self.touched = time.monotonic()
        self._cond = threading.Condition()
        self._waiting = False
        self._answer: int | None = None
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, args=(policies,), name=f"arena-play-{self.id}",
                                        daemon=True)
        self._thread.start()
        self._settle()

    # -- the game's thread ---------------------------------------------------------------------
    def _run(self, policies: list[BoundPolicy]) -> None:
        try:
            self.result = play_game(self.game, policies, self.seed, record_moves=True)
            if self.result.error:
                self.error = self.result.error
        except ArenaError as e:
            self.error = str(e)
        except Exception as e:  # a policy plugin or the game failing: the game ends with the reason
            self.error = f"{type(e).__name__}: {e}"
        finally:
            for policy in policies:
                policy.close()  # a remote opponent's process ends with the game
            with self._cond:
                self._waiting = False
                self._cond.notify_all()

    def wait_for_move(self, legal_actions: Any, history: Any) -> int:
        """The person's turn: wait for their move (on the game's thread, where the match runner asks for it)."""
        with self._cond:
            self.legal = [int(a) for a in legal_actions]
            self.history = [(int(s), int(a)) for s, a in history]
            self._answer, self._waiting = None, True
            self._cond.notify_all()
            while self._answer is None:
                if self._abandoned or not self._cond.wait(timeout=IDLE_S):
                    self._waiting = False
                    raise _Abandoned("left the game")
            answer, self._answer = self._answer, None
            return answer

    # -- the web's side ------------------------------------------------------------------------
    def _settle(self) -> None:
        """Wait until it is the person's turn again or the game is over."""
        deadline = time.monotonic() + AGENT_S
        with self._cond:
            while not self._waiting and self._thread.is_alive() and time.monotonic() < deadline:
                self._cond.wait(timeout=0.5)

    @property
    def over(self) -> bool:
        return not self._thread.is_alive() and not self._waiting

    def move(self, action: Any) -> dict[str, Any]:
        """Play the person's move; 'action' is an action number, checked against the legal moves now."""
        self.touched = time.monotonic()
        if isinstance(action, bool) or not isinstance(action, int):
            raise UsageError(f"A move is an action number, got {action!r}.")
        with self._cond:
            if self.over:
                raise UsageError("The game is over: no more moves.")
            if not self._waiting:
                raise UsageError("It is not your turn yet: the agents are still thinking.")
            if action not in self.legal:
                raise UsageError(f"Illegal move {action}: the legal moves are {', '.join(map(str, self.legal))}.")
            self._answer, self._waiting = action, False
            self._cond.notify_all()
        self._settle()
        return self.state()

    def state(self) -> dict[str, Any]:
        """What the page shows: the position from the person's seat, their legal moves, the moves so far and, at the
        end, the result."""
        self.touched = time.monotonic()
        with self._cond:
            thinking = not self._waiting and not self.over
            doc: dict[str, Any] = {"id": self.id, "env": self.env, "seat": self.seat, "players": self.players,
                                   "seed": self.seed, "thinking": thinking, "over": self.over, "error": self.error,
                                   "stored": self.stored, "result": None, "legal": [], "moves": []}
            if thinking:
                return doc
            game = self.game
            over = self.over
            moves = list(self.result.trajectory) if over and self.result else self.history
            hidden = replay.hidden_information(game) and not over
            doc["moves"] = [{"ply": i + 1, "seat": s, "player": self.players[s],
                             "text": replay.move_text(game, s, a) if not hidden or s == self.seat else "(hidden)"}
                            for i, (s, a) in enumerate(moves)]
            if game.native_state() is not None or getattr(game, "raw", None) is not None:
                doc["position"] = replay.position(game, viewer=self.seat)
            else:
                doc["position"] = {"over": over, "to_move": [], "text": None, "board": None, "hidden": hidden}
            if not over:
                board = doc["position"]["board"]
                doc["legal"] = [{"action": a, "text": replay.move_text(game, self.seat, a)} for a in self.legal]
                if board is not None:  # where a click plays each move: a column, or a square
                    cells = {replay.cell_action(game, r, c): [r, c] for r in range(board["rows"])
                             for c in range(board["cols"])}
                    for move in doc["legal"]:
                        cell = cells.get(move["action"])
                        if board["kind"] == "connect_four":
                            move["column"] = cell[1] if cell else None
                        else:
                            move["cell"] = cell
            elif self.result is not None and not self.result.error:
                doc["result"] = [{"seat": s, "player": p, "score": self.result.score(s),
                                  "outcome": self.result.outcome(s), "return": self.result.returns[s],
                                  "forfeit": self.result.forfeits.get(s)} for s, p in enumerate(self.players)]
            return doc

    def save(self, store: Any) -> dict[str, Any]:
        """Store the finished game as a rated match (one transaction with its rating update); a second call stores
        nothing more. Returns {"match": id, "new": bool}."""
        with self._cond:
            if not self.over:
                raise UsageError("The game is not over yet: finish it before storing it.")
            if self.result is None or self.result.error:
                raise UsageError(f"The game failed ({self.error}); there is nothing to rate.")
            recorded = store.record(self.result, kinds={self.player: "human"})
            self.stored = recorded.id
            return {"match": recorded.id, "new": recorded.new}

    def close(self) -> None:
        with self._cond:
            self._abandoned = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.game.close()


class Sessions:
    """The games in progress, by id; at most MAX_SESSIONS, the oldest dropped first (finished ones before)."""

    def __init__(self, limit: int = MAX_SESSIONS):
        self.limit = limit
        self._games: OrderedDict[str, HumanGame] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, registry: Any, env: str, opponent: str, **kw: Any) -> HumanGame:
        game = HumanGame(registry, env, opponent, **kw)
        dropped = []
        with self._lock:
            self._games[game.id] = game
            while len(self._games) > self.limit:
                done = [k for k, g in self._games.items() if g.over]
                dropped.append(self._games.pop(done[0] if done else next(iter(self._games))))
        for old in dropped:
            old.close()
        return game

    def get(self, id: str) -> HumanGame | None:
        with self._lock:
            return self._games.get(id)

    def close(self) -> None:
        with self._lock:
            games, self._games = list(self._games.values()), OrderedDict()
        for game in games:
            game.close()

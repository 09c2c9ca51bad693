"""Openings: the start positions of game pairs, as cutechess, fastchess and fishtest play them.

An opening is a tuple of actions played from the game's initial state before the policies act. Game i of a match
with n seats starts from opening i // n, so each opening is played once with every seat rotation (in a two-player
match, games 2k and 2k+1 share opening k with the seats swapped).

A spec is `random:plies=K` (K random legal plies, drawn from the match seed, so the same seed gives the same
openings) or the path of a file with one opening per line: moves in the game's action strings
(OpenSpiel's action_to_string, e.g. `x3 o4` in connect_four) or action numbers, separated by spaces or commas;
`#` starts a comment, blank lines are skipped.

Skip rule (generated openings): an opening that has already ended the game is drawn again; in a two-player
zero-sum deterministic perfect-information OpenSpiel game, so is one that a depth-4 alpha-beta search proves
decided (a forced win for either side). A generated opening is also drawn again while it repeats one of the same
match, until no new one turns up in 64 draws (small books then cycle). File openings are played as written; a
line that is illegal, too long, or ends the game is an error naming the line.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arena.errors import UsageError

Opening = tuple[int, ...]
RANDOM = re.compile(r"^random:plies=(\d+)$")
SEARCH_DEPTH = 4  # plies an alpha-beta search looks ahead to prove a generated opening decided
DRAWS = 64  # draws per generated opening before a repeat (or, failing any, an error) is accepted
_SALT = 0x0DE41  # keeps the openings' random stream apart from the games' own seeds


class OpeningError(UsageError):
    """Openings that cannot be used: a bad spec, a bad line in an openings file, or a game that cannot replay moves."""


@dataclass(frozen=True)
class OpeningsSpec:
    """A parsed --openings value: `plies` for random openings, or the file's (line number, text) lines."""

    text: str
    plies: int | None = None
    path: str | None = None
    lines: tuple[tuple[int, str], ...] = ()


def parse_spec(text: str, *, base: str | Path | None = None) -> OpeningsSpec:
    """Read a spec: `random:plies=K`, or a file path (relative paths from `base` when given) that is read now."""
    text = str(text).strip()
    m = RANDOM.match(text)
    if m:
        plies = int(m.group(1))
        if plies < 1:
            raise OpeningError(f"--openings {text}: plies must be at least 1.")
        return OpeningsSpec(text, plies=plies)
    if text.startswith("random"):
        raise OpeningError(f"--openings {text!r}: random openings are written random:plies=K (K at least 1).")
    path = Path(text)
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    try:
        content = path.read_text()
    except FileNotFoundError:
        raise OpeningError(f"Openings file {str(path)!r} not found (give a file or random:plies=K).") from None
    except OSError as e:
        raise OpeningError(f"Cannot read openings file {str(path)!r}: {e.strerror or e}.") from None
    lines = tuple((i, line.split("#", 1)[0].strip()) for i, line in enumerate(content.splitlines(), 1))
    lines = tuple((i, line) for i, line in lines if line)
    if not lines:
        raise OpeningError(f"Openings file {str(path)!r} has no openings (one move sequence per line).")
    return OpeningsSpec(text, path=str(path), lines=lines)


def tokens(line: str) -> list[str]:
    """Moves of one line: split on spaces and commas, except commas inside brackets (tic_tac_toe's `x(1,1)`)."""
    out, word, depth = [], "", 0
    for ch in line:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        if depth == 0 and (ch.isspace() or ch == ","):
            if word:
                out.append(word)
            word = ""
        else:
            word += ch
    if word:
        out.append(word)
    return out


def unsupported(game: Any) -> str | None:
    """Why this game cannot start from openings, or None. Adapters say so with `opening_support()`."""
    check = getattr(game, "opening_support", None)
    if check is None:
        return f"its {game.info.backend} adapter cannot replay moves"
    return check()


def action_text(game: Any, seat: int, action: int) -> str:
    """An action in the game's own notation when the adapter has one, else its number."""
    to_string = getattr(game, "action_to_string", None)
    return to_string(seat, action) if to_string is not None else str(action)


def _single_mover(game: Any) -> int | None:
    movers = game.to_move()
    return movers[0] if movers else None


def replay(game: Any, opening: Sequence[int], seed: int = 0) -> None:
    """Reset the game and play the opening's actions; ValueError when one is not legal."""
    game.reset(seed)
    play(game, opening)


def play(game: Any, opening: Sequence[int], moves: list[tuple[int, int]] | None = None) -> None:
    """Play the opening on a freshly reset game, appending (seat, action) to `moves` when given."""
    for ply, action in enumerate(opening):
        seat = _single_mover(game)
        if seat is None:
            raise ValueError(f"the opening's move {ply + 1} comes after the end of the game")
        if action not in game.legal_actions(seat):
            raise ValueError(f"the opening's move {ply + 1} ({action}) is illegal")
        game.step({seat: action})
        if moves is not None:
            moves.append((seat, action))


class Book:
    """The openings of one spec on one game: checks the game once, parses a file once, and hands out openings.

    `openings(seed, count)` is what a match plays: opening k for games k*n .. k*n+n-1.
    """

    def __init__(self, game: Any, spec: OpeningsSpec | str):
        self.game = game
        self.spec = spec if isinstance(spec, OpeningsSpec) else parse_spec(spec)
        env = game.info.env_id
        why = unsupported(game)
        if why:
            raise OpeningError(f"--openings cannot be used with {env}: {why}; it keeps its natural start.")
        self._search = _can_search(game)
        self._decided: dict[Opening, bool] = {}
        self._file: list[Opening] | None = None
        if self.spec.plies is not None:
            limit = _max_length(game)
            if limit is not None and self.spec.plies >= limit:
                raise OpeningError(f"--openings {self.spec.text} is longer than {env}, which ends after at most "
                                   f"{limit} moves.")
        else:
            self._file = [self._parse_line(n, text) for n, text in self.spec.lines]

    def openings(self, seed: int, count: int, *, offset: int = 0) -> list[Opening]:
        """`count` openings: drawn from `seed` for random specs, lines offset, offset+1, ... (cycling) for files."""
        if self._file is not None:
            return [self._file[(offset + k) % len(self._file)] for k in range(count)]
        rng = np.random.default_rng([int(seed) & ((1 << 64) - 1), _SALT])
        seen: set[Opening] = set()
        out = []
        for _ in range(count):
            opening = self._draw(rng, seen)
            seen.add(opening)
            out.append(opening)
        return out

    def text(self, opening: Sequence[int]) -> str:
        """The opening in the game's notation, space-separated."""
        game = self.game
        game.reset(0)
        words = []
        for action in opening:
            seat = _single_mover(game)
            words.append(action_text(game, seat, action) if seat is not None else str(action))
            game.step({seat: action})
        return " ".join(words)

    # -- generated openings ------------------------------------------------------------------------------------------
    def _draw(self, rng: np.random.Generator, seen: set[Opening]) -> Opening:
        repeat = None
        for _ in range(DRAWS):
            opening = self._random(rng)
            if opening is None or self._is_decided(opening):
                continue
            if opening not in seen:
                return opening
            repeat = repeat or opening
        if repeat is None:
            raise OpeningError(f"--openings {self.spec.text}: {DRAWS} random openings in a row ended "
                               f"{self.game.info.env_id} or were decided; use fewer plies.")
        seen.clear()  # every opening turned up already: start the book over
        return repeat

    def _random(self, rng: np.random.Generator) -> Opening | None:
        game = self.game
        game.reset(0)
        actions = []
        for _ in range(self.spec.plies or 0):
            seat = _single_mover(game)
            if seat is None:
                return None
            legal = game.legal_actions(seat)
            action = int(legal[int(rng.integers(len(legal)))])
            game.step({seat: action})
            actions.append(action)
        return tuple(actions) if game.to_move() else None

    def _is_decided(self, opening: Opening) -> bool:
        if not self._search:
            return False
        hit = self._decided.get(opening)
        if hit is None:
            hit = self._decided[opening] = decided(_native_after(self.game, opening))
        return hit

    # -- file openings ---------------------------------------------------------------------------------------------
    def _parse_line(self, number: int, line: str) -> Opening:
        game, where = self.game, f"{self.spec.path}:{number}"
        words = tokens(line)
        game.reset(0)
        actions = []
        for ply, word in enumerate(words):
            seat = _single_mover(game)
            if seat is None:
                raise OpeningError(f"{where}: the opening is longer than {game.info.env_id}: the game ends after "
                                   f"move {ply}, and the line has {len(words)} moves.")
            legal = game.legal_actions(seat)
            action = _resolve(game, seat, word, legal)
            if action is None:
                shown = " ".join(action_text(game, seat, a) for a in legal[:12]) + (" ..." if len(legal) > 12 else "")
                raise OpeningError(f"{where}: illegal move {word!r} (move {ply + 1}; legal here: {shown}).")
            game.step({seat: action})
            actions.append(action)
        if not game.to_move():
            raise OpeningError(f"{where}: the opening has already ended the game; remove the line or shorten it.")
        return tuple(actions)


def _resolve(game: Any, seat: int, word: str, legal: Sequence[int]) -> int | None:
    """A move's action: its action string among the legal moves, or an action number."""
    if hasattr(game, "action_to_string"):
        for a in legal:
            if game.action_to_string(seat, a) == word:
                return int(a)
    try:
        number = int(word)
    except ValueError:
        return None
    return number if number in legal else None


def _max_length(game: Any) -> int | None:
    native = getattr(game.info, "native_game", None)
    return int(native.max_game_length()) if native is not None else None


def _can_search(game: Any) -> bool:
    """Two-player zero-sum deterministic perfect-information OpenSpiel game: a shallow search can prove a result."""
    native = getattr(game.info, "native_game", None)
    if native is None or game.info.num_seats != 2:
        return False
    import pyspiel

    kind = native.get_type()
    return (kind.utility == pyspiel.GameType.Utility.ZERO_SUM
            and kind.chance_mode == pyspiel.GameType.ChanceMode.DETERMINISTIC
            and kind.information == pyspiel.GameType.Information.PERFECT_INFORMATION
            and kind.dynamics == pyspiel.GameType.Dynamics.SEQUENTIAL)


def _native_after(game: Any, opening: Opening) -> Any:
    replay(game, opening)
    return game.native_state().clone()


def decided(state: Any, depth: int = SEARCH_DEPTH) -> bool:
    """Whether a search `depth` plies deep proves a forced result (a win for either side) from this state.

    A null window around 0 is enough and prunes hard: fail-soft alpha-beta returns the exact value inside it."""
    return abs(negamax(state, depth, -1e-9, 1e-9)) >= 1e-9


def negamax(state: Any, depth: int, alpha: float, beta: float) -> float:
    """Alpha-beta value of a pyspiel state for the player to move, `depth` plies deep, unknown leaves worth 0.

    Nonzero only when one side can force a terminal result within the horizon (a proof, not an estimate)."""
    player = state.current_player()
    best = -np.inf
    for action in state.legal_actions():
        child = state.child(action)
        if child.is_terminal():
            value = child.player_return(player)
        elif depth <= 1:
            value = 0.0
        else:
            value = -negamax(child, depth - 1, -beta, -alpha)
        if value > best:
            best = value
            if value > alpha:
                alpha = value
                if alpha >= beta:
                    break
    return best


def describe(book: Book | None, openings: Sequence[Opening]) -> list[dict[str, Any]]:
    """The openings of a report: index, actions and the game's notation."""
    if book is None:
        return []
    return [{"index": k, "actions": list(o), "moves": book.text(o)} for k, o in enumerate(openings)]

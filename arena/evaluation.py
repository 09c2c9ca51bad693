"""Moved: arena.services.recording (Recorder, open_store) and arena.ratings (TrueSkillSystem)."""
from arena.ratings import TrueSkillSystem  # noqa: F401
from arena.services.recording import Recorder, open_store  # noqa: F401

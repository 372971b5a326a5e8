"""Where the shipped protocol and search-space files live (the repository's ``protocols/``)."""

from pathlib import Path

PROTOCOL_ROOT = Path(__file__).resolve().parents[2] / "protocols"
SEARCH_SPACE_DIR = PROTOCOL_ROOT / "search_spaces"

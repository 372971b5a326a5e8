from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
TINY = str(FIXTURES / "tiny-cartpole.yaml")


@pytest.fixture
def tiny_protocol() -> str:
    return TINY


@pytest.fixture
def workdir(tmp_path: Path) -> dict[str, Path]:
    return {"store": tmp_path / "runs", "results": tmp_path / "results"}

"""``db_path``: the one place that names the agent's database file."""

from __future__ import annotations

from pathlib import Path

from upkeep.config import Config
from upkeep.kit.db import Database, db_path
from upkeep.policies.incidents import Ledger


def test_the_agent_and_the_cli_open_the_same_file(tmp_path: Path) -> None:
    config = Config.model_validate({"data_dir": str(tmp_path / "data")})
    assert db_path(config) == tmp_path / "data" / "upkeep.db"
    assert db_path(tmp_path / "data") == db_path(str(tmp_path / "data")) == db_path(config)
    ledger = Ledger.open(config.data_dir)  # the incidents CLI's way in
    try:
        assert ledger.db.path == db_path(config)
    finally:
        ledger.close()
    db = Database(db_path(config))
    try:
        assert db.integrity_check() == "ok"
    finally:
        db.close()

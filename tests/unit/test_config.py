"""The config file's audit table: durability is checked when the file is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from opensts.config import ConfigError, load_config


@pytest.mark.parametrize("value", ["process", "disk"])
def test_audit_durability_values(tmp_path: Path, value: str) -> None:
    (tmp_path / "opensts.toml").write_text(f'[audit]\ndurability = "{value}"\n')
    assert load_config(None, tmp_path).audit["durability"] == value


def test_unknown_audit_durability_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "opensts.toml").write_text('[audit]\ndurability = "fsync-sometimes"\n')
    with pytest.raises(ConfigError, match="audit.durability"):
        load_config(None, tmp_path)

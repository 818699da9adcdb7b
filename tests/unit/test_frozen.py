"""``@frozen`` must behave exactly like ``@dataclass(frozen=True, slots=True)``; only construction is faster."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import field

import pytest

from opensts.frozen import frozen


@frozen
class Record:
    name: str
    count: int = 1
    tags: dict[str, str] = field(default_factory=dict)
    parts: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Reference:
    name: str
    count: int = 1
    tags: dict[str, str] = field(default_factory=dict)
    parts: tuple[str, ...] = ()


@pytest.mark.parametrize("cls", [Record, Reference])
def test_same_behaviour_as_a_standard_frozen_dataclass(cls: type) -> None:
    a = cls("x", 2, parts=("p",))
    assert (a.name, a.count, a.tags, a.parts) == ("x", 2, {}, ("p",))
    assert a == cls(name="x", count=2, parts=("p",)) and a != cls("x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.count = 3  # type: ignore[misc]
    assert cls("x").tags is not cls("x").tags  # a fresh default per instance
    assert cls("x", tags={"k": "v"}).tags == {"k": "v"}
    assert dataclasses.replace(a, count=5).count == 5
    assert pickle.loads(pickle.dumps(a)) == a
    assert repr(a).endswith("(name='x', count=2, tags={}, parts=('p',))")
    with pytest.raises(TypeError):
        cls()
    with pytest.raises(TypeError):
        cls("x", unknown=1)


def test_hashable_when_its_fields_are() -> None:
    @frozen
    class Key:
        account: str
        region: str = "us-east-1"

    assert hash(Key("1")) == hash(Key("1", "us-east-1")) and {Key("1"): 1}[Key("1")] == 1


def test_signature_is_the_standard_one() -> None:
    import inspect

    assert str(inspect.signature(Record)).replace("Record", "X") == str(inspect.signature(Reference)).replace(
        "Reference", "X")

"""The IAM service and the repository are each one class made of mixins, one per family of
operations. Two mixins defining the same method name would silently shadow one another (the
first in the MRO wins): a merge of two families once sent ResetServiceSpecificCredential into
the context-key helper of the same name, a 500. Every method name is defined by one mixin only,
except the declared stubs that stand for SqlRepository's own plumbing."""

from __future__ import annotations

import collections
import inspect

from opensts.service.iam import IamService
from opensts.store.repository import SqlRepository

#: Plumbing that mixins declare (raising NotImplementedError) so they type-check alone; the real
#: one is SqlRepository's or IamRepositoryMixin's, first in the MRO.
_DECLARED_STUBS = {"_write", "locked", "_write_limited", "_count", "_rows", "_first", "_tag_statements", "_clear_tags"}


def _defined_twice(cls: type) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = collections.defaultdict(list)
    for base in cls.__mro__[1:]:
        if base is object:
            continue
        for name in vars(base):
            if not name.startswith("__"):
                seen[name].append(base.__name__)
    return {name: owners for name, owners in seen.items() if len(owners) > 1}


def test_no_iam_handler_mixin_shadows_another() -> None:
    assert _defined_twice(IamService) == {}


def test_repository_mixins_shadow_only_declared_plumbing() -> None:
    clashes = _defined_twice(SqlRepository)
    assert set(clashes) <= _DECLARED_STUBS, {k: v for k, v in clashes.items() if k not in _DECLARED_STUBS}
    for name in clashes:  # the real implementation is the one the MRO finds, never a stub
        impl = inspect.unwrap(getattr(SqlRepository, name))
        assert "raise NotImplementedError" not in inspect.getsource(impl), name

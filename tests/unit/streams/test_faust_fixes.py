"""The faust fixes are fenced: exact versions, and every faust name they rely on still there.

When faust-streaming or aiokafka is upgraded, these say what to re-check: a method a fix
overrides or calls that disappeared or changed its parameters, an attribute faust no
longer sets, a fix overriding something it does not declare.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from ctxi.streams import faust_fixes
from ctxi.streams.faust_fixes import WRITTEN_FOR, FaustName, UnsupportedVersions, check_versions, parameters

ROOT = Path(__file__).resolve().parents[3]
FIX_MODULES = [
    importlib.import_module(f"{faust_fixes.__name__}.{info.name}")
    for info in pkgutil.iter_modules(faust_fixes.__path__)
]
RELIED_ON = [(module, name) for module in FIX_MODULES for name in module.RELIES_ON]


def _label(item: tuple[ModuleType, FaustName]) -> str:
    module, name = item
    return f"{module.__name__.rsplit('.', 1)[1]}:{name.owner.__name__}.{name.name}"


def test_every_fix_module_is_listed_in_the_package_docstring() -> None:
    assert len(FIX_MODULES) >= 9
    for module in FIX_MODULES:
        short = module.__name__.rsplit(".", 1)[1]
        assert f"``{short}``" in (faust_fixes.__doc__ or ""), short
        assert module.__doc__ and module.RELIES_ON, short


@pytest.mark.parametrize("item", RELIED_ON, ids=_label)
def test_what_a_fix_relies_on_is_still_in_faust(item: tuple[ModuleType, FaustName]) -> None:
    _, relied = item
    faust_classes = [cls for cls in relied.owner.__mro__ if cls.__module__.split(".")[0] in {"faust", "mode"}]
    if relied.parameters is None:  # an attribute of faust's instances, or of the class
        names_used = {
            name
            for cls in faust_classes
            for value in vars(cls).values()
            if inspect.isfunction(value)
            for name in value.__code__.co_names  # attributes its methods read or set
        }
        assert relied.name in names_used or any(relied.name in vars(cls) for cls in faust_classes), (
            f"faust's {relied.owner.__name__} no longer has {relied.name}"
        )
        return
    defined_in = next((cls for cls in faust_classes if relied.name in cls.__dict__), None)
    assert defined_in is not None, f"{relied.name} is no longer a method of faust's {relied.owner.__name__}"
    assert parameters(getattr(defined_in, relied.name)) == relied.parameters


@pytest.mark.parametrize("module", FIX_MODULES, ids=lambda module: module.__name__.rsplit(".", 1)[1])
def test_a_fix_declares_every_faust_method_it_overrides(module: ModuleType) -> None:
    declared = {name.name for name in module.RELIES_ON}
    for cls in vars(module).values():
        if not (isinstance(cls, type) and cls.__module__ == module.__name__):
            continue
        faust_bases = [base for base in cls.__mro__[1:] if base.__module__.split(".")[0] in {"faust", "mode"}]
        overridden = {
            name
            for name, value in vars(cls).items()
            if inspect.isfunction(value)
            and not name.startswith("__")
            and any(name in vars(base) for base in faust_bases)
        }
        assert overridden <= declared, f"{cls.__name__} overrides undeclared {overridden - declared}"


def test_the_installed_versions_are_the_ones_written_for() -> None:
    check_versions()


def test_other_versions_are_refused_naming_each() -> None:
    with pytest.raises(UnsupportedVersions) as refused:
        check_versions({"faust-streaming": "0.16.0", "aiokafka": None})
    assert "faust-streaming 0.16.0 (written for 0.15.3)" in str(refused.value)
    assert "aiokafka missing (written for 0.14.0)" in str(refused.value)
    check_versions(dict(WRITTEN_FOR))


def test_pyproject_and_constraints_pin_the_versions_written_for() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    constraints = (ROOT / "constraints.txt").read_text().splitlines()
    for name, wanted in WRITTEN_FOR.items():
        assert f"{name}=={wanted}" in dependencies
        assert f"{name}=={wanted}" in constraints


def test_parameters_show_names_kinds_and_defaults_not_annotations() -> None:
    def sample(self: object, a: int, *args: str, b: float = 1.0, **kwargs: object) -> None: ...

    def keyword_only(self: object, a: int, *, b: int = 0) -> None: ...

    assert parameters(sample) == "(self, a, *args, b=…, **kwargs)"
    assert parameters(keyword_only) == "(self, a, *, b=…)"

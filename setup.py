"""Build hook: the wheel carries the configs and the committed sample.

The top-level ``configs/`` and ``data/sample/`` folders stay where the design puts them (the checkout,
the sdist). A regular build copies them into the package as ``scoring/_bundled/configs`` and
``scoring/_bundled/sample``, where :mod:`scoring.core.resources` finds them with importlib.resources.
An editable install copies nothing: it reads the checkout's folders directly, so an edited config
takes effect at once. Everything else (metadata, packages) is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# source folder (relative to the project root) -> folder inside the installed package
BUNDLED = {"configs": "scoring/_bundled/configs", "data/sample": "scoring/_bundled/sample"}
_SKIP = shutil.ignore_patterns("__pycache__", ".*", "*.pyc")


class BuildPyWithData(build_py):
    """build_py that also copies configs/ and data/sample/ into ``<build_lib>/scoring/_bundled/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for src, dst in BUNDLED.items():
            source = HERE / src
            if not source.is_dir():
                raise SystemExit(f"{source}: missing; the package must ship it (is the sdist complete?)")
            target = Path(self.build_lib) / dst
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(source, target, ignore=_SKIP)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        out = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            for dst in BUNDLED.values():
                root = Path(self.build_lib) / dst
                out += [str(p) for p in sorted(root.rglob("*")) if p.is_file()]
        return out


setup(cmdclass={"build_py": BuildPyWithData})

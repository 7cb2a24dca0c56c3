"""The engine's core stays pure: no database, Redis or event loop, and no module-level state.

Pure means the core can be replayed, benchmarked and tested as plain function calls, and that two
workers in one process (or a test beside a worker) never share hidden state. Checked two ways:
by importing the whole core in a fresh interpreter (what it pulls in, transitively), and by
reading each module's top level (what a module keeps in itself).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tracker.trips.core

CORE_DIR = Path(tracker.trips.core.__file__).parent
IMPURE = ("psycopg", "psycopg_pool", "redis", "asyncio", "httpx", "fastapi", "uvicorn")
MUTABLE_CALLS = {"dict", "list", "set", "defaultdict", "deque", "OrderedDict", "Counter"}


def _core_modules() -> list[str]:
    return sorted(
        "tracker.trips.core" + ("" if p.stem == "__init__" else f".{p.stem}")
        for p in CORE_DIR.glob("*.py")
    )


def test_importing_the_core_loads_no_io_library() -> None:
    imports = "; ".join(f"import {m}" for m in _core_modules())
    probe = (
        f"import sys; {imports}; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({IMPURE!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]", f"the engine core pulls in {out}"


def _mutable(value: ast.expr) -> bool:
    if isinstance(value, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp | ast.SetComp):
        return True
    if isinstance(value, ast.Call):
        func = value.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        return name in MUTABLE_CALLS
    return False


def test_no_module_level_mutable_state() -> None:
    found: list[str] = []
    for path in sorted(CORE_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                if _mutable(node.value):
                    found += [f"{path.name}: {name}" for name in names]
            if isinstance(node, ast.Global | ast.Nonlocal):
                found.append(f"{path.name}: global statement")
    assert not found, f"module-level mutable state in the engine core: {found}"


def test_the_probe_sees_an_impure_import() -> None:
    """The first check can fail: a module that imports asyncio is seen by the same probe."""
    probe = "import sys, asyncio; print('asyncio' in {m.split('.')[0] for m in sys.modules})"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
    assert _mutable(ast.parse("x = {}").body[0].value)  # type: ignore[attr-defined]
    assert not _mutable(ast.parse("x = frozenset()").body[0].value)  # type: ignore[attr-defined]

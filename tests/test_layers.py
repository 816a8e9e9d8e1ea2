"""The package's imports form layers, and each file the package writes and reads back has one owner (issue 27).

Read from the source (ast), so lazy imports inside functions count as much as those at the top of a module.
"""

import ast
import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "kerasfer"

# Each part of the package, by layer: a module may import its own layer's parts and those below, never above.
# `kerasfer` itself (the package's `__init__`, which loads its parts lazily by name) may be imported from anywhere;
# a part's command line (`kerasfer.<part>.cli`) belongs with `kerasfer.cli`, on top.
LAYERS = (
    ("_lazy", "_import_hooks", "_tfds_hook", "version", "paths", "api_export", "run_files", "pretrained"),
    ("layers", "losses", "utils", "tfds_builders"),
    ("runtime", "face", "data"),
    ("models", "model_catalog"),
    ("inference", "export", "training"),
    ("cli", "cli_models", "demo", "__main__", "testing"),
)
LAYER = {part: k for k, parts in enumerate(LAYERS) for part in parts}
# Run-folder file names (`kerasfer.run_files`): each is spelled, as a path, in that one module.
RUN_FILE_NAMES = (
    "config.json",
    "preprocessing.json",
    "labels.txt",
    "model.keras",
    "best.weights.h5",
    "last_good.weights.h5",
    "history.json",
    "result.json",
    "report.json",
)


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict:
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(tree, modules) -> set:
    """The kerasfer modules a module imports (`from kerasfer.x import y` counts `kerasfer.x.y` when it is one)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return {name for name in found if name == "kerasfer" or name.startswith("kerasfer.")}


def _part(module: str) -> str | None:
    """The part of the package a module belongs to (None for `kerasfer` itself)."""
    parts = module.split(".")
    if len(parts) > 2 and parts[-1] == "cli":
        return "cli"
    return parts[1] if len(parts) > 1 else None


def _graph():
    modules = _modules()
    return {name: _imports(tree, modules) for name, tree in modules.items()}


def test_every_part_has_a_layer():
    parts = {_part(m) for m in _modules()} - {None}
    assert parts <= set(LAYER), f"give these parts a layer in LAYERS: {sorted(parts - set(LAYER))}"


def test_no_import_runs_up_a_layer():
    upward = []
    for module, imported in _graph().items():
        here = _part(module)
        for target in imported:
            there = _part(target)
            if here is not None and there is not None and LAYER.get(there, 0) > LAYER.get(here, 0):
                upward.append(f"{module} -> {target}")
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(sorted(upward))


def test_no_import_cycle_between_parts():
    """The parts' graph (who imports whom, a part's own modules aside) has no cycle."""
    edges = {}
    for module, imported in _graph().items():
        for target in imported:
            here, there = _part(module), _part(target)
            if here and there and here != there:
                edges.setdefault(here, set()).add(there)
    done, stack = set(), []

    def visit(part):
        if part in stack:
            raise AssertionError("import cycle: " + " -> ".join([*stack[stack.index(part) :], part]))
        if part in done:
            return
        stack.append(part)
        for nxt in sorted(edges.get(part, ())):
            visit(nxt)
        stack.pop()
        done.add(part)

    for part in sorted(edges):
        visit(part)


def _path_strings(tree):
    """String constants of a module outside its docstrings (f-string pieces included)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.value


def test_each_run_file_name_is_spelled_in_one_module():
    """A string that is a path ending in a run-folder file name (`"model.keras"`, `"/config.json"`) is written in
    `kerasfer.run_files` only; prose in messages may name the files."""
    where = {name: set() for name in RUN_FILE_NAMES}
    for module, tree in _modules().items():
        for text in _path_strings(tree):
            for name in RUN_FILE_NAMES:
                if re.fullmatch(rf"(.*/)?{re.escape(name)}", text):
                    where[name].add(module)
    assert {name: sorted(m) for name, m in where.items()} == {name: ["kerasfer.run_files"] for name in where}

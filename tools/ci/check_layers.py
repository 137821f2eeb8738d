#!/usr/bin/env python3
"""Fails when a quoted #include crosses the project's layers.

Each folder is a layer; a file may include its own layer's headers and those
of the layers its row allows, nothing else (docs/architecture.md explains
the table). Run from anywhere:

    python3 tools/ci/check_layers.py [ROOT]

Prints every crossing as FILE:LINE: LAYER -> LAYER (the header) and exits 1,
or prints a one-line summary and exits 0.
"""
import os
import re
import sys

# (layer, folder), the first matching folder wins.
LAYERS = [
    ("public", "include/visionrt/"),
    ("core", "src/core/"),
    ("io", "src/io/"),
    ("graph", "src/graph/"),
    ("runtime", "src/runtime/"),
    ("kernels", "kernels/"),
    ("backends", "src/backends/"),
    ("models", "models/"),
    ("api", "src/api/"),
    ("eval", "src/eval/"),
    ("python", "src/python/"),
    ("cli", "tools/cli/"),
]

# What each layer may include besides itself. core is the base every engine
# layer speaks (dtypes, errors, tensors, the thread pool); the public
# status header is the error vocabulary core itself throws. The clients
# (eval, cli, python) see the public API only, and the CLI also eval's two
# public headers.
ALLOWED = {
    "public": set(),
    "core": {"public:visionrt/status.hpp", "public:visionrt/export.hpp"},
    # The public Image is the one image type the front end decodes into.
    # The one exception, named: the Pillow-exact resampler's vertical pass
    # runs the CPU backend's per-ISA row kernel.
    "io": {"core", "public:visionrt/image.hpp", "backends:src/backends/cpu/isa/isa_kernels.hpp"},
    "graph": {"core"},
    "runtime": {"core", "graph"},
    "kernels": {"core"},
    "backends": {"core", "graph", "runtime", "kernels"},
    "models": {"core", "io", "graph"},
    "api": {"core", "io", "graph", "runtime", "kernels", "backends", "models", "public"},
    "eval": {"public", "core"},
    "python": {"public"},
    "cli": {"public", "eval:src/eval/coco.hpp", "eval:src/eval/detr_loss.hpp"},
}

SOURCE = (".cpp", ".hpp", ".h", ".c", ".cu", ".cuh", ".inc")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def layer_of(path):
    for name, folder in LAYERS:
        if path.startswith(folder):
            return name
    return None


def resolve(root, including, target):
    """The repository path a quoted include names, as the build's include
    folders (the file's own folder, src/, include/, the root) find it."""
    for base in (os.path.dirname(including), "src", "include", "src/eval", ""):
        path = os.path.normpath(os.path.join(base, target))
        if os.path.isfile(os.path.join(root, path)):
            return path
    return None


def allowed(me, them, path):
    rules = ALLOWED[me]
    return me == them or them in rules or f"{them}:{path}" in rules or any(
        r.startswith(f"{them}:") and path.endswith(r.split(":", 1)[1]) for r in rules)


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
    crossings, checked = [], 0
    for folder in {f.split("/")[0] for _, f in LAYERS}:
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in sorted(files):
                if not name.endswith(SOURCE):
                    continue
                path = os.path.relpath(os.path.join(dirpath, name), root)
                me = layer_of(path)
                if me is None:
                    continue
                with open(os.path.join(root, path), errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = resolve(root, path, m.group(1))
                        them = layer_of(target) if target else None
                        if target is None or them is None:
                            if target is not None:  # a file outside every layer (tests/, tools/)
                                crossings.append(f"{path}:{number}: {me} -> outside the layers ({target})")
                            continue
                        checked += 1
                        if not allowed(me, them, target):
                            crossings.append(f"{path}:{number}: {me} -> {them} ({target})")
    for c in crossings:
        print(c)
    if crossings:
        print(f"check_layers: {len(crossings)} include(s) cross the layers (tools/ci/check_layers.py has the table)")
        return 1
    print(f"check_layers: {checked} includes between layers, none crossing")
    return 0


if __name__ == "__main__":
    sys.exit(main())

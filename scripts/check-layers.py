#!/usr/bin/env python3
"""Checks that the modules of each crate depend on each other in one direction only.

    python3 scripts/check-layers.py          # check; prints each crate's module graph
    python3 scripts/check-layers.py --quiet  # check; print only problems

For every crate it reads the Rust sources under `src/`, finds each file's references to other
modules of the same crate (`crate::a::b`, `super::x`, `use crate::{a, b::c}`), and fails when

- two modules import each other, directly or through others (a circle), at two levels: the
  crate's top-level modules (`domain`, `storage`, …), and the files of one folder among
  themselves (`routes/books.rs` and `routes/loans.rs`, …);
- a file of `biblio-api/src/domain/` mentions `sqlx`, `redis`, `crate::storage`, `crate::cache`
  or `crate::auth` (the domain is values, parsers and rules);
- `storage`, `cache` or `search` of `biblio-api` import anything but `domain` and `error`.

Comments and string literals are ignored; `#[cfg(test)]` modules are checked like the rest.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = ["common", "biblio-api", "biblio-web", "xtask", "test-support"]


def strip_comments_and_strings(text):
    """Source without comments, string and char literals (a path inside them is no import)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == "r" and re.match(r'r#*"', text[i:]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            i = n if end < 0 else end + 1 + len(hashes)
            out.append('""')
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:]):
            i += len(re.match(r"'(\\.|[^\\'])'", text[i:]).group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_path(src, file):
    """`src/routes/books.rs` -> ("routes", "books"); `src/routes/mod.rs` -> ("routes",)."""
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def expand_use_tree(prefix, tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (roughly: enough for module paths)."""
    tree = tree.strip()
    m = re.match(r"^([\w:]*?)(::)?\{(.*)\}$", tree, re.S)
    if not m:
        return [prefix + [p for p in tree.split("::") if p and p != "self" and not p.startswith("*")]]
    head = [p for p in m.group(1).split("::") if p]
    inner, depth, items, cur = m.group(3), 0, [], ""
    for ch in inner:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    paths = []
    for item in items:
        item = re.sub(r"\s+as\s+\w+$", "", item.strip())
        if item:
            paths += expand_use_tree(prefix + head, item)
    return paths


def references(text, here):
    """Module paths (tuples) this file refers to, resolved from `crate::` and `super::`."""
    refs = []
    for m in re.finditer(r"\buse\s+((?:crate|super|self)\b[^;]*);", text):
        refs += expand_use_tree([], m.group(1))
    for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", text):
        refs.append(m.group(1).split("::"))
    resolved = []
    for parts in refs:
        if not parts:
            continue
        if parts[0] == "crate":
            resolved.append(tuple(parts[1:]))
        elif parts[0] in ("super", "self"):
            base = list(here)
            while parts and parts[0] in ("super", "self"):
                if parts[0] == "super":
                    base = base[:-1]
                parts = parts[1:]
            resolved.append(tuple(base + parts))
    return resolved


def longest_module(path, modules):
    for k in range(len(path), 0, -1):
        if path[:k] in modules:
            return path[:k]
    return None


def cycles(graph):
    """The strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def name(path):
    return "::".join(path) or "(crate root)"


def check_crate(crate, quiet):
    src = ROOT / crate / "src"
    files = sorted(src.rglob("*.rs"))
    modules = {module_path(src, f): f for f in files}
    problems = []
    edges = {}  # module path -> set of module paths it refers to
    texts = {}
    for path, file in modules.items():
        raw = file.read_text()
        text = strip_comments_and_strings(raw)
        texts[path] = (raw, text)
        targets = set()
        for ref in references(text, path):
            target = longest_module(ref, modules)
            if target is not None and target != path:
                targets.add(target)
        edges[path] = targets

    # Level 1: the crate's top-level modules.
    top = {}
    for path, targets in edges.items():
        if not path:
            continue
        for t in targets:
            if t and t[0] != path[0]:
                top.setdefault(path[0], set()).add(t[0])
        top.setdefault(path[0], set())
    for comp in cycles(top):
        problems.append(f"{crate}: import circle between top-level modules: {' <-> '.join(comp)}")

    # Level 2: the files of one folder among themselves (edges to a parent are not circles).
    folders = {}
    for path, targets in edges.items():
        for t in targets:
            if len(path) >= 1 and len(t) >= 1 and path[:-1] == t[:-1] and path != t:
                folders.setdefault(path[:-1], {}).setdefault(path, set()).add(t)
            elif len(t) > len(path) and t[: len(path)] == path:
                pass  # a module using its own children
            else:
                # Collapse to siblings under the deepest common folder.
                common = 0
                while common < min(len(path), len(t)) and path[common] == t[common]:
                    common += 1
                if common < len(path) and common < len(t) and common > 0:
                    a, b = path[: common + 1], t[: common + 1]
                    folders.setdefault(path[:common], {}).setdefault(a, set()).add(b)
    for folder, graph in sorted(folders.items()):
        for comp in cycles(graph):
            problems.append(
                f"{crate}: import circle inside {name(folder)}/: {' <-> '.join(name(c) for c in comp)}"
            )

    if crate == "biblio-api":
        for path, (raw, text) in texts.items():
            if path[:1] != ("domain",):
                continue
            for word in ("sqlx", "redis", "crate::storage", "crate::cache", "crate::auth"):
                if re.search(r"\b" + re.escape(word) + r"\b", text):
                    problems.append(f"{crate}: src/{'/'.join(path)}.rs mentions {word} (domain is values, parsers, rules)")
        for low_layer in ("storage", "cache", "search"):
            allowed = {"domain", "error", low_layer}
            extra = top.get(low_layer, set()) - allowed
            if extra:
                problems.append(f"{crate}: {low_layer} imports {', '.join(sorted(extra))} (only domain and error)")

    if not quiet:
        print(f"{crate}:")
        for module in sorted(top):
            print(f"  {module} -> {', '.join(sorted(top[module])) or '-'}")
    return problems


def main():
    quiet = "--quiet" in sys.argv
    problems = []
    for crate in CRATES:
        problems += check_crate(crate, quiet)
    for p in problems:
        print("FAIL", p)
    if problems:
        sys.exit(1)
    print("layers: no import circle in any crate; biblio-api's domain, storage, cache and search import only below them")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Counts the public items of the varscope library that have a doc example.

Reads rustdoc's JSON output (nightly only), which lists exactly the items reachable
from the crate root, so private helpers and `#[doc(hidden)]` hooks are not counted:

    CARGO_TARGET_DIR=/tmp/vs-json cargo +nightly rustdoc --lib -- \
        -Z unstable-options --output-format json
    python3 scripts/doc_coverage.py /tmp/vs-json/doc/varscope.json [--missing]

An item "has an example" when its doc comment contains a fenced code block.
Counted: free functions, methods of inherent impls, trait methods, structs, enums,
traits, constants, statics, type aliases and macros. Enum variants and fields are
reported on their own line; trait impls (`Display`, `From`, ...) and modules are not
counted.
"""
import json
import sys
from collections import Counter

COUNTED = {"function", "struct", "enum", "trait", "constant", "static", "type_alias", "macro"}


def kind_of(item):
    inner = item.get("inner") or {}
    return next(iter(inner), "?") if isinstance(inner, dict) else str(inner)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    with open(argv[1]) as f:
        doc = json.load(f)
    index = doc["index"]
    paths = doc.get("paths", {})

    # Items that are members of a trait impl: documented by the trait, not counted.
    in_trait_impl = set()
    # Method id -> owning type name, for readable output.
    owner = {}
    for item in index.values():
        inner = item.get("inner") or {}
        imp = inner.get("impl") if isinstance(inner, dict) else None
        if imp is None:
            continue
        ty = imp.get("for", {})
        name = (ty.get("resolved_path") or {}).get("path") or (ty.get("resolved_path") or {}).get("name") or "?"
        for member in imp.get("items", []):
            owner[str(member)] = name
            if imp.get("trait") is not None or imp.get("blanket_impl") is not None or imp.get("synthetic"):
                in_trait_impl.add(str(member))
    for item in index.values():
        inner = item.get("inner") or {}
        tr = inner.get("trait") if isinstance(inner, dict) else None
        if tr:
            for member in tr.get("items", []):
                owner[str(member)] = item.get("name") or "?"

    counted, with_ex, missing = Counter(), Counter(), []
    variants = [0, 0]
    for iid, item in index.items():
        if item.get("crate_id") != 0 or iid in in_trait_impl:
            continue
        kind = kind_of(item)
        has = "```" in (item.get("docs") or "")
        if kind in ("variant", "struct_field"):
            if kind == "variant":
                variants[0] += 1
                variants[1] += has
            continue
        if kind not in COUNTED:
            continue
        counted[kind] += 1
        if has:
            with_ex[kind] += 1
        else:
            span = item.get("span") or {}
            where = f"{span.get('filename', '?')}:{(span.get('begin') or ['?'])[0]}"
            path = paths.get(iid, {}).get("path")
            name = "::".join(path) if path else f"{owner.get(iid, '')}::{item.get('name')}".lstrip(":")
            missing.append((where, kind, name))

    total, ex = sum(counted.values()), sum(with_ex.values())
    for kind in sorted(counted):
        print(f"{kind:12} {with_ex[kind]:4}/{counted[kind]:<4} with an example")
    pct = 100.0 * ex / total if total else 0.0
    print(f"{'total':12} {ex:4}/{total:<4} = {pct:.1f}% with an example, {total - ex} without")
    vp = 100.0 * variants[1] / variants[0] if variants[0] else 0.0
    print(f"{'variants':12} {variants[1]:4}/{variants[0]:<4} = {vp:.1f}% (not in the total)")
    if "--missing" in argv:
        for where, kind, name in sorted(missing):
            print(f"  {where:40} {kind:10} {name}")


if __name__ == "__main__":
    main(sys.argv)

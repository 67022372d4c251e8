#!/usr/bin/env python3
"""Every test a document cites must exist.

docs/security.md (and others) back each claim with the name of a test, written as
`Suite.TestName`. This check fails when a cited test no longer exists in tests/ (renamed or
deleted), so a claim cannot silently lose its proof.

Usage: check_doc_tests.py SOURCE_ROOT DOC.md...
"""
import pathlib
import re
import sys

CITED = re.compile(r"`([A-Z][A-Za-z0-9]*)\.([A-Z][A-Za-z0-9]*)`")
DEFINED = re.compile(r"\bTEST(?:_F|_P)?\(\s*([A-Za-z0-9_]+)\s*,\s*([A-Za-z0-9_]+)\s*\)", re.S)


def defined_tests(root: pathlib.Path) -> set:
    names = set()
    for source in (root / "tests").rglob("*.cpp"):
        names.update(DEFINED.findall(source.read_text(errors="replace")))
    return names


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    root = pathlib.Path(sys.argv[1])
    tests = defined_tests(root)
    missing = []
    cited_count = 0
    for doc in sys.argv[2:]:
        text = (root / doc).read_text()
        for suite, name in CITED.findall(text):
            cited_count += 1
            if (suite, name) not in tests:
                missing.append(f"{doc}: `{suite}.{name}` is cited but no such test exists")
    for line in missing:
        print(line)
    if cited_count == 0:
        print("no test cited in " + " ".join(sys.argv[2:]) + " (the check would prove nothing)")
        return 1
    print(f"{cited_count} cited tests, {len(missing)} missing")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

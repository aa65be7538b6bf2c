#!/usr/bin/env python3
"""Every measured figure in the documents comes from bench/results.md.

    python3 bench/figures.py            (part of `make check`; reads files, builds nothing)
    python3 bench/figures.py --update   rewrite each quote with the value results.md has now

A document quotes a figure as a link to the generated results, the key as the
link's title:

    one probe costs [45,528](bench/results.md "healthprobe.instructions") instructions

and this check fails when the text differs from the value bench/run.sh wrote
under that key ("Figures", at the end of results.md), when the key is unknown,
or when the link does not lead to bench/results.md. It also fails on a figure
that looks measured (a size, a count of instructions, syscalls or faults, a
time in ms, a ratio) written outside such a link, unless the words just before
it make it a limit (at most, within, ≤ …), and on a relative link to a file or
heading that does not exist.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.md"
DOCS = ["README.md", "CONTRIBUTING.md", "SECURITY.md", "CHANGELOG.md", "bench/README.md", "build/README.md", "docs/*.md"]

QUOTE = re.compile(r'\[([^\]]*)\]\(([^)\s]*bench/results\.md)(?:#[^)\s]*)? "([^"]+)"\)')
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?: \"[^\"]*\")?\)")
# A figure that looks measured: a number with a unit that bench/run.sh measures.
MEASURED = re.compile(
    r"(?<![\w.,-])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s?"
    r"(KiB|MiB|KB|MB|bytes|B\b|instructions|syscalls|system calls|(?:minor |page )?faults|ms\b|×)"
)
# Words that make the number after them a limit, a setting or a test's input,
# not a measurement: just before it (on its line or the one above)...
LIMIT = re.compile(
    r"(≤|≥|<|>|\+|−|at most|at least|up to|within|under|over|above|below|budget|limit|more than|less than|"
    r"default|every|held|can reach|--\w+|-t|-[a-z])[^.;|]{0,24}$",
    re.IGNORECASE,
)
# ... or just after it.
SETTING = re.compile(r"^[\s\w-]{0,12}?\b(windows?|at a time|request|deadline|escapes?|budget)\b", re.IGNORECASE)


def results():
    """The "Figures" table of results.md: key -> value."""
    if not RESULTS.exists():
        sys.exit(f"figures: {RESULTS.relative_to(ROOT)} is missing: run `make bench`")
    text = RESULTS.read_text()
    start = text.find("\n## Figures")
    if start < 0:
        sys.exit("figures: bench/results.md has no '## Figures' table: run `make bench`")
    table = {}
    for line in text[start:].splitlines():
        m = re.match(r"^\| ([\w.]+) \| (.*) \|$", line)
        if m and m.group(1) != "key":
            table[m.group(1)] = m.group(2)
    return table


def documents():
    for pattern in DOCS:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file() and not path.is_symlink():
                yield path


def prose(lines):
    """(number, line) of each line outside fenced code, with inline code blanked."""
    fence = None
    for n, line in enumerate(lines, 1):
        m = re.match(r"^\s*(```|~~~)", line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            continue
        if fence is None:
            yield n, re.sub(r"`[^`]*`", lambda c: "`" + " " * (len(c.group(0)) - 2) + "`", line)


def slug(heading):
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def anchors(path):
    found, seen = set(), {}
    for _, line in prose(path.read_text().splitlines()):
        m = re.match(r"^#{1,6} (.*)$", line)
        if m:
            s = slug(re.sub(r"`", "", m.group(1)))
            k = seen.get(s, 0)
            seen[s] = k + 1
            found.add(s if k == 0 else f"{s}-{k}")
    return found


def check(path, table, update):
    rel = path.relative_to(ROOT)
    errors = []
    lines = path.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        def replace(m):
            text, target, key = m.groups()
            if (path.parent / target).resolve() != RESULTS:
                errors.append(f"{rel}:{i + 1}: the quote of {key} links to {target}, not to bench/results.md")
            elif key not in table:
                errors.append(f"{rel}:{i + 1}: {key} is not a figure of bench/results.md")
            elif text != table[key]:
                if update:
                    return m.group(0).replace(f"[{text}]", f"[{table[key]}]", 1)
                errors.append(f"{rel}:{i + 1}: {key} is quoted as '{text}', bench/results.md has '{table[key]}'")
            return m.group(0)

        lines[i] = QUOTE.sub(replace, line)
    if update:
        path.write_text("".join(lines))

    above = ""
    for n, line in prose([ln.rstrip("\n") for ln in lines]):
        bare = QUOTE.sub(lambda m: " " * len(m.group(0)), line)
        for m in MEASURED.finditer(bare):
            before = (above + " " + bare[: m.start()]) if not bare[: m.start()].strip() or m.start() < 24 else bare[: m.start()]
            if not LIMIT.search(before) and not SETTING.match(bare[m.end():]):
                errors.append(
                    f"{rel}:{n}: '{m.group(0)}' looks measured: quote it from bench/results.md "
                    f'([VALUE](…/bench/results.md "KEY")), link to it, or write it as a limit'
                )
        for m in LINK.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-z]+:", target) or target.startswith("#") and not target[1:]:
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if not dest.exists():
                errors.append(f"{rel}:{n}: the link to {target} leads nowhere")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                errors.append(f"{rel}:{n}: {file or rel} has no heading #{anchor}")
        above = bare
    return errors


def main():
    update = "--update" in sys.argv[1:]
    table = results()
    errors = [e for path in documents() for e in check(path, table, update)]
    for e in errors:
        print(f"figures: {e}", file=sys.stderr)
    if errors:
        print(
            "figures: the documents and bench/results.md disagree; after `make bench`, "
            "`python3 bench/figures.py --update` rewrites the quotes",
            file=sys.stderr,
        )
        return 1
    print(f"figures: every quoted figure matches bench/results.md ({table.get('date', '?')}, {table.get('commit', '?')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

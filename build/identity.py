#!/usr/bin/env python3
"""The project's identity, written once in Cargo.toml's [package], and a check
that every other mention of it agrees.

  name        [package] name
  version     [package] version; its major line is the first number
  repository  [package] repository, https://github.com/OWNER/REPO
  image       derived, not written: OWNER/REPO in lower case under ghcr.io, the
              GitHub Container Registry name that the release workflow's
              token may push to

Usage (from anywhere; paths are the repository's):
  build/identity.py env                   NAME=… VERSION=… MAJOR=… REPOSITORY=… SLUG=… IMAGE=…
  build/identity.py get FIELD             one of them (name version major repository slug image)
  build/identity.py check [--tag vX.Y.Z] [--repository URL] [--root DIR] [-v]
        every text file of the repository (git ls-files, or every file under
        DIR when it is no git checkout) is read for the strings that name the
        repository, the image or a released version (see PATTERNS), and each
        must be the one Cargo.toml gives. --tag: the tag must be v + version.
        --repository: the forge's own URL of the repository (the release
        workflow's), which must be Cargo.toml's. CHANGELOG.md must have a
        section for the version; with --tag, dated (## X.Y.Z (YYYY-MM-DD)),
        and no unreleased entries above it. One line for each mismatch, exit 1.
  build/identity.py notes                 the CHANGELOG.md section of the version
"""
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEMVER = r"(\d+\.\d+\.\d+)"


def identity(root=ROOT):
    package = tomllib.loads((root / "Cargo.toml").read_text())["package"]
    name, version, repository = package["name"], package["version"], package["repository"]
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+)", repository)
    if not m:
        raise SystemExit(f"identity: Cargo.toml's repository '{repository}' is not https://github.com/OWNER/REPO")
    if not re.fullmatch(SEMVER, version):
        raise SystemExit(f"identity: Cargo.toml's version '{version}' is not MAJOR.MINOR.PATCH")
    slug = f"{m.group(1)}/{m.group(2)}"
    return {
        "name": name,
        "version": version,
        "major": version.split(".")[0],
        "repository": repository,
        "slug": slug,
        "image": f"ghcr.io/{slug.lower()}",
    }


# (what, regex, the value its group 1 must have). Each names the project
# itself: another project's URL or version never matches.
def patterns(ident):
    n = re.escape(ident["name"])
    v = ident["version"]
    tags = {v, ident["major"], f"{v}-tls", f"{ident['major']}-tls"}
    return [
        ("repository", rf"github\.com/([\w.-]+/{n})(?![\w-])", {ident["slug"]}),
        ("repository", rf"(?:--repo|-R|--signer-workflow)[ =]([\w.-]+/{n})(?![\w-])", {ident["slug"]}),
        ("repository", rf"(?<![\w./-])([\w.-]+/{n})/\.github/workflows/", {ident["slug"]}),
        ("image", rf"ghcr\.io/([\w.-]+/[\w.-]+)", {ident["image"].removeprefix("ghcr.io/")}),
        ("image tag", rf"ghcr\.io/[\w.-]+/[\w.-]+:([\w.-]+)", tags),
        ("version", rf"(?<![\w-]){n}==\s*{SEMVER}", {v}),
        ("version", rf"(?<![\w./-]){n}(?:-tls)?[:@]{SEMVER}", {v}),
        ("version", rf"(?<![\w./-]){n}[ -]v?{SEMVER}(?![\w.])", {v}),
        ("version", rf"(?<![\w./-]){n}/{SEMVER}", {v}),
        ("version", rf"cargo install [^\n]*{n}[^\n]*--version[ =]{SEMVER}", {v}),
        ("version", rf"releases/(?:download|tag)/v{SEMVER}", {v}),
        ("version", rf"\b(?:tag|release)s? `?v{SEMVER}", {v}),
        # In Markdown, a version in backticks is the project's: the others'
        # versions there are written plain (Django 5.2, dockerd 20.10.24).
        ("version", rf"`v?{SEMVER}(?:-tls)?`", {v}, ".md"),
    ]


def files(root):
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], check=True,
                             capture_output=True).stdout.decode()
        names = [f for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        names = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    for name in sorted(names):
        # The lock file names every dependency's version; the changelog every
        # version of the project. Neither is a mention of the current one.
        if name in ("Cargo.lock", "CHANGELOG.md") or name.startswith("fuzz/corpus/"):
            continue
        path = root / name
        if path.is_symlink():   # python/README.md is README.md: read once
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        yield name, text


def changelog_section(root, version):
    path = root / "CHANGELOG.md"
    if not path.exists():
        return None
    m = re.search(rf"^## {re.escape(version)}\b[^\n]*\n(.*?)(?=^## |\Z)", path.read_text(), re.M | re.S)
    return m and (m.group(0).splitlines()[0], m.group(1).strip())


def check(args):
    root, tag, forge, verbose = ROOT, None, None, False
    it = iter(args)
    for a in it:
        if a == "--root":
            root = Path(next(it)).resolve()
        elif a == "--tag":
            tag = next(it)
        elif a == "--repository":
            forge = next(it)
        elif a == "-v":
            verbose = True
        else:
            raise SystemExit(f"identity check: unknown argument '{a}'")
    ident = identity(root)
    problems, seen, where = [], 0, set()
    if tag is not None and tag != f"v{ident['version']}":
        problems.append(f"the tag is {tag}, Cargo.toml's version is {ident['version']} (want v{ident['version']})")
    if forge is not None and forge.rstrip("/").lower() != ident["repository"].lower():
        problems.append(f"this repository is {forge}, Cargo.toml's repository is {ident['repository']}")
    section = changelog_section(root, ident["version"])
    if section is None:
        problems.append(f"CHANGELOG.md has no '## {ident['version']}' section")
    elif tag is not None:
        # A release's section is dated, and nothing waits above it unreleased.
        if not re.fullmatch(rf"## {re.escape(ident['version'])} \(\d{{4}}-\d{{2}}-\d{{2}}\)", section[0]):
            problems.append(f"CHANGELOG.md: '{section[0]}', want '## {ident['version']} (YYYY-MM-DD)', the tag's date")
        unreleased = changelog_section(root, "Unreleased")
        if unreleased and unreleased[1]:
            problems.append("CHANGELOG.md: the Unreleased section is not empty: move it under the version")
    for name, text in files(root):
        for what, regex, allowed, *suffix in patterns(ident):
            if suffix and not name.endswith(suffix[0]):
                continue
            for m in re.finditer(regex, text):
                line = text.count("\n", 0, m.start()) + 1
                seen += 1
                where.add(name)
                if m.group(1) not in allowed:
                    problems.append(f"{name}:{line}: {what} '{m.group(1)}' in '{m.group(0)}', "
                                    f"Cargo.toml gives {' or '.join(sorted(allowed))}")
                elif verbose:
                    print(f"identity: {name}:{line}: {m.group(0)}")
    for p in problems:
        print(f"identity: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"identity: {seen} mentions in {len(where)} files agree with Cargo.toml "
          f"(version {ident['version']}, {ident['repository']}, {ident['image']})"
          + (f"; tag {tag}" if tag else ""))
    return 0


def main(argv):
    cmd = argv[0] if argv else "env"
    if cmd == "env":
        for k, v in identity().items():
            print(f"{k.upper()}={v}")
    elif cmd == "get" and len(argv) == 2 and argv[1] in identity():
        print(identity()[argv[1]])
    elif cmd == "check":
        return check(argv[1:])
    elif cmd == "notes":
        section = changelog_section(ROOT, identity()["version"])
        if section is None:
            raise SystemExit("identity: CHANGELOG.md has no section for the version")
        print(section[1])
    else:
        print(__doc__, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GIT_OPTIONAL_LOCKS", "0")
    sys.exit(main(sys.argv[1:]))

"""The metadata that Cargo.toml owns, read from it at build time."""
import pathlib
import re

from setuptools import setup

cargo = (pathlib.Path(__file__).resolve().parent.parent / "Cargo.toml").read_text()
package = cargo.split("[package]", 1)[1].split("\n[", 1)[0]


def field(name):
    m = re.search(rf'^{name}\s*=\s*"([^"]*)"', package, re.M)
    if not m:
        raise SystemExit(f"setup.py: no {name} in Cargo.toml's [package]")
    return m.group(1)


repository = field("repository")
setup(
    version=field("version"),
    description=field("description"),
    license_expression=field("license"),
    project_urls={"Repository": repository, "Changelog": f"{repository}/blob/main/CHANGELOG.md"},
)

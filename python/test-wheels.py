"""Tests of the wheels `make wheel` leaves in dist/ (make test-wheel).

Run with the build venv's Python (target/wheel-build-venv: wheel, packaging,
pkginfo). For every platform wheel: its name and tags, the bytes of its
binary against dist/SHA256SUMS, RECORD, WHEEL and METADATA against Cargo.toml
and the README, and which wheel pip picks for a glibc and a musl Python of
that platform. Then the wheel for this machine is installed with
`pip install --no-index` into a fresh venv, and the `healthprobe` pip put on
its PATH probes a loopback server this test starts. Finally the wheels are
built a second time and must come out byte for byte the same.

Prints `ok - ...` / `not ok - ...` per case and `N passed, N failed`; exits 1
when any case failed. Leaves the venv at target/wheel-test-venv for the
end-to-end suite (HEALTHPROBE_BIN=target/wheel-test-venv/bin/healthprobe).
"""

import hashlib
import http.server
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import tomllib
from pathlib import Path

import pkginfo
from packaging.utils import parse_wheel_filename
from wheel.wheelfile import WheelFile

ROOT = Path(__file__).resolve().parent.parent
DIST = Path(os.environ.get("DIST_DIR", ROOT / "dist"))
VENV = ROOT / "target" / "wheel-test-venv"
# ARCH in dist/ names -> the machine in Python's platform tags.
ARCHES = {"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "armv7": "armv7l",
          "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
HOST = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine())

cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
VERSION = cargo["version"]
SUMS = dict(reversed(line.split(None, 1)) for line in (DIST / "SHA256SUMS").read_text().splitlines())
results = []
# Only dist/ is looked in: not a find-links directory the machine's pip is set to.
PIP_ENV = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}


def case(name):
    def run(fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - any failure of a case is reported, then the next runs
            results.append(False)
            detail = (getattr(e, "stderr", None) or "").strip().splitlines()[-3:]
            print(f"not ok - {name}: {type(e).__name__}: {e}" + "".join(f"\n#   {line}" for line in detail))
        else:
            results.append(True)
            print(f"ok - {name}")
    return run


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def wheel_for(arch):
    found = sorted(DIST.glob(f"healthprobe-{VERSION}-py3-none-*_{ARCHES[arch]}.whl"))
    expect(len(found) == 1, f"want one wheel for {arch} in {DIST}, found {[p.name for p in found]}")
    return found[0]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def want_tags(py):
    plats = [f"manylinux_2_17_{py}", f"musllinux_1_1_{py}"]
    if py != "riscv64":
        plats.append(f"manylinux2014_{py}")
    return {f"py3-none-{p}" for p in plats}


for arch, py in ARCHES.items():
    @case(f"{arch}: name, tags, binary bytes, the Python package, RECORD, WHEEL")
    def _(arch=arch, py=py):
        path = wheel_for(arch)
        name, version, build, tags = parse_wheel_filename(path.name)
        expect((name, str(version), build) == ("healthprobe", VERSION, ()), f"{path.name}: {name} {version} {build}")
        expect({str(t) for t in tags} == want_tags(py), f"tags {sorted(map(str, tags))}")
        data = f"healthprobe-{VERSION}.data/scripts/healthprobe"
        info = f"healthprobe-{VERSION}.dist-info"
        # wheel's WheelFile checks every member against RECORD as it reads it.
        with WheelFile(path) as wf:
            members = {i.filename: i for i in wf.infolist()}
            contents = {n: wf.read(n) for n in members}
        binary = contents[data]
        expect(sha256(binary) == SUMS[f"healthprobe-linux-{arch}"],
               f"{data}: sha256 {sha256(binary)}, SHA256SUMS says {SUMS[f'healthprobe-linux-{arch}']}")
        expect(binary == (DIST / f"healthprobe-linux-{arch}").read_bytes(), "binary differs from dist/")
        expect(stat.S_IMODE(members[data].external_attr >> 16) == 0o755, f"{data} mode {members[data].external_attr >> 16:o}")
        expect([n for n in members if ".data/" in n] == [data], f"data files: {[n for n in members if '.data/' in n]}")
        for src in sorted((ROOT / "python" / "healthprobe").rglob("*.py")):
            arc = src.relative_to(ROOT / "python").as_posix()
            expect(contents.get(arc) == src.read_bytes(), f"{arc} missing or differs from python/")
        record = contents[f"{info}/RECORD"].decode()
        expect(f"{data},sha256=" in record, "the binary is not in RECORD")
        wheel = contents[f"{info}/WHEEL"].decode().splitlines()
        expect("Root-Is-Purelib: false" in wheel, f"WHEEL: {wheel}")
        expect({line[5:] for line in wheel if line.startswith("Tag: ")} == want_tags(py), f"WHEEL tags: {wheel}")

    @case(f"{arch}: METADATA from Cargo.toml and README.md")
    def _(arch=arch):
        meta = pkginfo.Wheel(str(wheel_for(arch)))
        expect(meta.metadata_version in ("2.4", "2.5"), f"Metadata-Version {meta.metadata_version}")
        expect(meta.name == cargo["name"], f"Name {meta.name}")
        expect(meta.version == VERSION, f"Version {meta.version}")
        expect(meta.summary == cargo["description"], f"Summary {meta.summary!r}")
        expect(meta.license_expression == cargo["license"], f"License-Expression {meta.license_expression!r}")
        expect(meta.description_content_type == "text/markdown", f"{meta.description_content_type}")
        expect(meta.description.strip() == (ROOT / "README.md").read_text().strip(), "the long description is not README.md")
        expect(sorted(meta.license_file) == ["LICENSE-APACHE", "LICENSE-MIT"], f"License-File {meta.license_file}")
        with WheelFile(wheel_for(arch)) as wf:
            for lic in meta.license_file:
                got = wf.read(f"healthprobe-{VERSION}.dist-info/licenses/{lic}")
                expect(got == (ROOT / lic).read_bytes(), f"{lic} differs from the repository's")

    # pip's --platform takes exactly the tags given (no older manylinux or
    # musllinux versions), so these are the wheel's own tags, read by pip.
    @case(f"{arch}: pip picks this wheel, and no other, for glibc and musl Pythons on {py}")
    def _(arch=arch, py=py):
        for plat in sorted(t.split("-")[2] for t in want_tags(py)):
            with tempfile.TemporaryDirectory() as d:
                subprocess.run(
                    [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                     "--no-index", "--find-links", str(DIST), "--no-deps", "--only-binary=:all:",
                     "--platform", plat, "--python-version", "3.12", "--implementation", "cp",
                     "-d", d, f"healthprobe=={VERSION}"],
                    check=True, capture_output=True, text=True, env=PIP_ENV)
                got = os.listdir(d)
                expect(got == [wheel_for(arch).name], f"{plat}: pip took {got}")


def start_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            code = 200 if self.path == "/healthz" else 503
            body = b'{"status": "ok"}' if code == 200 else b'{"status": "error"}'
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if HOST is None:
    print(f"skipped - install and run: no wheel runs natively on {platform.machine()}")
else:
    installed = VENV / "bin" / "healthprobe"

    @case(f"pip install --no-index: the {HOST} wheel into a fresh venv")
    def _():
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        out = subprocess.run(
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
             "--no-index", "--find-links", str(DIST), f"healthprobe=={VERSION}"],
            check=True, capture_output=True, text=True, env=PIP_ENV).stdout
        expect(wheel_for(HOST).name in out, f"pip did not take {wheel_for(HOST).name}:\n{out}")
        subprocess.run([str(VENV / "bin" / "python"), "-c", "import healthprobe"], check=True)

    @case("the installed healthprobe: executable, the very bytes of dist/")
    def _():
        expect(os.access(installed, os.X_OK), f"{installed} is not executable")
        got = sha256(installed.read_bytes())
        expect(got == SUMS[f"healthprobe-linux-{HOST}"], f"sha256 {got}, dist/SHA256SUMS says {SUMS[f'healthprobe-linux-{HOST}']}")

    @case("healthprobe --version from the venv's PATH")
    def _():
        env = {"PATH": f"{VENV / 'bin'}:/usr/bin:/bin"}
        out = subprocess.run(["healthprobe", "--version"], env=env, check=True, capture_output=True, text=True, timeout=10)
        expect(out.stdout.startswith(f"healthprobe {VERSION} (") and "-linux-musl" in out.stdout, f"--version: {out.stdout!r}")

    @case("the installed healthprobe probes: 0 on /healthz 200, 1 on /readyz 503")
    def _():
        server = start_server()
        try:
            base = f"http://127.0.0.1:{server.server_address[1]}"
            ok = subprocess.run([str(installed), f"{base}/healthz"], capture_output=True, text=True, timeout=10)
            expect(ok.returncode == 0 and ok.stderr == "", f"/healthz: exit {ok.returncode} {ok.stderr!r}")
            bad = subprocess.run([str(installed), f"{base}/readyz"], capture_output=True, text=True, timeout=10)
            expect(bad.returncode == 1 and "503" in bad.stderr, f"/readyz: exit {bad.returncode} {bad.stderr!r}")
        finally:
            server.shutdown()
            server.server_close()


@case("make wheel twice: the same bytes")
def _():
    with tempfile.TemporaryDirectory() as d:
        for arch in ARCHES:
            shutil.copy2(DIST / f"healthprobe-linux-{arch}", d)
        shutil.copy2(DIST / "SHA256SUMS", d)
        subprocess.run(["bash", str(ROOT / "python" / "build-wheels.sh")], env={**os.environ, "DIST_DIR": d},
                       check=True, capture_output=True, text=True)
        for arch in ARCHES:
            first = wheel_for(arch)
            again = Path(d) / first.name
            expect(again.read_bytes() == first.read_bytes(), f"{first.name} differs when built again")


passed = sum(results)
failed = len(results) - passed
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

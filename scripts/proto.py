"""Generate, check and lint the protobuf contracts in proto/helpline/v1.

    python scripts/proto.py generate   # regenerate helpline/v1 (the _pb2 modules, gRPC stubs, type stubs)
    python scripts/proto.py check      # fail if helpline/v1 is not what `generate` would write
    python scripts/proto.py lint       # buf lint (buf from npm: `npm ci` first)
    python scripts/proto.py breaking   # buf breaking against the previous commit, when it has proto/

Code generation uses grpcio-tools' protoc and mypy-protobuf's plugins from the project's venv, so it
needs no protoc on PATH and gives the same bytes wherever the locked versions are installed.
"""

# argparse, not typer: four subcommands of a dev script need nothing more.
from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTO_DIR = PROTO_ROOT / "helpline" / "v1"
OUT_DIR = ROOT / "helpline" / "v1"
# Files in helpline/v1 that are not generated.
KEEP = {"__init__.py", "__pycache__"}
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


def proto_files() -> list[Path]:
    files = sorted(PROTO_DIR.glob("*.proto"))
    if not files:
        sys.exit(f"no .proto files in {PROTO_DIR.relative_to(ROOT)}")
    return files


def run_protoc(out_root: Path) -> None:
    """Write the generated code for every proto into `out_root`/helpline/v1."""
    # The plugins live next to the interpreter (the venv's bin), which works without an activated venv.
    bin_dir = Path(sys.executable).parent
    plugins = {name: bin_dir / name for name in ("protoc-gen-mypy", "protoc-gen-mypy_grpc")}
    for name, path in plugins.items():
        if not path.exists():
            sys.exit(f"{name} not found at {path}: run `uv sync` (mypy-protobuf is a dev dependency)")
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT.relative_to(ROOT)}",  # relative, so messages name proto/helpline/v1/...
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={plugins['protoc-gen-mypy']}",
        f"--plugin=protoc-gen-mypy_grpc={plugins['protoc-gen-mypy_grpc']}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *(str(path.relative_to(PROTO_ROOT)) for path in proto_files()),
    ]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"protoc failed:\n{result.stderr}")
    # Pass protoc's warnings on (e.g. an unused import); mypy-protobuf's progress lines are noise.
    warnings = [line for line in result.stderr.splitlines() if not line.startswith("Writing mypy to ")]
    if warnings:
        sys.stderr.write("\n".join(warnings) + "\n")


def generated_files(directory: Path) -> set[str]:
    if not directory.is_dir():
        return set()
    return {path.name for path in directory.iterdir() if path.name not in KEEP}


def diff(fresh_dir: Path) -> tuple[list[str], list[str], list[str]]:
    """(stale, missing, extra) file names of helpline/v1 against freshly generated ones."""
    fresh, committed = generated_files(fresh_dir), generated_files(OUT_DIR)
    stale = [
        name
        for name in sorted(fresh & committed)
        if not filecmp.cmp(fresh_dir / name, OUT_DIR / name, shallow=False)
    ]
    return stale, sorted(fresh - committed), sorted(committed - fresh)


def generate() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        run_protoc(Path(tmp))
        fresh_dir = Path(tmp) / "helpline" / "v1"
        stale, missing, extra = diff(fresh_dir)
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        for name in stale + missing:
            shutil.copyfile(fresh_dir / name, OUT_DIR / name)
    for name in extra:
        if name.endswith(GENERATED_SUFFIXES):
            (OUT_DIR / name).unlink()
        else:
            say(f"left alone: helpline/v1/{name} is not generated code; `check` will flag it")
    changed = len(stale) + len(missing) + sum(name.endswith(GENERATED_SUFFIXES) for name in extra)
    say(f"helpline/v1: {changed} file(s) written or removed, from {len(proto_files())} protos")
    return 0


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        run_protoc(Path(tmp))
        stale, missing, extra = diff(Path(tmp) / "helpline" / "v1")
    if not (stale or missing or extra):
        say("helpline/v1 is up to date with proto/")
        return 0
    say("helpline/v1 does not match proto/; run `make proto` (python scripts/proto.py generate)")
    for label, names in (("stale", stale), ("missing", missing), ("extra", extra)):
        for name in names:
            say(f"  {label}: helpline/v1/{name}")
    return 1


def buf(*args: str) -> int:
    npx = shutil.which("npx")
    if npx is None:
        sys.exit("npx not found: install Node.js with npm, then `npm ci`")
    return subprocess.run([npx, "--no-install", "buf", *args], cwd=ROOT, check=False).returncode


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def breaking(against: str) -> int:
    if git("rev-parse", "--verify", "--quiet", f"{against}^{{commit}}").returncode != 0:
        say(f"buf breaking skipped: there is no commit {against} to compare with")
        return 0
    if git("cat-file", "-e", f"{against}:proto").returncode != 0:
        say(f"buf breaking skipped: {against} has no proto/ folder")
        return 0
    return buf("breaking", "proto", "--against", f".git#ref={against},subdir=proto")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate", help="regenerate helpline/v1 from proto/")
    commands.add_parser("check", help="fail if helpline/v1 is stale, missing or has extra files")
    commands.add_parser("lint", help="buf lint")
    breaking_parser = commands.add_parser("breaking", help="buf breaking against an earlier commit")
    breaking_parser.add_argument("--against", default="HEAD~1", help="git revision (default: HEAD~1)")
    options = parser.parse_args()
    if options.command == "generate":
        return generate()
    if options.command == "check":
        return check()
    if options.command == "lint":
        return buf("lint")
    return breaking(options.against)


if __name__ == "__main__":
    sys.exit(main())

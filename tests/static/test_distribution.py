"""What the wheel (and so the services' image, which installs it) carries: the helpline library and
the services, nothing of the simulator or the development stack; and the `helpline` command it
installs works without them, the development commands only in a checkout.

The wheel is built as the image builds it (`uv sync --no-editable` builds the project's wheel), with
`uv build --wheel` into a temporary directory: about a second with hatchling in uv's cache.
test_container_files.py checks that the Dockerfile copies only helpline/ and services/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devstack.local_stack import REPO_ROOT
from helpline.cli import app

SHIPPED = {"helpline", "services"}
# Paths the library held before the simulator and the local stack moved out of it (issue 19).
LEFT_OUT = ("helpline/simulation/", "helpline/local_stack.py", "helpline/prometheus_config.py")
DEV_COMMANDS = {"up", "down", "simulate"}


def _uv() -> str | None:
    # `uv run` (make test) names itself in UV; else the uv on PATH.
    return os.environ.get("UV") or shutil.which("uv")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed (the Makefile installs it)")
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(out), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("*.whl")
    return built


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_holds_only_the_library_and_the_services(wheel: Path) -> None:
    names = _names(wheel)
    tops = {name.split("/", 1)[0] for name in names if ".dist-info/" not in name}
    assert tops == SHIPPED
    for left_out in LEFT_OUT:
        assert not [name for name in names if name.startswith(left_out)], left_out
    assert not [name for name in names if "local_stack" in name or "simulat" in name]


def test_the_wheel_entry_points_name_only_modules_it_holds(wheel: Path) -> None:
    """The image's metadata never points at a module the image lacks (devstack, simulator)."""
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = [
            name for name in archive.namelist() if name.endswith(".dist-info/entry_points.txt")
        ]
        text = archive.read(entry_points).decode()
    targets = [line.split("=", 1)[1].strip() for line in text.splitlines() if "=" in line]
    assert targets, text
    for target in targets:
        assert target.split(".", 1)[0] in SHIPPED, target


def test_the_wheels_helpline_command_works_without_the_development_stack(wheel: Path, tmp_path: Path) -> None:
    """The library as the image has it, off the repository's path: `helpline` loads, runs services,
    and has no `up`, `down` or `simulate`."""
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    probe = f"""
import sys
from pathlib import Path
repo = Path({str(REPO_ROOT)!r}).resolve()
sys.path[:] = [{str(unpacked)!r}] + [p for p in sys.path if p and Path(p).resolve() != repo]
import typer.main
import helpline.cli
assert Path(helpline.cli.__file__).is_relative_to({str(unpacked)!r}), helpline.cli.__file__
for name in ("devstack", "simulator"):
    assert name not in sys.modules, name
    try:
        __import__(name)
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError(name + " is importable")
print(" ".join(sorted(typer.main.get_command(helpline.cli.app).commands)))
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    commands = set(result.stdout.split())
    assert "run" in commands
    assert not commands & DEV_COMMANDS, commands


def test_a_checkouts_helpline_command_has_the_development_commands() -> None:
    usage = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert usage.exit_code == 0, usage.output
    for command in DEV_COMMANDS:
        assert f" {command} " in usage.output, command


def test_the_simulator_runs_from_what_its_image_copies(tmp_path: Path) -> None:
    """deploy/simulation/Dockerfile puts helpline/ and simulator/ on the path, nothing else of the
    repository: `python -m simulator simulate` loads from those alone (no services, no devstack)."""
    lib = tmp_path / "lib"
    for package in ("helpline", "simulator"):
        shutil.copytree(REPO_ROOT / package, lib / package, ignore=shutil.ignore_patterns("__pycache__"))
    probe = f"""
import runpy
import sys
from pathlib import Path
repo = Path({str(REPO_ROOT)!r}).resolve()
sys.path[:] = [{str(lib)!r}] + [p for p in sys.path if p and Path(p).resolve() != repo]
sys.argv = ["simulator", "simulate", "--help"]
try:
    runpy.run_module("simulator", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
for name in sys.modules:
    assert name.split(".")[0] not in ("services", "devstack"), name
    module = sys.modules[name]
    where = getattr(module, "__file__", None) or ""
    # Nothing from the checkout but its virtual environment's packages (the image's are the same).
    assert not where.startswith(str(repo) + "/") or where.startswith(sys.prefix + "/"), where
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--router-http" in result.stdout

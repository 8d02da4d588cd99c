"""The built wheel carries what `idlcm demo` and `idlcm crds` need: an installed wheel is no source tree."""

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from demo.test_demo import Demo, _status

ROOT = Path(__file__).resolve().parents[2]
# Offline: no index is asked (hatchling, the build backend, is one of the test dependencies).
PIP = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
OFFLINE = ["--no-index", "--no-deps"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    build = [*PIP, "wheel", *OFFLINE, "--no-build-isolation", "--wheel-dir", str(wheels), str(ROOT)]
    subprocess.run(build, check=True)
    (built,) = wheels.glob("idlcm-*.whl")
    return built


def test_installed_wheel_has_the_demo_examples_and_the_crds(tmp_path: Path, wheel: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([*PIP, "install", *OFFLINE, "--target", str(target), str(wheel)], check=True)

    # The installed package first on the path (its dependencies come from this environment), run away from
    # the source tree: what it finds, it found in the wheel.
    probe = (
        "from idlcm.demo import examples; from idlcm import crds; "
        "print(examples.source_dir()); print(crds.crds_dir()); "
        "print(sorted(p.name for p in examples.source_dir().glob('*.yaml')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0] == str(target / "idlcm" / "_demo_examples")
    assert out[1] == str(target / "idlcm" / "_crds")
    assert out[2] == str(sorted(p.name for p in (ROOT / "examples" / "demo").glob("*.yaml")))


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_idlcm_demo_from_the_wheel_in_a_new_venv_reaches_up_to_date(tmp_path: Path, wheel: Path) -> None:
    # A new venv with only the wheel installed in it; its dependencies are this environment's, seen through
    # a .pth line (offline: no index is asked). The line adds a path only, so the source tree's editable
    # install (itself a .pth in that directory) is not seen: `idlcm` comes from the wheel.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check", "--python", str(python)]
    subprocess.run([*pip, "install", *OFFLINE, str(wheel)], check=True)
    where = subprocess.run(
        [str(python), "-c", "import idlcm; print(idlcm.__file__)"], capture_output=True, text=True, check=True
    )
    assert where.stdout.startswith(site), where.stdout

    demo = Demo(tmp_path, command=(str(env_dir / "bin" / "idlcm"),))
    try:
        demo.wait_for_kubeconfig()
        demo.wait_until(
            "the demo's Integrations reach UpToDate",
            lambda found: (
                _status(found.get("crm-sales"))[0] == "UpToDate"
                and _status(found.get("crm-ops"))[0] == "UpToDate"
            ),
        )
        assert demo.interrupt() < 10
        assert demo.proc.returncode == 0, demo.output + demo.errors
    finally:
        demo.kill()

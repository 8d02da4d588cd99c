"""The built wheel carries what `idlcm demo` and `idlcm crds` need: an installed wheel is no source tree."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_installed_wheel_has_the_demo_examples_and_the_crds(tmp_path: Path) -> None:
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    # Offline: no index is asked (hatchling, the build backend, is one of the test dependencies).
    pip = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
    offline = ["--no-index", "--no-deps"]
    build = [*pip, "wheel", *offline, "--no-build-isolation", "--wheel-dir", str(wheels), str(ROOT)]
    subprocess.run(build, check=True)
    (wheel,) = wheels.glob("idlcm-*.whl")
    subprocess.run([*pip, "install", *offline, "--target", str(target), str(wheel)], check=True)

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

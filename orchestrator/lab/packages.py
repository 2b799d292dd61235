"""The .deb packages the lab's apt repository serves.

- greenswap-sample-app 1.0 and 2.0: the example service on schema v1 and v2;
- greenswap-lab-base 1.0 and 1.1: a stand-in for a system package. 1.0 is baked
  into the golden image; 1.1 is the "system update" that patching installs, and,
  like a kernel or libc update, it asks for a reboot.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.lab.local import run
from orchestrator.lab.settings import PROJECT_ROOT

APP = "greenswap-sample-app"
APP_SOURCE = PROJECT_ROOT / "examples" / "sample-app"
APP_VERSIONS = {"1.0": "store_v1.py", "2.0": "store_v2.py"}
BASE = "greenswap-lab-base"
BASE_VERSIONS = ("1.0", "1.1")
# Fixed timestamps make the same spec build the same bytes.
SOURCE_DATE_EPOCH = "1767225600"

BASE_POSTINST = """\
#!/bin/sh
set -e
# On upgrade ($2 is the old version), ask for a reboot the way Debian's kernel and libc do.
if [ "$1" = configure ] && [ -n "$2" ]; then
    touch /run/reboot-required
    echo greenswap-lab-base >> /run/reboot-required.pkgs
fi
"""


@dataclass(frozen=True)
class DebSpec:
    name: str
    version: str
    description: str
    depends: str = ""
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # path -> (data, mode)
    postinst: str | None = None

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version}_all.deb"


def sample_app(version: str) -> DebSpec:
    lib = f"usr/lib/{APP}"
    schema = APP_VERSIONS[version].replace("store_", "schema_").replace(".py", ".sql")
    files = {
        f"{lib}/server.py": ((APP_SOURCE / "server.py").read_bytes(), 0o755),
        f"{lib}/store.py": ((APP_SOURCE / APP_VERSIONS[version]).read_bytes(), 0o644),
        f"usr/share/{APP}/schema.sql": ((APP_SOURCE / schema).read_bytes(), 0o644),
        f"etc/init.d/{APP}": ((APP_SOURCE / f"{APP}.init").read_bytes(), 0o755),
    }
    return DebSpec(
        APP, version, f"greenswap sample accounts service (schema v{version[0]})",
        depends="python3, python3-psycopg2", files=files,
    )


def lab_base(version: str) -> DebSpec:
    release = f"greenswap lab base {version}\n".encode()
    return DebSpec(
        BASE, version, "greenswap lab stand-in for a patched system package",
        files={f"etc/{BASE}/release": (release, 0o644)}, postinst=BASE_POSTINST,
    )


def lab_packages() -> list[DebSpec]:
    return [sample_app(v) for v in APP_VERSIONS] + [lab_base(v) for v in BASE_VERSIONS]


def build_deb(spec: DebSpec, out_dir: Path) -> Path:
    out = out_dir / spec.filename
    if out.exists():
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gs-deb-") as tmp:
        root = Path(tmp) / "pkg"
        for rel, (data, mode) in spec.files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(mode)
        debian = root / "DEBIAN"
        debian.mkdir(parents=True)
        control = [
            f"Package: {spec.name}", f"Version: {spec.version}", "Architecture: all",
            "Maintainer: greenswap <greenswap@localhost>", "Section: admin", "Priority: optional",
        ]
        if spec.depends:
            control.append(f"Depends: {spec.depends}")
        control.append(f"Description: {spec.description}")
        (debian / "control").write_text("\n".join(control) + "\n")
        if spec.postinst:
            (debian / "postinst").write_text(spec.postinst)
            (debian / "postinst").chmod(0o755)
        tmp_out = out.with_suffix(".tmp")
        env_cmd = ["env", f"SOURCE_DATE_EPOCH={SOURCE_DATE_EPOCH}"]
        run([*env_cmd, "dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root),
             str(tmp_out)])
        os.replace(tmp_out, out)
    return out


def copy_into(debs: list[Path], pool: Path) -> None:
    pool.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        if not (pool / deb.name).exists():
            shutil.copy2(deb, pool / deb.name)

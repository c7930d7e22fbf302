"""Make sure the machine has what the tests need beside Python (``make test`` runs this):
Debian's Chromium for the end-to-end tests, and HarfBuzz's subsetting library, which WeasyPrint
(70 and later) wants for the PDFs (without it, it warns, and warnings fail the suite).

Installs what is missing with apt-get when we may (root); otherwise says what to do.
Playwright never downloads a browser here: the tests launch /usr/bin/chromium.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys

CHROMIUM = os.environ.get("GUICHET_CHROMIUM", "/usr/bin/chromium")


def missing() -> list[str]:
    packages = []
    if not os.path.exists(CHROMIUM):
        packages.append("chromium")
    if ctypes.util.find_library("harfbuzz-subset") is None:
        packages.append("libharfbuzz-subset0")
    return packages


def main() -> int:
    packages = missing()
    if not packages:
        return 0
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        sudo = "" if os.geteuid() == 0 else "sudo "
        print(
            f"The tests need {', '.join(packages)}.\n"
            f"Install with: {sudo}apt-get update && {sudo}apt-get install -y "
            f"{' '.join(packages)}\n"
            "(or point GUICHET_CHROMIUM at a Chromium binary), then run make test again.",
            file=sys.stderr,
        )
        return 1
    print(f"Installing {', '.join(packages)} for the tests (apt-get)...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", *packages]):
        result = subprocess.run(command, env=env, check=False)
        if result.returncode != 0:
            print(
                f"`{' '.join(command)}` failed (exit {result.returncode}); install "
                f"{' '.join(packages)} by hand and run make test again.",
                file=sys.stderr,
            )
            return 1
    still = missing()
    if still:
        print(f"Still missing after apt-get: {', '.join(still)}", file=sys.stderr)
    return 1 if still else 0


if __name__ == "__main__":
    sys.exit(main())

"""Make sure Debian's Chromium is present for the end-to-end tests (``make test`` runs this).

Installs it with apt-get when missing and when we may (root); otherwise says what to do.
Playwright never downloads a browser here: the tests launch /usr/bin/chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CHROMIUM = os.environ.get("GUICHET_CHROMIUM", "/usr/bin/chromium")


def main() -> int:
    if os.path.exists(CHROMIUM):
        return 0
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        sudo = "" if os.geteuid() == 0 else "sudo "
        print(
            f"The end-to-end tests need Chromium at {CHROMIUM}.\n"
            f"Install it with: {sudo}apt-get update && {sudo}apt-get install -y chromium\n"
            "(or point GUICHET_CHROMIUM at a Chromium binary), then run make test again.",
            file=sys.stderr,
        )
        return 1
    print("Installing Debian's chromium for the end-to-end tests (apt-get)...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "chromium"]):
        result = subprocess.run(command, env=env, check=False)
        if result.returncode != 0:
            print(
                f"`{' '.join(command)}` failed (exit {result.returncode}); install chromium by "
                "hand and run make test again.",
                file=sys.stderr,
            )
            return 1
    return 0 if os.path.exists(CHROMIUM) else 1


if __name__ == "__main__":
    sys.exit(main())

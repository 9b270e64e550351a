"""The code version a figure or a file was made by: the installed package's version, else
`git describe` of the checkout, else "unknown" (exports' manifests and reports carry it)."""

import subprocess
from functools import cache
from importlib import metadata

from django.conf import settings


@cache
def code_version() -> str:
    try:
        return metadata.version("rubric")
    except metadata.PackageNotFoundError:
        pass
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],  # noqa: S607
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return described.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"

"""Employee Directory, the labs' web app: stdlib and boto3 only, Python 3.9 (Amazon Linux 2023)."""

from __future__ import annotations

from pathlib import Path

__version__ = "1.0.0"


def package_files() -> dict[str, bytes]:
    """The package's sources by path ("employee_directory/web.py": bytes), for packaging."""
    here = Path(__file__).resolve().parent
    return {f"{here.name}/{p.name}": p.read_bytes() for p in sorted(here.glob("*.py"))}

"""EC2 user data that installs the Employee Directory app, carried inside the script itself.

`render` builds it from templates/userdata.sh.j2; `inspect` reads one back (graders use it on
what an instance or launch template holds, so it never calls AWS).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import re
import tarfile
import textwrap
import zlib
from dataclasses import dataclass, field

from bootcamp import checks
from bootcamp.errors import BootcampError
from bootcamp.render import render as render_template

LIMIT = 16 * 1024  # EC2 refuses user data above 16 KB (before base64)
MARKER = "# aws-bootcamp-labs: employee-directory user data"
PORT = 80
_ARCHIVE = re.compile(r"<<'ARCHIVE'\n(.*?)\nARCHIVE\n", re.S)
_ENV = re.compile(r"^Environment=(\w+)=(.*)$", re.M)
_LISTEN = re.compile(r"-m employee_directory .*--port (\d+)")


def archive(files: dict[str, bytes]) -> bytes:
    """A reproducible tar.gz of the app: same files, same bytes (no times, owners or modes from disk)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def app_files() -> dict[str, bytes]:
    import employee_directory

    return employee_directory.package_files()


def render(region: str, bucket: str = "") -> str:
    """The user data for an instance in `region` whose app uses `bucket` (empty: not chosen yet)."""
    if bucket:
        checks.bucket_name(bucket)
    checks.region(region)
    packed = base64.b64encode(archive(app_files())).decode()
    script = render_template("userdata.sh.j2", marker=MARKER, region=region, bucket=bucket, port=PORT,
                             archive="\n".join(textwrap.wrap(packed, 76)))
    if len(script.encode()) > LIMIT:
        raise BootcampError(f"the user data is {len(script.encode())} bytes, over EC2's {LIMIT}")
    return script


@dataclass
class UserData:
    """What a user data script says about the app it installs."""

    installs_app: bool = False
    problem: str = ""
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def bucket(self) -> str:
        return self.env.get("PHOTOS_BUCKET", "")

    @property
    def region(self) -> str:
        return self.env.get("AWS_DEFAULT_REGION", "")


def inspect(script: str | None) -> UserData:
    """Read a user data script: is it ours, does its archive hold the app, which port and settings."""
    if not script or not script.strip():
        return UserData(problem="empty")
    if MARKER not in script:
        return UserData(problem="not the project's user data")
    found = _ARCHIVE.search(script)
    if not found:
        return UserData(problem="its app archive is missing")
    try:
        packed = gzip.decompress(base64.b64decode("".join(found.group(1).split()), validate=True))
        with tarfile.open(fileobj=io.BytesIO(packed)) as tar:
            files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    except (binascii.Error, zlib.error, OSError, EOFError, tarfile.TarError):
        return UserData(problem="its app archive is damaged")
    listen = _LISTEN.search(script)
    data = UserData(port=int(listen.group(1)) if listen else None,
                    env=dict(_ENV.findall(script)), files=files)
    if "employee_directory/__main__.py" not in files:
        data.problem = "its archive does not hold the app"
    elif data.port is None:
        data.problem = "it does not start the app"
    else:
        data.installs_app = True
    return data

"""Request bodies: urlencoded and multipart/form-data forms, with file uploads (no `cgi`)."""

from __future__ import annotations

import re
import unicodedata
from email.parser import HeaderParser
from urllib.parse import parse_qsl

MAX_BODY = 20 * 1024 * 1024


class BadForm(ValueError):
    pass


def parse_multipart(body: bytes, boundary: str):
    """({name: text}, {name: (filename, content type, bytes)}), files without bytes left out.

    Split by hand, so file bytes stay exact; email's parser reads name=, filename=, filename*=.
    """
    fields, files = {}, {}
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    if len(chunks) < 2:
        raise BadForm("the multipart form lacks its boundary")
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.partition(b"\r\n")[2]  # padding after the delimiter
        head, _, data = (b"", b"", chunk[2:]) if chunk.startswith(b"\r\n") else chunk.partition(b"\r\n\r\n")
        part = HeaderParser().parsestr(head.decode("utf-8", "replace"))
        name, filename = part.get_param("name", header="content-disposition"), part.get_filename()
        if not isinstance(name, str):
            continue
        if filename is None:
            fields[name] = data.decode("utf-8", "replace")
        elif data:  # an empty file input sends filename="" and no bytes
            kind = part.get_content_type() if part["content-type"] else "application/octet-stream"
            files[name] = (filename, kind, data)
    return fields, files


def read_form(environ: dict):
    size = environ.get("CONTENT_LENGTH") or "0"
    if not size.isdigit() or int(size) > MAX_BODY:
        raise BadForm("the form is too large (20 MB at most)")
    body = environ["wsgi.input"].read(int(size))
    kind = environ.get("CONTENT_TYPE", "")
    if not kind.lower().startswith("multipart/form-data"):
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)), {}
    boundary = HeaderParser().parsestr(f"Content-Type: {kind}\n\n").get_param("boundary")
    return parse_multipart(body, str(boundary))  # None: "None", not in the body: BadForm


def safe_filename(name: str) -> str:
    """The name without its path, folded to ASCII letters, digits, dot, dash and underscore."""
    base = name.replace("\\", "/").split("/")[-1]  # old browsers on Windows send C:\...\x.png
    folded = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", folded).strip("._")[-100:] or "photo"

"""HTML from small templates; every value passes through html.escape."""

from __future__ import annotations

import html
from string import Template
from urllib.parse import quote

PAGE = Template("""<!doctype html><html><head><meta charset="utf-8"><title>$title</title>
<style>body{font:15px sans-serif;max-width:60em;margin:auto}nav{background:#234;padding:.6em}
nav a{color:#fff;margin-right:1em}p.e{background:#fdd;padding:.5em}
img{width:64px}label{display:block;margin:.5em 0}form.i{display:inline}</style></head><body><nav>
<a href="/">Employee Directory</a><a href="/add">Add employee</a><a href="/settings">Settings</a></nav>
<h1>$title</h1>$banners$body</body></html>""")
ROW = Template("""<tr><td>$photo</td><td>$name</td><td>$email</td><td>$location</td><td><a href="/edit/$id">Edit</a>
<form class="i" method="post" action="/delete/$id"><button>Delete</button></form></td></tr>""")
FORM = Template("""<form method="post" action="$action" enctype="multipart/form-data">
<label>Name <input name="name" value="$name" required></label>
<label>Email <input name="email" type="email" value="$email"></label>
<label>Location <input name="location" value="$location"></label>$current
<label>Upload a photo <input name="photo" type="file" accept="image/*"></label>
<label>or choose one in the bucket <select name="existing_photo"><option></option>$options</select></label>
<button>Save</button></form>""")
SETTINGS = Template("""<table>$rows</table><form method="post" action="/settings">
<label>Photo bucket <input name="bucket" value="$bucket"></label><button>Save</button></form>
<form method="post" action="/stress"><label>Stress every CPU for <input name="seconds" value="60"> seconds
</label><button>Start</button></form><a href="/api/settings">JSON</a>""")


def e(value) -> str:
    return html.escape("" if value is None else str(value))


def fill(template: Template, safe=None, **values) -> str:
    """The template with `values` escaped; `safe` holds HTML made here."""
    return template.substitute({k: e(v) for k, v in values.items()}, **(safe or {}))


def page(title: str, body: str, banners) -> str:
    errors = "".join(f'<p class="e">{e(b)}</p>' for b in banners)
    return fill(PAGE, {"body": body, "banners": errors}, title=title)


def photo(url, name) -> str:
    return f'<img src="{e(url)}" alt="{e(name)}">' if url else "no photo"


def employees(rows) -> str:
    cells = "".join(fill(ROW, {"photo": photo(r.get("photo_url"), r.get("name"))}, id=quote(r.get("id", ""), safe=""),
                         name=r.get("name"), email=r.get("email"), location=r.get("location")) for r in rows)
    return f"<table>{cells}</table>" if rows else "<p>No employees yet.</p>"


def employee_form(action: str, item: dict, keys, photo_url) -> str:
    options = "".join(f'<option value="{e(k)}">{e(k)}</option>' for k in keys)
    current = f"<p>{photo(photo_url, item.get('name'))}</p>" if photo_url else ""
    return fill(FORM, {"options": options, "current": current}, action=action,
                name=item.get("name"), email=item.get("email"), location=item.get("location"))


def settings(status: dict) -> str:
    rows = "".join(f"<tr><th>{e(group)} {e(k)}</th><td>{e(v)}</td></tr>" for group, facts in status.items()
                   for k, v in (facts.items() if isinstance(facts, dict) else [("", facts)]))
    return fill(SETTINGS, {"rows": rows}, bucket=status["bucket"]["name"])

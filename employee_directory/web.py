"""The WSGI application: routes, forms and redirects. It runs under any WSGI server."""

from __future__ import annotations

import json
import logging
import re
import uuid
from http import HTTPStatus
from urllib.parse import quote

from employee_directory import __version__, instance, pages, updates
from employee_directory.config import AppConfig, bucket_problem
from employee_directory.forms import BadForm, read_form, safe_filename
from employee_directory.store import Problem, Store

ID, ANY = "/([^/]+)", "(?:GET|POST) "
READ = "(?:GET|HEAD) "


def reply(status: int, body: str, kind: str = "text/plain", **headers):
    return status, [("Content-Type", kind), *headers.items()], body.encode()


def as_json(payload, status: int = 200):
    return reply(status, json.dumps(payload), "application/json")


def redirect(url: str, status: int = 303):
    return reply(status, "", Location=url)


class App:
    """The Employee Directory as a WSGI callable: App(AppConfig.from_env(mapping))."""

    def __init__(self, config: AppConfig = None):
        self.config = config or AppConfig.from_env()
        self.store = Store(self.config)
        instance.metadata(self.config.imds_endpoint, 0)  # asked as it starts
        self.routes = {
            "GET /": self.index, "GET /health": lambda: reply(200, "ok"), ANY + "/add": self.edit,
            ANY + "/edit" + ID: self.edit, "POST /delete" + ID: self.delete, "GET /photo" + ID: self.photo,
            ANY + "/settings": self.settings, "GET /api/settings": lambda: as_json(self.status()),
            "GET /api/employees": lambda: as_json(self.store.employees()), "POST /stress": self.stress,
            "GET /api/stress": lambda: as_json(instance.stress_status()),
            READ + "/updates/": self.releases,
            READ + "/updates" + ID + ID: self.update_file}
        self.conditional = (self.releases, self.update_file)

    def __call__(self, environ, start_response):
        # WSGI gives the path as latin-1; browsers send UTF-8.
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace") or "/"
        request = f"{environ['REQUEST_METHOD']} {path}"
        try:
            status, headers, body = self.dispatch(request, environ)
        except Exception:  # a bug of ours: the traceback goes to the log, not the page
            logging.getLogger(__name__).exception(request)
            status, headers, body = reply(500, "internal error")
        if "Cache-Control" not in dict(headers):  # pages are made for each request: no cache keeps them
            headers = headers + [("Cache-Control", "no-store")]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers + [("Content-Length", str(len(body)))])
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def dispatch(self, request: str, environ):
        for route, handler in self.routes.items():
            found = re.fullmatch(route, request)
            if found:
                try:
                    form = {"form": read_form(environ)} if request.startswith("POST") else {}
                    if handler in self.conditional:
                        form = {"if_none_match": environ.get("HTTP_IF_NONE_MATCH", "")}
                    return handler(*found.groups(), **form)
                except (BadForm, Problem) as exc:
                    return reply(400 if isinstance(exc, BadForm) else 502, str(exc))
        return reply(404, "not found")

    def page(self, title: str, body: str, banners=(), status: int = 200):
        return reply(status, pages.page(title, body, banners), "text/html")

    def index(self):
        table, bucket = self.store.table_status(), self.store.bucket_status()
        banners, rows = [s["error"] for s in (table, bucket) if s["error"]], []
        if table["exists"]:
            try:
                rows = self.store.employees()
            except Problem as exc:
                banners.append(f"cannot list the employees: {exc}")
        for row in rows:
            row["photo_url"] = bucket["reachable"] and self.store.photo_url(row.get("photo"))
        return self.page("Employees", pages.employees(rows), banners)

    def form_page(self, title: str, action: str, item: dict, problems=(), status: int = 200):
        try:
            keys = self.store.photo_keys()
        except Problem as exc:
            keys, problems = [], [*problems, f"cannot list the bucket's photos: {exc}"]
        body = pages.employee_form(action, item, keys, self.store.photo_url(item.get("photo")))
        return self.page(title, body, problems, status)

    def edit(self, emp_id: str = None, form=None):
        """Add (no id) or edit an employee: the form, or with `form`, the save."""
        title, action, item = "Add employee", "/add", {"id": str(uuid.uuid4())}
        if emp_id is not None:
            title, action = "Edit employee", "/edit/" + quote(emp_id, safe="")
            item = self.store.employee(emp_id)
            if item is None:
                return reply(404, f"no employee has id {emp_id}")
        if form is None:
            return self.form_page(title, action, item)
        fields, files = form
        item.update({name: fields.get(name, "").strip()[:200] for name in ("name", "email", "location")})
        if not item["name"]:
            return self.form_page(title, action, item, ["a name is required"], 400)
        try:
            if "photo" in files:
                filename, kind, data = files["photo"]
                key = f"employee_pic/{uuid.uuid4().hex}-{safe_filename(filename)}"
                self.store.upload(key, data, kind)
                item["photo"] = key
            elif fields.get("existing_photo"):
                item["photo"] = fields["existing_photo"]
            self.store.put_employee(item)
        except Problem as exc:
            return self.form_page(title, action, item, [str(exc)], 502)
        return redirect("/")

    def delete(self, emp_id: str, form):
        self.store.delete_employee(emp_id)  # the photo stays: it belongs to the bucket's owner
        return redirect("/")

    def photo(self, emp_id: str):
        url = self.store.photo_url((self.store.employee(emp_id) or {}).get("photo"))
        return redirect(url, 302) if url else reply(404, "no photo")

    def settings(self, form=None):
        name = form[0].get("bucket", "").strip() if form else ""
        problem = name and bucket_problem(name)
        if form and not problem:
            self.config.save_bucket(name)
            return redirect("/settings")
        banners = [f"{name} is not a valid bucket name: {problem}"] if problem else []
        return self.page("Settings", pages.settings(self.status()), banners, 400 if problem else 200)

    def stress(self, form):
        seconds = form[0].get("seconds", "")
        instance.stress(int(seconds) if seconds.isdigit() else 60)
        return redirect("/")

    def releases(self, if_none_match=""):
        return self.static(updates.etag(repr(updates.RELEASES)), updates.LIST_CACHING, if_none_match,
                           lambda: self.page("Software updates", updates.listing()))

    def update_file(self, version: str, name: str, if_none_match=""):
        data = updates.content(version, name)
        if data is None:
            return reply(404, f"release {version} has no file {name}")
        return self.static(updates.etag(f"{version}/{name}/{len(data)}"), updates.FILE_CACHING, if_none_match,
                           lambda: (200, [("Content-Type", updates.files(version)[name])], data))

    @staticmethod
    def static(tag, caching, if_none_match, make):
        cached = [("ETag", tag), ("Cache-Control", caching)]
        if updates.matches(if_none_match, tag):
            return 304, cached, b""
        status, headers, body = make()
        return status, headers + cached, body

    def status(self) -> dict:
        c = self.config
        return {"app": "employee-directory", "version": __version__, "region": c.region, "endpoint": c.endpoint,
                "table": self.store.table_status(), "bucket": self.store.bucket_status(),
                "instance": instance.metadata(c.imds_endpoint)}

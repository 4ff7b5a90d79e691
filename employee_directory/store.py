"""The app's AWS side: employees in DynamoDB, photos in S3, and a short status of both."""

from __future__ import annotations

import threading

import boto3
import botocore.exceptions as bx
from botocore.config import Config

ERRORS = (bx.BotoCoreError, bx.ClientError)


class Problem(Exception):
    """An AWS call failed: one line for a page."""


def short(exc) -> str:
    """One plain line for an AWS failure ("404: Not Found"), never a traceback."""
    err = getattr(exc, "response", {}).get("Error")
    text = f"{err.get('Code')}: {err.get('Message')}" if err else str(exc)  # botocore's own line
    return " ".join(text.split())[:300]


class Store:
    def __init__(self, config):
        self.config = config
        self.lock = threading.Lock()
        self.clients = {}

    def client(self, service: str):
        c = self.config
        with self.lock:  # a client is thread-safe once made; making one is not
            if service not in self.clients:
                session = boto3.session.Session(c.access_key, c.secret_key, c.session_token, c.region)
                # SigV4 presigning: the sandbox finds the account in the URL. Path-style on an
                # emulator: bucket.localhost may not resolve.
                config = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2},
                                signature_version="s3v4" if service == "s3" else None,
                                s3={"addressing_style": "path"} if c.endpoint else None)
                self.clients[service] = session.client(service, endpoint_url=c.endpoint, config=config)
            return self.clients[service]

    def call(self, service: str, method: str, **params):
        try:
            return getattr(self.client(service), method)(**params)
        except ERRORS as exc:
            raise Problem(short(exc)) from None

    @property
    def bucket(self):
        return self.config.bucket_choice()[0]

    def table_status(self) -> dict:
        # ListTables: the course's app role may list tables, not describe them.
        name = self.config.table
        try:
            pages = self.client("dynamodb").get_paginator("list_tables").paginate()
            exists = any(name in page["TableNames"] for page in pages)
            error = None if exists else f"table {name} not found in {self.config.region}"
        except ERRORS as exc:
            error = short(exc)
        return {"name": name, "exists": not error, "error": error}

    def bucket_status(self) -> dict:
        name, source = self.config.bucket_choice()
        error = None if name else "bucket not set: set PHOTOS_BUCKET, or save one on the settings page"
        try:
            if name:
                self.client("s3").head_bucket(Bucket=name)
        except ERRORS as exc:
            found = not short(exc).startswith("404")
            error = f"bucket {name} " + (f"not reachable: {short(exc)}" if found else "not found")
        return {"name": name, "source": source, "reachable": not error, "error": error}

    def employees(self) -> list:
        found = self.call("dynamodb", "scan", TableName=self.config.table)["Items"]  # 1 MB: a big directory
        # A console-made item may lack a name, or (in a table keyed otherwise) an id.
        return sorted(map(plain, found), key=lambda i: (i.get("name", "").lower(), i.get("id", "")))

    def employee(self, emp_id: str):
        found = self.call("dynamodb", "get_item", TableName=self.config.table, Key={"id": {"S": emp_id}})
        return plain(found["Item"]) if "Item" in found else None

    def put_employee(self, item: dict) -> None:
        wire = {k: {"S": v} for k, v in item.items() if v}
        self.call("dynamodb", "put_item", TableName=self.config.table, Item=wire)

    def delete_employee(self, emp_id: str) -> None:
        self.call("dynamodb", "delete_item", TableName=self.config.table, Key={"id": {"S": emp_id}})

    def photo_keys(self) -> list:
        found = self.call("s3", "list_objects_v2", Bucket=self.bucket) if self.bucket else {}
        return [o["Key"] for o in found.get("Contents", [])]

    def upload(self, key: str, data: bytes, content_type: str) -> None:
        if not self.bucket:
            raise Problem("no photo bucket is set: save one on the settings page first")
        self.call("s3", "put_object", Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def photo_url(self, key):
        """A presigned GET URL for an hour (signed here: no call), or None."""
        if self.bucket and key:
            try:
                return self.client("s3").generate_presigned_url(
                    "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=3600)
            except ERRORS:
                return None


def plain(item: dict) -> dict:
    # {"name": {"S": "Ana"}} -> {"name": "Ana"}; console-made numbers become text too.
    return {k: str(next(iter(v.values()))) for k, v in item.items()}

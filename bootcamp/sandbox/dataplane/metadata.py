"""Each instance's metadata service (IMDS), at /_bootcamp/imds/<instance-id>/ on the sandbox's port.

It answers what the app and boto3 ask an EC2 instance's 169.254.169.254: instance-id,
placement/availability-zone and placement/region, the addresses, and the instance profile
role's keys under iam/security-credentials/, issued by the sandbox's STS and renewed an hour
before they expire. IMDSv2 works as on EC2 (PUT /latest/api/token with a TTL header, then the
token in X-aws-ec2-metadata-token); the instance's metadata options count: with HttpTokens
`required` a GET without a valid token answers 401, and with HttpEndpoint `disabled` every
request answers 403 (the instance cannot read its metadata).
"""

from __future__ import annotations

import datetime
import json
import secrets
import threading
import time

from bootcamp.sandbox.dataplane import adapter

TOKEN_HEADER = "HTTP_X_AWS_EC2_METADATA_TOKEN"
TTL_HEADER = "HTTP_X_AWS_EC2_METADATA_TOKEN_TTL_SECONDS"
MAX_TTL = 21600
RENEW_BEFORE = datetime.timedelta(hours=1)


def _json(payload) -> str:
    return json.dumps(payload, indent=2, default=lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))


class MetadataService:
    PREFIX = "/_bootcamp/imds/"

    def __init__(self):
        self.lock = threading.Lock()
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (instance id, expiry, monotonic)
        self.keys: dict[tuple[str, str, str], dict] = {}  # (account, instance, role) -> credentials

    def endpoint(self, sandbox: str, instance_id: str) -> str:
        """The URL the instance's app and boto3 use for 169.254.169.254."""
        return f"{sandbox}{self.PREFIX}{instance_id}"

    def wsgi(self, environ, start_response):
        status, body = self.answer(environ)
        data = body.encode()
        start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
        return [data]

    def answer(self, environ) -> tuple[str, str]:
        instance_id, _, path = environ.get("PATH_INFO", "")[len(self.PREFIX):].partition("/")
        found = adapter.instance_by_id(instance_id)
        if found is None or found.state != "running":
            return "404 Not Found", "no running instance has this metadata service"
        if found.http_endpoint != "enabled":
            return "403 Forbidden", "the instance metadata endpoint is disabled for this instance"
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "latest/api/token":
            return self.token(found, environ) if method == "PUT" else ("405 Method Not Allowed", "use PUT")
        given = environ.get(TOKEN_HEADER)
        if given is not None or found.http_tokens == "required":
            if not self.valid(given or "", found.id):
                return "401 Unauthorized", ""
        value = self.lookup(found, path.rstrip("/"))
        return ("200 OK", value) if value is not None else ("404 Not Found", "not found")

    def token(self, instance: adapter.Instance, environ) -> tuple[str, str]:
        ttl = environ.get(TTL_HEADER, "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL:
            return "400 Bad Request", f"give X-aws-ec2-metadata-token-ttl-seconds between 1 and {MAX_TTL}"
        token = secrets.token_urlsafe(32)
        with self.lock:
            now = time.monotonic()
            self.tokens = {t: v for t, v in self.tokens.items() if v[1] > now}
            self.tokens[token] = (instance.id, now + int(ttl))
        return "200 OK", token

    def valid(self, token: str, instance_id: str) -> bool:
        with self.lock:
            held = self.tokens.get(token)
        return bool(held) and held[0] == instance_id and held[1] > time.monotonic()

    def lookup(self, i: adapter.Instance, path: str) -> str | None:
        role = i.role_arn.rsplit("/", 1)[-1] if i.role_arn else ""
        facts = {
            "latest/meta-data/instance-id": i.id,
            "latest/meta-data/placement/availability-zone": i.az,
            "latest/meta-data/placement/region": i.region,
            "latest/meta-data/local-ipv4": i.private_ip,
            "latest/meta-data/public-ipv4": i.public_ip or None,
            "latest/meta-data/public-hostname": i.public_dns or None,
            "latest/dynamic/instance-identity/document": _json({
                "accountId": i.account, "availabilityZone": i.az, "instanceId": i.id,
                "privateIp": i.private_ip, "region": i.region}),
        }
        if role:
            facts["latest/meta-data/iam/security-credentials"] = role
            facts["latest/meta-data/iam/info"] = _json({"Code": "Success", "InstanceProfileArn": "",
                                                        "InstanceProfileId": ""})
        if path == "latest/meta-data":
            return "\n".join(sorted({p.split("/")[2] for p in facts if p.startswith("latest/meta-data/")}))
        if role and path == f"latest/meta-data/iam/security-credentials/{role}":
            return _json(self.credentials(i))
        return facts.get(path)

    def credentials(self, i: adapter.Instance) -> dict:
        key = (i.account, i.id, i.role_arn)
        with self.lock:
            held = self.keys.get(key)
            now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
            if held is None or held["Expiration"] - RENEW_BEFORE < now:
                held = adapter.role_credentials(i.account, i.role_arn, i.id)
                self.keys[key] = held
        return {"Code": "Success", "LastUpdated": now, "Type": "AWS-HMAC", **held}

"""Unsigned requests are anonymous, as on AWS: allowed only where a bucket policy grants everyone.

moto serves an unsigned request as the root of its default account, so anyone on the machine
could list and create buckets without a key. Here an unsigned request may only read an S3
object (GET or HEAD) whose bucket policy has an Allow for Principal "*" on s3:GetObject and a
Resource matching the object, with no Condition, and whose RestrictPublicBuckets setting is
off; it is then served as its owner's account. A CORS preflight (OPTIONS, which browsers never
sign) to a bucket is served as its owner's too, and answered from the bucket's CORS rules. Any
other unsigned S3 request is AccessDenied;
any other service answers MissingAuthenticationToken. The instance metadata paths (/latest/)
are not AWS API calls and stay open.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

OPEN_PATHS = ("/latest/",)


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str) -> bool:
    from bootcamp.sandbox.access import like

    return like(pattern, value)


def _bucket_and_key(environ) -> tuple[str, str]:
    host = environ.get("HTTP_HOST", "").split(":")[0]
    path = unquote(environ.get("PATH_INFO", ""))
    if ".s3." in host or host.endswith(".s3"):  # virtual-hosted style: bucket.s3.<...>
        return host.split(".s3", 1)[0], path.lstrip("/")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def grants_public_read(policy: str | bytes | None, bucket: str, key: str) -> bool:
    """Whether a bucket policy lets everyone GetObject this key (see the module's docstring)."""
    try:
        statements = _listed(json.loads(policy or "{}").get("Statement", []))
    except (ValueError, TypeError, AttributeError):
        return False
    resource = f"arn:aws:s3:::{bucket}/{key}"
    for s in statements:
        if not isinstance(s, dict) or s.get("Effect") != "Allow" or s.get("Condition"):
            continue
        named = s.get("Principal")
        everyone = named == "*" or (isinstance(named, dict) and "*" in _listed(named.get("AWS", [])))
        if (everyone and any(_like(a, "s3:GetObject") for a in _listed(s.get("Action", [])))
                and any(_like(r, resource) for r in _listed(s.get("Resource", [])))):
            return True
    return False


def verdict(environ, error_response) -> tuple[str | None, tuple | None]:
    """(account to serve as, None) for an unsigned request AWS would serve, or (None, its refusal)."""
    if environ.get("PATH_INFO", "").startswith(OPEN_PATHS):
        return None, None
    looks_s3 = not environ.get("HTTP_X_AMZ_TARGET") and "Action=" not in environ.get("QUERY_STRING", "") and not (
        environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"))
    if not looks_s3:
        protocol = "dynamodb" if environ.get("HTTP_X_AMZ_TARGET") else "sts"  # a JSON or a query service's error
        return None, error_response(protocol, 403,
                                    "MissingAuthenticationToken", "Request is missing Authentication Token")
    denied = error_response("s3", 403, "AccessDenied", "Access Denied")
    bucket, key = _bucket_and_key(environ)
    method = environ.get("REQUEST_METHOD")
    preflight = method == "OPTIONS" and bool(bucket)
    if not preflight and (method not in ("GET", "HEAD") or not bucket or not key or environ.get("QUERY_STRING")):
        return None, denied
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(bucket)
    if owner is None:
        return None, denied
    if preflight:
        return owner[1], None
    found = dict.get(s3_backends, owner[1], {}).get(owner[0])
    made = found.buckets.get(bucket) if found is not None else None
    block = getattr(made, "public_access_block", None)
    if made is None or (block is not None and block.restrict_public_buckets):
        return None, denied
    policy = made.policy.decode() if isinstance(made.policy, bytes) else made.policy
    return (owner[1], None) if grants_public_read(policy, bucket, key) else (None, denied)

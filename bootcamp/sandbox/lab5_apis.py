"""What lab 5 (CloudFront in front of lab 4's load balancer) needs of the sandbox that moto 5.2.5's
CloudFront does not do as AWS does.

moto keeps distributions (custom origins, cache behaviours, tags, InProgress -> Deployed). Added here,
each applied once by `build_app()` and safe to apply again:

- `cache_and_origin_request_policies`: CloudFront's managed cache policies (Managed-CachingOptimized,
  Managed-CachingDisabled, ...) and origin request policies (Managed-AllViewer, ...) in every account,
  from cloudfront_policies.toml, and custom ones: List, Get, GetConfig, Create, Update, Delete, with
  AWS's checks (names unique in the account, MinTTL <= DefaultTTL <= MaxTTL, an ETag per version that
  an update or delete must name, managed ones never changed, one in use never deleted);
- `distributions_as_aws_keeps_them`: a distribution's DomainName is its sandbox name
  (`d<13 letters and digits>.cloudfront.localhost`, which the data plane's CloudFront answers on the
  sandbox's port, as `dXXXX.cloudfront.net` on AWS); a behaviour naming a cache or origin request
  policy that does not exist is refused (NoSuchCachePolicy, NoSuchOriginRequestPolicy); an update or
  delete must name the distribution's current ETag (PreconditionFailed), each update makes a new one
  and the distribution deploys again; an enabled distribution cannot be deleted
  (DistributionNotDisabled), as on AWS, where it must be disabled first.
"""

from __future__ import annotations

import copy
import tomllib
import uuid
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from moto.cloudfront import urls
from moto.cloudfront.exceptions import CloudFrontException
from moto.cloudfront.models import CloudFrontBackend, Distribution, random_id
from moto.cloudfront.responses import CloudFrontResponse
from moto.core.responses import ActionResult, EmptyResult

from bootcamp.sandbox.dataplane.names import distribution_domain

POLICIES_FILE = Path(__file__).with_name("cloudfront_policies.toml")
API = "/2020-05-31"
KINDS = {"cache": ("cache-policy", "CachePolicy"), "origin_request": ("origin-request-policy", "OriginRequestPolicy")}
DEFAULT_TTL, MAX_TTL = 86400, 31536000


class _Error(CloudFrontException):
    def __init__(self, code: str, message: str):
        super().__init__(code, message)


def _items(names) -> dict:
    names = list(names or [])
    return {"Quantity": len(names), **({"Items": names} if names else {})}


@cache
def _managed_file() -> dict:
    return tomllib.loads(POLICIES_FILE.read_text(encoding="utf-8"))


def managed_cache_config(entry: dict) -> dict:
    """A managed cache policy from the data file, in AWS's CachePolicyConfig shape."""
    headers = entry.get("headers", [])
    return {"Comment": entry["Comment"], "Name": entry["Name"], "DefaultTTL": entry["DefaultTTL"],
            "MaxTTL": entry["MaxTTL"], "MinTTL": entry["MinTTL"],
            "ParametersInCacheKeyAndForwardedToOrigin": {
                "EnableAcceptEncodingGzip": entry.get("gzip", False),
                "EnableAcceptEncodingBrotli": entry.get("brotli", False),
                "HeadersConfig": {"HeaderBehavior": "whitelist" if headers else "none",
                                  **({"Headers": _items(headers)} if headers else {})},
                "CookiesConfig": {"CookieBehavior": entry.get("cookies", "none")},
                "QueryStringsConfig": {"QueryStringBehavior": entry.get("query_strings", "none")}}}


def managed_origin_request_config(entry: dict) -> dict:
    names = entry.get("header_names", [])
    return {"Comment": entry["Comment"], "Name": entry["Name"],
            "HeadersConfig": {"HeaderBehavior": entry.get("headers", "none"),
                              **({"Headers": _items(names)} if names else {})},
            "CookiesConfig": {"CookieBehavior": entry.get("cookies", "none")},
            "QueryStringsConfig": {"QueryStringBehavior": entry.get("query_strings", "none")}}


MANAGED_DATE = datetime(2020, 5, 31, tzinfo=UTC)


def managed(kind: str) -> dict[str, dict]:
    """id -> {"config", "etag", "modified"} of the managed policies of a kind (the same in every account)."""
    shape = managed_cache_config if kind == "cache" else managed_origin_request_config
    return {pid: {"config": shape(entry), "etag": "E23ZP02F085DFQ", "modified": MANAGED_DATE}
            for pid, entry in _managed_file()[kind].items()}


def custom(backend, kind: str) -> dict[str, dict]:
    """The account's own policies of a kind, kept on moto's CloudFront backend (a reset forgets them)."""
    return backend.__dict__.setdefault(f"bootcamp_{kind}_policies", {})


def policy(backend, kind: str, pid: str) -> tuple[dict, str]:
    """(the policy, "managed" or "custom"), or the NoSuch... error AWS answers."""
    if pid in managed(kind):
        return managed(kind)[pid], "managed"
    if pid in custom(backend, kind):
        return custom(backend, kind)[pid], "custom"
    label = KINDS[kind][1]
    raise _Error(f"NoSuch{label}", f"The {'cache' if kind == 'cache' else 'origin request'} policy does not exist.")


def _int(value, default: int | None = None) -> int | None:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _Error("InvalidArgument", f"{value!r} is not a number of seconds.") from None


def checked_config(kind: str, config: dict) -> dict:
    """A policy config as AWS keeps it, or InvalidArgument: a name, and (cache) MinTTL <= DefaultTTL <= MaxTTL."""
    config = copy.deepcopy(config or {})
    if not config.get("Name"):
        raise _Error("InvalidArgument", "The parameter Name is required.")
    for part in ("HeadersConfig", "CookiesConfig", "QueryStringsConfig"):
        holder = config if kind == "origin_request" else config.setdefault("ParametersInCacheKeyAndForwardedToOrigin", {})
        block = holder.setdefault(part, {})
        behaviour = part.replace("sConfig", "Behavior")
        block.setdefault(behaviour, "none")
        names_key = part.removesuffix("Config")
        if names_key in block:
            block[names_key] = _items((block[names_key] or {}).get("Items", []))
    if kind == "cache":
        low = _int(config.get("MinTTL"))
        if low is None:
            raise _Error("InvalidArgument", "The parameter MinTTL is required.")
        default, high = _int(config.get("DefaultTTL"), DEFAULT_TTL), _int(config.get("MaxTTL"), MAX_TTL)
        if not (0 <= low <= default <= high):
            raise _Error("InvalidArgument", "The MinTTL, DefaultTTL and MaxTTL must satisfy MinTTL <= DefaultTTL <= MaxTTL.")
        config.update(MinTTL=low, DefaultTTL=default, MaxTTL=high)
        params = config["ParametersInCacheKeyAndForwardedToOrigin"]
        params["EnableAcceptEncodingGzip"] = bool(params.get("EnableAcceptEncodingGzip", False))
        params.setdefault("EnableAcceptEncodingBrotli", False)
    config.setdefault("Comment", "")
    return config


def _summary(kind: str, pid: str, entry: dict) -> dict:
    label = KINDS[kind][1]
    return {"Id": pid, "LastModifiedTime": entry["modified"], f"{label}Config": entry["config"]}


def _in_use(backend, kind: str, pid: str) -> bool:
    key = "cache_policy_id" if kind == "cache" else "origin_request_policy_id"
    return any(getattr(b, key, None) == pid for d in list(backend.distributions.values())
               for b in behaviours(d.distribution_config))


def behaviours(config) -> list:
    """A distribution config's behaviours, the default one last."""
    listed = getattr(config, "CacheBehaviors", {}) or {}
    return [*(listed.get("Items") or []), config.DefaultCacheBehavior]


# --- the API: one set of handlers for both kinds of policy -------------------------------------

def _handlers(kind: str) -> dict:
    path, label = KINDS[kind]
    config_key = f"{label}Config"

    def list_(self):
        wanted = self._get_param("Type") or "all"
        rows = []
        if wanted in ("all", "managed"):
            rows += [("managed", pid, e) for pid, e in managed(kind).items()]
        if wanted in ("all", "custom"):
            rows += [("custom", pid, e) for pid, e in custom(self.backend, kind).items()]
        items = [{"Type": t, label: _summary(kind, pid, e)} for t, pid, e in rows]
        return ActionResult({f"{label}List": {"MaxItems": 100, "Quantity": len(items),
                                               **({"Items": items} if items else {})}})

    def get(self):
        pid = self._get_param("Id")
        entry, _ = policy(self.backend, kind, pid)
        return ActionResult({label: _summary(kind, pid, entry), "ETag": entry["etag"]})

    def get_config(self):
        entry, _ = policy(self.backend, kind, self._get_param("Id"))
        return ActionResult({config_key: entry["config"], "ETag": entry["etag"]})

    def _name_taken(backend, name: str, but: str = "") -> None:
        for pid, entry in {**managed(kind), **custom(backend, kind)}.items():
            if entry["config"]["Name"] == name and pid != but:
                raise _Error(f"{label}AlreadyExists", f"A {label} with this name already exists.")

    def create(self):
        config = checked_config(kind, self._get_param(config_key, {}))
        _name_taken(self.backend, config["Name"])
        pid = str(uuid.uuid4())
        entry = {"config": config, "etag": random_id(), "modified": datetime.now(UTC)}
        custom(self.backend, kind)[pid] = entry
        return ActionResult({label: _summary(kind, pid, entry), "ETag": entry["etag"],
                             "Location": f"https://cloudfront.amazonaws.com{API}/{path}/{pid}"})

    def _changeable(self) -> tuple[str, dict]:
        pid = self._get_param("Id")
        entry, where = policy(self.backend, kind, pid)
        if where == "managed":
            raise _Error("IllegalDelete" if self.method == "DELETE" else "IllegalUpdate",
                         f"A managed {label} cannot be {'deleted' if self.method == 'DELETE' else 'updated'}.")
        if_match = self._get_param("IfMatch")
        if not if_match:
            raise _Error("InvalidIfMatchVersion", "The If-Match version is missing or not valid for the resource.")
        if if_match != entry["etag"]:
            raise _Error("PreconditionFailed", "The precondition given in one or more of the request-header fields "
                                               "evaluated to false.")
        return pid, entry

    def update(self):
        pid, entry = _changeable(self)
        config = checked_config(kind, self._get_param(config_key, {}))
        _name_taken(self.backend, config["Name"], but=pid)
        entry.update(config=config, etag=random_id(), modified=datetime.now(UTC))
        return ActionResult({label: _summary(kind, pid, entry), "ETag": entry["etag"]})

    def delete(self):
        pid, _ = _changeable(self)
        if _in_use(self.backend, kind, pid):
            raise _Error(f"{label}InUse", f"Cannot delete {label} as it is attached to one or more cache behaviors.")
        del custom(self.backend, kind)[pid]
        return EmptyResult()

    snake = "cache_policy" if kind == "cache" else "origin_request_policy"
    return {f"list_{snake.replace('policy', 'policies')}": list_, f"get_{snake}": get,
            f"get_{snake}_config": get_config, f"create_{snake}": create, f"update_{snake}": update,
            f"delete_{snake}": delete}


def cache_and_origin_request_policies() -> None:
    """The policy APIs on moto's CloudFront: its URL map (read when the server makes the service's app)
    and its response class."""
    for path, _ in KINDS.values():
        urls.url_paths.setdefault("{0}" + f"{API}/{path}$", CloudFrontResponse.dispatch)
        urls.url_paths.setdefault("{0}" + f"{API}/{path}/(?P<policy_id>[^/]+)$", CloudFrontResponse.dispatch)
        urls.url_paths.setdefault("{0}" + f"{API}/{path}/(?P<policy_id>[^/]+)/config$", CloudFrontResponse.dispatch)
    for kind in KINDS:
        for name, handler in _handlers(kind).items():
            if not getattr(getattr(CloudFrontResponse, name, None), "bootcamp", False):
                handler.bootcamp = True
                setattr(CloudFrontResponse, name, handler)


# --- distributions ------------------------------------------------------------------------------

def _check_policies(backend, config) -> None:
    for behaviour in behaviours(config):
        if getattr(behaviour, "cache_policy_id", ""):
            policy(backend, "cache", behaviour.cache_policy_id)
        if getattr(behaviour, "origin_request_policy_id", ""):
            policy(backend, "origin_request", behaviour.origin_request_policy_id)


def _current(backend, dist_id: str, if_match) -> Distribution:
    dist = backend.distributions.get(dist_id)
    if dist is None:
        raise _Error("NoSuchDistribution", "The specified distribution does not exist.")
    if not if_match:
        raise _Error("InvalidIfMatchVersion", "The If-Match version is missing or not valid for the resource.")
    if if_match != dist.etag:
        raise _Error("PreconditionFailed", "The precondition given in one or more of the request-header fields "
                                           "evaluated to false.")
    return dist


def enabled(config) -> bool:
    value = getattr(config, "Enabled", True)
    return value if isinstance(value, bool) else str(value).lower() == "true"


def distributions_as_aws_keeps_them() -> None:
    if getattr(CloudFrontBackend.create_distribution_with_tags, "bootcamp", False):
        return
    create, update, delete = (CloudFrontBackend.create_distribution_with_tags, CloudFrontBackend.update_distribution,
                              CloudFrontBackend.delete_distribution)
    made = Distribution.__init__

    def __init__(self, account_id, region_name, config):
        made(self, account_id, region_name, config)
        self.domain_name = distribution_domain(self.distribution_id)

    def create_distribution_with_tags(self, distribution_config, tags):
        dist, location, etag = create(self, distribution_config, tags)
        try:
            _check_policies(self, dist.distribution_config)
        except _Error:
            self.distributions.pop(dist.distribution_id, None)
            self.tagger.delete_all_tags_for_resource(dist.arn)
            raise
        return dist, location, etag

    def update_distribution(self, dist_config, _id, if_match):
        dist = _current(self, _id, if_match)
        before = dist.distribution_config
        found, location, _ = update(self, dist_config, _id, if_match)
        try:
            _check_policies(self, found.distribution_config)
        except _Error:
            dist.distribution_config = before
            raise
        found.etag = random_id()
        found._status = "InProgress"  # the change deploys to every edge location again
        found.last_modified_time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return found, location, found.etag

    def delete_distribution(self, distribution_id, if_match):
        dist = _current(self, distribution_id, if_match)
        if enabled(dist.distribution_config):
            raise _Error("DistributionNotDisabled", "The distribution you are trying to delete has not been disabled.")
        delete(self, distribution_id, if_match)
        self.tagger.delete_all_tags_for_resource(dist.arn)

    for function in (create_distribution_with_tags, update_distribution, delete_distribution, __init__):
        function.bootcamp = True
    CloudFrontBackend.create_distribution_with_tags = create_distribution_with_tags
    CloudFrontBackend.update_distribution = update_distribution
    CloudFrontBackend.delete_distribution = delete_distribution
    Distribution.__init__ = __init__

"""Where moto authorizes a call, the sandbox decides as AWS does (the rules: `bootcamp.sandbox.access`).

moto asks `_authenticate_and_authorize_action` before every action, with the action's name and,
for S3, the bucket or object; `enforce` replaces it for every caller: an IAM principal's own
policies, as moto collects them (moto's one global switch, INITIAL_NO_AUTH_ACTION_COUNT, would hold
roots to policies too), then the role's trust policy for AssumeRole and the bucket or topic policy when
the call reaches another account's bucket or topic. Every one of them is judged by `access.decide`,
whose statements and conditions are `policy_eval`'s, so what the sandbox enforces is what its
iam:SimulatePrincipalPolicy answers. Refusals are in each service's words:
AccessDenied naming the role for STS, S3's "Access Denied", SNS's AuthorizationError.
"""

from __future__ import annotations

import json

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError, _RESTError

from bootcamp.sandbox import access
from bootcamp.sandbox.access import CREDENTIAL, JSON_SERVICES, QUERY_CREDENTIAL, Principal


class Refused(_RESTError):
    """A refusal in the query protocol's error body, which STS's and SNS's SDKs read."""

    code = 403

    def __init__(self, code: str, message: str):
        super().__init__(code, message)


def _backend(backends, account: str, partition: str = "aws"):
    """An account's backend if moto has made it (looking one up would make it, with its defaults)."""
    return dict.get(dict.get(backends, account) or {}, partition)


def signed_key(headers, query: str) -> str:
    """The access key id a request is signed with, in its Authorization header or a presigned URL."""
    found = CREDENTIAL.search(headers.get("Authorization", "")) or QUERY_CREDENTIAL.search(query)
    return found.group(1) if found else ""


def caller(key: str, account: str) -> tuple[Principal, bool]:
    """(who signed, whether it is an IAM principal) for a key the request front let through.

    The front serves a key of 12 digits, and an unsigned request a policy lets through, as that
    account's root; any other key it lets through is one of this account's IAM's.
    """
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    iam = _backend(iam_backends, account)
    issued = iam.access_keys.get(key) if iam is not None and key and not access.ROOT_KEY.match(key) else None
    if issued is None:
        return access.root(account), False
    if issued.role_arn:
        sts = _backend(sts_backends, account)
        session = next((r for r in (sts.assumed_roles if sts else []) if r.access_key_id == key), None)
        name = access.ROLE_ARN.match(issued.role_arn)
        arn = (f"arn:aws:sts::{account}:assumed-role/{name.group(2) if name else issued.role_arn}/"
               f"{session.session_name if session else ''}")
        return Principal(account, arn, role_arn=issued.role_arn), True
    user = iam.users.get(issued.user_name)
    return Principal(account, user.arn if user else f"arn:aws:iam::{account}:user/{issued.user_name}"), True


def role_named(role_arn: str):
    """The role an ARN names, if its account's IAM has it."""
    from moto.iam.models import iam_backends

    found = access.ROLE_ARN.match(role_arn)
    iam = _backend(iam_backends, found.group(1)) if found else None
    if iam is None:
        return None
    return next((r for r in list(iam.roles.values()) if r.arn == role_arn), None)


def role_by_name(account: str, name: str):
    """An account's role of that name, if its IAM has it."""
    from moto.iam.models import iam_backends

    iam = _backend(iam_backends, account)
    return next((r for r in list(iam.roles.values()) if r.name == name), None) if iam is not None else None


def bucket_owner_policy(resource: str) -> tuple[str | None, object]:
    """(owner account, policy) of the bucket an S3 resource ARN names (None: no such bucket)."""
    from moto.s3.models import s3_backends

    if not resource.startswith("arn:aws:s3:::") or resource == "arn:aws:s3:::*":
        return None, None
    bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
    owner = s3_backends.bucket_accounts.get(bucket)
    backend = _backend(s3_backends, owner[1], owner[0]) if owner else None
    made = backend.buckets.get(bucket) if backend is not None else None
    if made is None:
        return None, None
    policy = made.policy.decode() if isinstance(made.policy, bytes) else made.policy
    return owner[1], policy


def topic_policy(topic_arn: str):
    """The policy of the SNS topic an ARN names (None: no such topic)."""
    from moto.sns.models import sns_backends

    found = access.SNS_ARN.match(topic_arn)
    backend = _backend(sns_backends, found.group(2), found.group(1)) if found else None
    topic = backend.topics.get(topic_arn) if backend is not None else None
    return topic.policy if topic is not None else None


def _dynamodb_table_arn(request, region: str) -> str | None:
    """The table a DynamoDB call names, as the resource IAM judges it by (moto judges "*").

    Without it, a policy that grants dynamodb:Scan on one table, as the labs' app role does,
    refuses every scan.
    """
    body = request.body
    try:
        table = (body if isinstance(body, dict) else json.loads(body or "{}")).get("TableName")
    except (ValueError, TypeError, AttributeError):
        return None
    if not isinstance(table, str) or not table:
        return None
    return f"arn:aws:dynamodb:{region}:{request.current_account}:table/{table}"


def _sns_arn(request) -> str | None:
    for name in access.SNS_ARN_PARAMS:
        value = request._get_param(name)
        if isinstance(value, str) and access.SNS_ARN.match(value):
            return value
    return None


def _assume_role(principal: Principal, moto_request, params_of) -> None:
    """Refuse AssumeRole unless the role's trust policy (and an IAM principal's own policies) allow it."""
    role_arn = params_of("RoleArn") or ""
    role = role_named(role_arn)
    identity = None if principal.kind == "Account" else []
    if moto_request is not None:
        from moto.iam.access_control import IAMPolicy

        identity = [IAMPolicy(p)._policy_json for p in moto_request._access_key.collect_policies()]
    if role is None or not access.may_assume(principal, role.assume_role_policy_document, role_arn,
                                             params_of("ExternalId"), identity):
        raise Refused("AccessDenied", f"User: {principal.arn} is not authorized to perform: sts:AssumeRole "
                                      f"on resource: {role_arn}")


def _s3_elsewhere(principal: Principal, action: str, resource: str, data) -> None:
    """Refuse a call on another account's bucket or its objects that its bucket policy does not allow."""
    from moto.s3.exceptions import BucketAccessDeniedError, S3AccessDeniedError

    if action == "CreateBucket":
        return  # moto answers BucketAlreadyExists, as AWS does for a name another account holds
    owner, policy = bucket_owner_policy(resource)
    if owner is None or owner == principal.account:
        return
    if not access.resource_policy_allows(principal, policy, f"s3:{action}", resource):
        raise BucketAccessDeniedError(data["BucketName"]) if "BucketName" in data else S3AccessDeniedError()


def _sns_elsewhere(principal: Principal, action: str, topic_arn: str) -> None:
    """Refuse a call on another account's topic that its topic policy does not allow (SNS's words)."""
    if access.SNS_ARN.match(topic_arn).group(2) == principal.account:
        return
    policy = topic_policy(topic_arn)
    if policy is None:
        return  # moto answers NotFound
    if not access.resource_policy_allows(principal, policy, f"sns:{action}", topic_arn):
        raise Refused("AuthorizationError", f"User: {principal.arn} is not authorized to perform: SNS:{action} "
                                            f"on resource: {topic_arn} because no resource-based policy allows "
                                            f"the SNS:{action} action")


def _request_keys(request, service: str) -> dict[str, str | None]:
    """The service-specific condition keys a call carries here (ec2:InstanceType, as the labs' policies name)."""
    if service == "ec2" and request._get_action() == "RunInstances":
        return {"ec2:InstanceType": request._get_param("InstanceType")}
    return {}


def _identity_permits(moto_request, principal: Principal, resource: str, keys: dict) -> bool:
    """Whether an IAM principal's own policies (the ones moto collects: inline, attached, its groups')
    allow the call, judged by access's evaluation, the simulator's, not moto's (which compares only
    StringEquals, counts a missing key as met and NotAction loosely)."""
    from moto.iam.access_control import IAMPolicy

    if moto_request._action == "sts:GetCallerIdentity":
        return True  # AWS answers it whatever the policies say
    documents = [IAMPolicy(p)._policy_json for p in moto_request._access_key.collect_policies()]
    return access.identity_allows(documents, moto_request._action, resource,
                                  access.request_context(principal, **keys))


REST_XML_SERVICES = {"cloudfront", "route53"}  # their SDKs read <ErrorResponse><Error>, not moto's <Errors>


class RestXmlError(_RESTError):
    """A refusal in the restXml protocol's shape, which botocore reads the code of."""

    code = 403

    def __init__(self, error_type: str, message: str):
        super().__init__(error_type, message)
        from xml.sax.saxutils import escape

        self.description = (f'<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type><Code>{escape(error_type)}'
                            f"</Code><Message>{escape(message)}</Message></Error><RequestId></RequestId></ErrorResponse>")


def enforce() -> None:
    """Authorize every call as AWS does (see the module's docstring)."""

    def authorize(self, iam_request_cls, resource="*"):
        query = self.uri.split("?", 1)[1] if "?" in self.uri else ""
        principal, is_iam = caller(signed_key(self.headers, query), self.current_account)
        action = self._get_action()
        signed = CREDENTIAL.search(self.headers.get("Authorization", ""))
        service, region = (signed.group(3), signed.group(2)) if signed else ("", "us-east-1")
        s3 = iam_request_cls.__name__ == "S3IAMRequest"
        if s3:
            action = access.MOTO_S3_ACTIONS.get(action, action)
        elif resource == "*" and service == "dynamodb":
            resource = _dynamodb_table_arn(self, region) or resource
        elif resource == "*" and service == "sns":
            resource = _sns_arn(self) or resource
        moto_request = None
        if is_iam and signed:  # moto's check of the caller's own policies (a presigned URL carries none)
            moto_request = iam_request_cls(
                account_id=self.current_account, method=self.method,
                path=f"{self.raw_path}?{query}" if query else self.raw_path,
                # moto signs `data` as the body when it has no raw one: a GET's would be its query (or headers)
                data={} if self.method in ("GET", "HEAD", "DELETE") else self.data,
                body=self.raw_body,
                headers=self.headers, action=action)
            moto_request.check_signature()
            if not (service == "sts" and action == "AssumeRole"):  # judged below, trust policy and all
                try:
                    if not _identity_permits(moto_request, principal, resource, _request_keys(self, service)):
                        moto_request._raise_access_denied()
                except AccessDeniedError as exc:
                    # moto answers in XML; a JSON-protocol SDK (DynamoDB, ...) would not read the reason.
                    if service in JSON_SERVICES:
                        raise JsonRESTError("AccessDeniedException", exc.message) from None
                    if service in REST_XML_SERVICES:
                        raise RestXmlError("AccessDenied", exc.message) from None
                    raise
        if service == "sts" and action == "AssumeRole":
            _assume_role(principal, moto_request, self._get_param)
        elif s3:
            _s3_elsewhere(principal, action, resource, self.data)
        elif service == "sns" and resource != "*":
            _sns_elsewhere(principal, action, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize


def ec2_may_assume(role) -> bool:
    """Whether EC2 may assume this role for an instance profile: its trust policy names ec2.amazonaws.com."""
    service = Principal(role.account_id, "", service="ec2.amazonaws.com")
    return access.decide(role.assume_role_policy_document, "sts:AssumeRole", role.arn, service,
                         access.request_context(service)) == "Allow"

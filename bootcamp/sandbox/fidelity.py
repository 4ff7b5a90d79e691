"""Where moto 5.2.5 answers otherwise than AWS, in ways a learner or a grader would notice.

Patches, each applied once by `build_app()` and safe to apply again:

- `ec2_dry_runs_honoured`: every EC2 call with DryRun=true is judged (IAM for IAM principals)
  and answered DryRunOperation or UnauthorizedOperation, never run; moto runs CreateVpc,
  CreateSubnet, DeleteVpc and many others for real when asked a dry run. EC2 refusals are
  UnauthorizedOperation, as on AWS, where moto says AccessDenied;
- `root_caller_identity`: GetCallerIdentity as an account root answers
  arn:aws:iam::ACCOUNT:root, where moto names a user "moto";
- `interface_groups_on_the_instance`: an instance launched with a network interface shows that
  interface's security groups, where moto shows none;
- `only_instances_registered`: a target group of instances takes only instances of its VPC
  (InvalidTarget otherwise), where moto registers any id, even "None", and calls it healthy;
- `no_global_cors`: an answer carries CORS headers only where AWS would send them (an S3 bucket's
  CORS rules), where moto's server adds `Access-Control-Allow-Origin: *` to every answer of
  every service for any request with an Origin (and works out the headers on every call).

And for the request front: `key_refusal`, the answer AWS gives a key that is unknown or Inactive.
"""

from __future__ import annotations

import base64
import re

from moto.core.exceptions import AccessDeniedError, _RESTError

ROOT_CREDENTIAL = re.compile(r"Credential=(\d{12})/")

INVALID_KEY = "The security token included in the request is invalid."
# How each service refuses a key it does not know or that is Inactive: (status, code, message).
KEY_REFUSALS = {
    "ec2": (401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
    "s3": (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
    "dynamodb": (400, "UnrecognizedClientException", INVALID_KEY),
}
DRY_RUN_PASSED = "Request would have succeeded, but DryRun flag is set."
UNAUTHORIZED = "You are not authorized to perform this operation."


def inactive_key(access_key: str, account: str | None) -> bool:
    """Whether this access key of that account's IAM exists and is Inactive (a root's key never is)."""
    if not account or access_key == account:
        return False
    from moto.iam.models import iam_backends

    for backend in list(iam_backends.get(account, {}).values()):
        found = backend.access_keys.get(access_key)
        if found is not None:
            return getattr(found, "status", "Active") != "Active"
    return False


def key_refusal(service: str) -> tuple[int, str, str]:
    """(status, code, message) with which this service refuses an unknown or Inactive key."""
    return KEY_REFUSALS.get(service, (403, "InvalidClientTokenId", INVALID_KEY))


class Ec2Answer(_RESTError):
    """An EC2 error answered before moto runs the action (moto's query error body, which SDKs read)."""

    include_type_sender = False

    def __init__(self, status: int, code: str, message: str):
        super().__init__(code, message)
        self.code = status


def _unauthorized(action: str, why: str) -> str:
    """EC2's words for a refusal: a read names the action; a write, as on AWS, gives the reason
    only encoded (sts:DecodeAuthorizationMessage on AWS; here base64 of the reason)."""
    if action.startswith(("Describe", "Get")):
        return f"{UNAUTHORIZED} {why}"
    return f"{UNAUTHORIZED} Encoded authorization failure message: {base64.b64encode(why.encode()).decode()}"


def _asks_dry_run(response) -> bool:
    return str(response._get_param("DryRun", "false")).lower() == "true"


def ec2_dry_runs_honoured() -> None:
    """Judge an EC2 dry run as AWS does, and change nothing: DryRunOperation when the caller may
    make the call, UnauthorizedOperation when not.

    Decided where moto authorizes a call, before it dispatches to the action, so the rule holds
    for every EC2 action alike (moto checks DryRun in some actions only, after some of them
    already changed the account).
    """
    from moto.ec2.responses import EC2Response

    authorize = EC2Response._authenticate_and_authorize_normal_action
    if getattr(authorize, "honours_dry_run", False):
        return

    def judged(self, resource: str = "*") -> None:
        try:
            authorize(self, resource)
        except AccessDeniedError as exc:
            raise Ec2Answer(403, "UnauthorizedOperation", _unauthorized(self._get_action(), exc.message)) from None
        if _asks_dry_run(self):
            raise Ec2Answer(412, "DryRunOperation", DRY_RUN_PASSED)

    judged.honours_dry_run = True
    EC2Response._authenticate_and_authorize_normal_action = judged


def root_caller_identity() -> None:
    """GetCallerIdentity signed by an account root (its 12-digit key) answers that root, as AWS does.

    moto reads only 20-character key ids from a signature, so it never sees a root's key and
    answers a made-up user "moto".
    """
    from moto.core.responses import ActionResult
    from moto.sts.responses import TokenResponse

    identify = TokenResponse.get_caller_identity
    if getattr(identify, "knows_roots", False):
        return

    def get_caller_identity(self):
        signed = ROOT_CREDENTIAL.search(self.headers.get("Authorization", ""))
        account = self.current_account
        if signed and signed.group(1) == account:
            partition = "aws-cn" if self.region.startswith("cn-") else "aws"
            return ActionResult({"UserId": account, "Account": account, "Arn": f"arn:{partition}:iam::{account}:root"})
        return identify(self)

    get_caller_identity.knows_roots = True
    TokenResponse.get_caller_identity = get_caller_identity


def interface_groups_on_the_instance() -> None:
    """An instance launched with NetworkInterfaces (as the console does) shows its primary interface's
    security groups, as on AWS; moto describes it with none, so a grader saw no web security group."""
    from moto.ec2.models.instances import Instance

    prep = Instance.prep_nics
    if getattr(prep, "shows_interface_groups", False):
        return

    def prep_nics(self, *args, **kwargs):
        prep(self, *args, **kwargs)
        primary = self.nics.get(0)
        if not self.security_groups and primary is not None:
            self.security_groups = list(primary._group_set)

    prep_nics.shows_interface_groups = True
    Instance.prep_nics = prep_nics


def only_instances_registered() -> None:
    """RegisterTargets on a target group of instances takes instances of its VPC only, as AWS does:
    any other id (a typo, "None" from a shell variable never set) is InvalidTarget."""
    from moto.elbv2.exceptions import InvalidTargetError
    from moto.elbv2.models import FakeTargetGroup

    register = FakeTargetGroup.register
    if getattr(register, "instances_only", False):
        return

    def register_targets(self, targets):
        if self.target_type == "instance":
            for target in targets:
                instance = self.ec2_backend.get_instance_by_id(target.get("Id"))
                if instance is None or (self.vpc_id and instance.vpc_id != self.vpc_id):
                    raise InvalidTargetError()
        return register(self, targets)

    register_targets.instances_only = True
    FakeTargetGroup.register = register_targets


def no_global_cors() -> None:
    """Make moto's server leave out its CORS extension (read when a service's app is made)."""
    import moto.moto_server.werkzeug_app as werkzeug_app

    werkzeug_app.DISABLE_GLOBAL_CORS = True


def apply() -> None:
    no_global_cors()
    ec2_dry_runs_honoured()
    root_caller_identity()
    interface_groups_on_the_instance()
    only_instances_registered()

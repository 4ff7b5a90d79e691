"""Errors a user can act on. Each one's text is the single line the user sees."""

from __future__ import annotations


class BootcampError(Exception):
    """A problem with the input or the environment, said in one actionable line."""

    exit_code = 2


class UnknownLab(BootcampError):
    pass


class UnknownTarget(BootcampError):
    pass


class SandboxError(BootcampError):
    pass


class TargetUnavailable(BootcampError):
    pass


class CredentialsError(BootcampError):
    pass


class ReadOnlyViolation(BootcampError):
    """Raised before a grading client could send a call that changes the account."""


class Declined(BootcampError):
    exit_code = 1


THROTTLE_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "SlowDown",
    "RequestThrottled", "RequestThrottledException",
}
EXPIRED_CODES = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
BAD_KEY_CODES = {"InvalidClientTokenId", "UnrecognizedClientException", "AuthFailure",
                 "SignatureDoesNotMatch", "InvalidAccessKeyId"}


def explain(exc: BaseException, where: str = "") -> str | None:
    """One line for an AWS or network failure, or None when it is not one we can explain."""
    import botocore.exceptions as bx  # here, so a task that makes no AWS call never loads botocore

    at = f" at {where}" if where else ""
    if isinstance(exc, bx.NoCredentialsError):
        return ("no AWS credentials found: set AWS_PROFILE (or run `aws configure` / "
                "`aws sso login`), or use --target embedded")
    if isinstance(exc, (bx.TokenRetrievalError, bx.SSOTokenLoadError, bx.UnauthorizedSSOTokenError)):
        return "the AWS SSO session has expired: run `aws sso login` and try again"
    if isinstance(exc, bx.ProfileNotFound):
        return f"{exc}: check AWS_PROFILE or --profile against ~/.aws/config"
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError)):
        return f"cannot reach the AWS endpoint{at}: is the target running? ({exc.kwargs.get('endpoint_url', '')})"
    if isinstance(exc, bx.ReadTimeoutError):
        return f"the AWS endpoint{at} did not answer in time: try again, or check the target"
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "")
        op = getattr(exc, "operation_name", "")
        if code in THROTTLE_CODES:
            return (f"AWS kept throttling {op} ({code}) after the standard retries: "
                    "wait a minute and run the command again; nothing was lost")
        if code in EXPIRED_CODES:
            return "the AWS credentials have expired: refresh them (`aws sso login` or new keys) and try again"
        if code in BAD_KEY_CODES:
            return f"the AWS credentials were refused ({code}): check AWS_PROFILE or the access keys"
    return None

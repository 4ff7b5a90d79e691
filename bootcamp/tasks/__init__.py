"""invoke namespaces (one module each) and the wrapper that turns failures into one line.

`invoke --list`, `--help` and every task load all of these modules, so they import only invoke
and the light bootcamp modules at the top; each task body imports what it needs (boto3, pytest,
rich, the web app), and a task pays only for its own.
"""

from __future__ import annotations

import functools
import os
import sys

from invoke import Exit

from bootcamp.errors import BootcampError, explain
from bootcamp.settings import Settings


def friendly(body):
    """Run a task; a problem the user can fix ends it with one line and a non-zero exit."""

    @functools.wraps(body)
    def run(c, *args, **kwargs):
        if os.environ.get("BOOTCAMP_DEBUG"):
            return body(c, *args, **kwargs)
        try:
            return body(c, *args, **kwargs)
        except Exit:
            raise
        except BootcampError as exc:
            raise Exit(f"error: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted: run the same command again to finish; nothing was lost", code=130) from None
        except Exception as exc:
            if _from_aws(exc):
                raise Exit(f"error: {explain(exc) or exc}", code=2) from None
            # a bug of ours: still one line, the traceback on request
            raise Exit(f"error: unexpected {type(exc).__name__}: {exc} "
                       "(run again with BOOTCAMP_DEBUG=1 for the details)", code=3) from None

    return run


def _from_aws(exc: Exception) -> bool:
    """A botocore failure (botocore is imported only when a task used it, so look only then)."""
    if "botocore.exceptions" not in sys.modules:
        return False
    bx = sys.modules["botocore.exceptions"]
    return isinstance(exc, (bx.BotoCoreError, bx.ClientError))


def settings(c, **options) -> Settings:
    """Env variables, then the invoke config's `bootcamp:` section, then task options."""
    configured = dict(c.config.get("bootcamp", {}) or {})
    return Settings.from_env(**{**configured, **{k: v for k, v in options.items() if v is not None}})


TARGET_HELP = {
    "target": "embedded (default), localstack or aws",
    "region": "AWS region (default: us-west-2, or the profile's on aws)",
    "port": "embedded sandbox port (default 4599)",
    "profile": "AWS profile for --target aws",
    "lang": "language of titles and hints: en or ko",
    "yes": "on aws, create resources without asking",
}

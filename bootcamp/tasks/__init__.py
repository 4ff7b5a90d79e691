"""invoke namespaces (one module each) and the wrapper that turns failures into one line.

`invoke --list`, `--help` and every task load all of these modules, so they import only invoke
and the light bootcamp modules at the top; each task body imports what it needs (boto3, pytest,
rich, the web app), and a task pays only for its own.
"""

from __future__ import annotations

import functools
import os
import re
import sys

from invoke import Collection, Exit, Task

from bootcamp.errors import BootcampError, explain
from bootcamp.settings import DEFAULT_REGION, Settings


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
    "target": "embedded, localstack or aws (default {target})",
    "region": "AWS region (default {region})",
    "port": "embedded sandbox port (default {sandbox_port})",
    "profile": "AWS profile for --target aws",
    "lang": "language of titles and hints: en or ko (default {lang})",
    "yes": "on aws, create resources without asking",
    "endpoint_url": "with --target aws: send every call to this AWS-compatible endpoint instead of AWS, "
                    "to rehearse (e.g. the sandbox: http://127.0.0.1:{sandbox_port}; default BOOTCAMP_ENDPOINT_URL)",
}

# One meaning per letter in every task; options not named here have their long name only.
SHORT_FLAGS = {"lab": "l", "target": "t", "region": "r", "port": "p", "lang": "a", "yes": "y", "out": "o",
               "json": "j", "junit": "x", "snapshot": "s", "format": "f", "bucket": "b", "host": "h",
               "user": "u", "workers": "w"}


class _ShortFlags(Task):
    """A task whose short flags come from SHORT_FLAGS, not from the first free letter of each name."""

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, taken_names)
        letter = SHORT_FLAGS.get(name)
        opts["names"] = opts["names"][:1] + ([letter] if letter else [])
        return opts


def effective_defaults() -> dict[str, str]:
    """What an option left out means here and now (the environment's BOOTCAMP_* included)."""
    try:
        current = Settings.from_env()
    except BootcampError:  # a bad variable is reported, in one line, when a task runs
        current = Settings()
    return {"target": current.target, "sandbox_port": str(current.sandbox_port), "app_port": str(current.app_port),
            "region": current.region or f"{DEFAULT_REGION}, or the profile's on aws", "lang": current.lang,
            "sandbox_region": current.region or DEFAULT_REGION}


def finish(namespace: Collection) -> Collection:
    """Every task of the namespace with the SHORT_FLAGS letters and its help showing today's defaults."""
    defaults = effective_defaults()
    fill = functools.partial(re.sub, r"\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)))
    for collection in (namespace, *namespace.collections.values()):
        for job in collection.tasks.values():
            job.__class__ = _ShortFlags  # same task, other flag rule: invoke has no per-option short flag
            job.auto_shortflags = False
            job.help = {name: fill(text) for name, text in job.help.items()}
    return namespace

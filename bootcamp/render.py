"""The one Jinja2 environment that renders every report and guide in templates/."""

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@cache
def _markdown():
    from markdown_it import MarkdownIt

    # html off: any markup inside learner text or values is shown, never interpreted.
    return MarkdownIt("commonmark", {"html": False})


def markdown(text: str) -> Markup:
    """Markdown text (a guide's prose) as HTML, for the HTML templates."""
    return Markup(_markdown().render(text))


def markdown_inline(text: str) -> Markup:
    return Markup(_markdown().renderInline(text))


@cache
def environment() -> Environment:
    # Strings (a lab's guide text) are markdown or bash sources, escaped later where they land
    # in HTML; files ending in .html or .xml are escaped as they render.
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                      autoescape=select_autoescape(("html", "xml"), default_for_string=False),
                      keep_trailing_newline=True)
    env.filters.update(markdown=markdown, markdown_inline=markdown_inline)
    return env


def render(name: str, **context) -> str:
    return environment().get_template(name).render(**context)


def render_text(source: str, **context) -> str:
    """A snippet of learner text (markdown or bash, not HTML) filled in with the context."""
    return environment().from_string(source).render(**context)

"""Names inside sentences. A patient's name, a ticket code, a counter, service or staff name
written in the other direction from the sentence around it (an Arabic name in an English
sentence, "Counter 1" in an Arabic one) reorders its neighbours unless it is isolated:
"عبدالله R. already holds…" shows as ".R عبدالله already holds…". Templates isolate names
themselves (<bdi>, dir="auto"); sentences built in Python use these.

Names people type cannot carry isolates of their own (names.clean_name refuses format
characters), so the pairs added here always match.
"""

import re

from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString

FSI = "\u2068"  # FIRST STRONG ISOLATE: what follows takes the direction of its first letter ...
PDI = "\u2069"  # POP DIRECTIONAL ISOLATE: ... and the sentence takes its own back after it.
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")


def isolate(value) -> str:
    """`value` as text isolated from the sentence around it, for text shown as text: JSON and
    WebSocket messages a page puts in with textContent, flash messages, option labels."""
    return f"{FSI}{value}{PDI}"


def isolated(**values) -> dict:
    """The values of a %-format sentence, each isolated; numbers stay numbers (for %(n)d)."""
    return {key: value if isinstance(value, int | float) else isolate(value) for key, value in values.items()}


def html_isolated(message: str, **values) -> SafeString:
    """A translated %-format sentence for a page: the sentence escaped, each value escaped in
    its own <bdi> (the element browsers isolate, and that copy-paste keeps clean)."""
    # format_html escapes what it inserts: the sentence is escaped first and its %(key)s
    # placeholders become {key} (its own braces doubled, so they stay text).
    template = conditional_escape(message).replace("{", "{{").replace("}", "}}")
    template = PLACEHOLDER.sub(lambda m: "{" + m.group(1) + "}" if m.group(1) else "%", template)
    bdi = {
        key: value if isinstance(value, int | float) else format_html("<bdi>{}</bdi>", value)
        for key, value in values.items()
    }
    return format_html(template, **bdi)

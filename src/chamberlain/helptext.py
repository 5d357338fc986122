"""Help text in the words command-line users expect: ``PATH``, ``TEXT``, ``DIRECTORY``.

Recent typer releases print Python type names in help (``<bool>``, ``<list[str]>``, ``<path>``) and
wrap required arguments in braces (``{directory}``). This restores click's conventions: no type
after a flag, upper-case placeholders for values, a required argument as ``NAME``, and a docstring's
later paragraphs reflowed instead of broken where the source line ends. It only replaces
typer's display hooks when they exist, so an older typer (which already prints click's style) is left
alone; ``tests/test_cli_help.py`` walks every command's help to keep it that way.
"""

from __future__ import annotations

from typing import Any

_PLAIN = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN"}


def _placeholder(param: Any) -> str:
    """The placeholder for one value of ``param``: ``PATH``, ``TEXT``, ``INTEGER``, ``[a|b]``..."""
    desc = param.type_descriptor
    if desc.is_choice:
        return "[" + "|".join(str(choice) for choice in desc.choices or ()) + "]"
    if desc.is_ranged:
        return f"{desc.ranged_type_name} range".upper()
    if desc.is_path:
        return "PATH"
    label = param.bare_type()
    if label.startswith("list[") and label.endswith("]"):
        label = label[5:-1]
    return _PLAIN.get(label, label.upper())


def _display_type(self: Any, ctx: Any) -> str:
    if getattr(self, "is_flag", False):
        return ""
    return _placeholder(self)


def _usage_display_name(self: Any) -> str:
    name = (self.metavar or self.name).upper()
    if not self.required:
        name = f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


def _reflow(paragraphs: list[str], markup_mode: Any = None) -> str:
    """Later paragraphs of a docstring as flowing text (typer keeps their source line breaks): a
    paragraph whose lines are a list (``-`` or indented) or that starts with ``\\b`` keeps them."""
    out = []
    for paragraph in paragraphs:
        lines = paragraph.split("\n")
        listed = paragraph.startswith("\b") or any(line.startswith(("-", " ", "*")) for line in lines[1:])
        out.append(paragraph if listed else " ".join(line.strip() for line in lines))
    return "\n\n".join(out).replace("``", "")


def install() -> None:
    """Replace typer's type display in help, if this typer has the hooks (0.2x and later)."""
    try:
        from typer.core import TyperArgument, TyperOption
    except ImportError:  # pragma: no cover - typer always has these
        return
    for cls in (TyperArgument, TyperOption):
        if hasattr(cls, "display_type"):
            cls.display_type = _display_type  # type: ignore[method-assign]
    if hasattr(TyperArgument, "_usage_display_name"):
        TyperArgument._usage_display_name = _usage_display_name  # type: ignore[method-assign]
    try:
        from typer import rich_utils
    except ImportError:  # pragma: no cover - typer without rich
        return
    if hasattr(rich_utils, "_fix_linebreaks"):
        rich_utils._fix_linebreaks = _reflow

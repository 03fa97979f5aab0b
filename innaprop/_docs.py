"""Docstring fragments the optimizers share, as torch.optim shares
``_foreach_doc`` and ``_maximize_doc``.

A docstring names a fragment on a line of its own, ``{foreach}``;
``fill`` puts the fragment there at that line's indentation.
"""
import re

FRAGMENTS = {
    "params": "params: iterable of parameters or dicts defining parameter "
              "groups.",
    "foreach": "foreach: use the multi-tensor implementation. ``None`` "
               "picks it whenever every parameter is a dense tensor; "
               "``False`` runs the per-tensor reference.",
    "maximize": "maximize: maximize the objective instead of minimizing it "
                "(the gradient's sign flipped), as in torch.optim.",
    "eps": "eps: added to the denominator after the square root (default "
           "1e-8).",
}
WIDTH = 79


def _wrap(text, indent):
    """``text`` wrapped at WIDTH, continuation lines 4 spaces deeper."""
    lines, line = [], indent
    for word in text.split():
        if line.strip() and len(line) + 1 + len(word) > WIDTH:
            lines.append(line)
            line = indent + "    "
        line += ("" if not line.strip() else " ") + word
    lines.append(line)
    return "\n".join(lines)


def fill(doc):
    """``doc`` with each ``{name}`` line replaced by its fragment."""
    return re.sub(r"^( *)\{(\w+)\}$",
                  lambda m: _wrap(FRAGMENTS[m.group(2)], m.group(1)),
                  doc, flags=re.MULTILINE)

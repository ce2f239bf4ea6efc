"""Reading scenario YAML safely: size, encoding, depth and alias limits, duplicate keys, and a
line index so that every problem can name its file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from apopsim.errors import ScenarioError

MAX_FILE_BYTES = 1 << 20
"""Largest scenario file (bytes): a scenario is a small text file (the shipped ones are < 4 KiB)."""
MAX_DEPTH = 50
"""Deepest nesting of YAML values (aliases expanded); scenarios nest 4 levels."""
MAX_NODES = 100_000
"""Most YAML values in a scenario, counting an alias (``*name``) at each use, so that an alias bomb
("billion laughs") is refused before any Python object is built; scenarios have a few hundred."""


class _TooBig(yaml.MarkedYAMLError):
    """A YAML document beyond :data:`MAX_DEPTH` or :data:`MAX_NODES`."""


class _LineLoader(yaml.SafeLoader):
    """Safe loader that rejects duplicate keys, unreadable values and deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # the composer recurses once per level: stop before Python's recursion limit
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooBig(None, None, f"nested deeper than {MAX_DEPTH} levels",
                              self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # e.g. date 2024-13-01, a 5000-digit integer
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {exc}", node.start_mark) from None


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value, not a list or mapping",
                key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None,
                f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _check_graph(root: yaml.Node) -> None:
    """Refuse a composed document whose values, aliases expanded, exceed the limits.

    Walks the node graph once, without recursion: each node's expanded size and depth are
    computed from its children's (memoised, so shared anchors cost nothing). Raises
    :class:`_TooBig` (more than :data:`MAX_NODES` values or :data:`MAX_DEPTH` levels) or a
    ComposerError for an alias inside its own anchor (a cycle).
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()  # nodes being expanded: the current path from the root
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finish = stack.pop()
        key = id(node)
        if finish:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            open_.discard(key)
            if size[key] > MAX_NODES:
                raise _TooBig(None, None, f"more than {MAX_NODES:,} values here, counting each "
                              "use of an alias (*name); a scenario has a few hundred",
                              node.start_mark)
            if depth[key] > MAX_DEPTH:
                raise _TooBig(None, None, f"nested deeper than {MAX_DEPTH} levels (aliases "
                              "expanded)", node.start_mark)
        elif key in open_:
            raise yaml.composer.ComposerError(None, None, "an alias refers to a value that "
                                              "contains it (a cycle)", node.start_mark)
        elif key not in size:
            open_.add(key)
            stack.append((node, True))
            stack += [(k, False) for k in reversed(_children(node)) if id(k) not in size]


def _line_index(root: yaml.Node | None) -> dict:
    """Map field paths (tuples of keys/indices) to 1-based line numbers.

    Iterative; call it on a graph checked by :func:`_check_graph` (bounded size, no cycles).
    """
    out: dict[tuple, int] = {}
    stack = [] if root is None else [(root, ())]
    while stack:
        node, path = stack.pop()
        out.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in reversed(node.value):
                if isinstance(k, yaml.ScalarNode):
                    out[(*path, k.value)] = k.start_mark.line + 1
                    stack.append((v, (*path, k.value)))
        elif isinstance(node, yaml.SequenceNode):
            stack += [(v, (*path, i)) for i, v in reversed(list(enumerate(node.value)))]
    return out


def _read_yaml(path: Path, where: str) -> tuple[Any, dict]:
    """Parse a scenario file once: ``(data, line index)``; every failure is a ScenarioError.

    Order of the defences: file size, UTF-8 decoding (byte offset reported), composing nodes
    (nesting limited while composing), then the expanded size of the node graph (aliases), and
    only then construction of Python objects.
    """
    def fail(line: int | None, msg: str) -> ScenarioError:
        loc = f"{where}:{line}" if line else where
        return ScenarioError(f"{loc}: {msg}", [(loc, msg)])

    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise fail(None, f"cannot read the scenario file: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise fail(None, f"file larger than {MAX_FILE_BYTES // 1024} KiB; a scenario is a small "
                   "YAML text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(raw.count(b"\n", 0, exc.start) + 1,
                   f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} "
                   f"({exc.reason}); a scenario is a YAML text file") from None
    loader = None
    try:
        loader = _LineLoader(text)  # checks the characters
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_graph(node)
        lines = _line_index(node)
        return loader.construct_document(node), lines
    except _TooBig as exc:
        raise fail(exc.problem_mark.line + 1, f"YAML too large: {exc.problem}") from None
    except yaml.reader.ReaderError as exc:  # a control character, e.g. NUL
        raise fail(text.count("\n", 0, exc.position) + 1,
                   f"YAML syntax error: character U+{int(exc.character):04X} at offset "
                   f"{exc.position} is not allowed in YAML text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        kind = "YAML error" if isinstance(exc, yaml.constructor.ConstructorError | \
                                          yaml.composer.ComposerError) else "YAML syntax error"
        what = ", ".join(filter(None, (getattr(exc, "context", None),
                                       getattr(exc, "problem", None)))) or str(exc)
        raise fail(mark.line + 1 if mark else None, f"{kind}: {what}") from None
    except RecursionError:
        raise fail(None, f"YAML nested too deeply (limit {MAX_DEPTH} levels)") from None
    finally:
        if loader is not None:
            loader.dispose()


def _locate(lines: dict, loc: tuple) -> int | None:
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def located(where: str, lines: dict, loc: tuple) -> str:
    """Where a problem at field path ``loc`` is: ``file:line field.path`` (``file field.path``
    when the line is unknown), from a line index of :func:`_read_yaml`."""
    line = _locate(lines, loc)
    return f"{f'{where}:{line}' if line else where} {_fmt_loc(loc)}"


def _fmt_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, str) and not part.isprintable():  # no control characters on a tty
            part = repr(part)
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"

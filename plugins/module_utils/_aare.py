# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AppArmor path patterns (AARE): parsing, matching, intersection, containment and escaping.

A pattern is rule text as a profile holds it: ``*`` (any run of characters but ``/``; right after a ``/`` at least
one), ``**`` (any run, ``/`` included; right after a ``/`` at least one character), ``?`` (one character but ``/``),
``[...]`` and ``[^...]`` (one character of or not of a class, with ranges), ``{a,b}`` (alternatives, nested),
``@{VAR}`` (a variable from :data:`VARIABLES`) and backslash escapes (``\\*`` is a literal star, ``\\040`` the byte
0x20 in octal).

A pattern is parsed into *alternatives* (brace and variable alternatives expanded), each a tuple of *tokens*. A token
is ``(chars, repeat)``: ``chars`` a :class:`Chars` set, ``repeat`` whether the token matches zero or more characters of
the set instead of exactly one. On that form:

- :func:`matches` tells whether a path (a literal) is matched by a pattern (exactly as the kernel would);
- :func:`intersects` tells whether some path is matched by both patterns: a product of the two token sequences,
  searched breadth first; character sets are compared symbolically, so it is exact for every pattern;
- :func:`contains` tells, conservatively, whether every path one pattern matches is matched by another (equal
  alternatives, or an alternative that lies under the other's ``<dir>/**``);
- :func:`escape` turns a literal path into pattern text that matches exactly that path.

Variables unknown to :data:`VARIABLES` make a pattern match nothing (``unknown="none"``: the safe side when asking
"is this already allowed?") or anything (``unknown="any"``: the safe side when asking "could this touch a sensitive
path?").

Plain Python, no Ansible imports.
"""

from __future__ import annotations

import functools
import re


class PatternError(ValueError):
    """Pattern text that is not a valid AppArmor path pattern; the message says why."""


class Chars:
    """A set of characters: ``chars`` itself, or (``negated``) every character but those."""

    __slots__ = ("chars", "negated")

    def __init__(self, chars, negated=False):
        self.chars = frozenset(chars)
        self.negated = negated

    def __eq__(self, other):
        return isinstance(other, Chars) and self.chars == other.chars and self.negated == other.negated

    def __hash__(self):
        return hash((self.chars, self.negated))

    def __repr__(self):
        return "Chars(%r%s)" % ("".join(sorted(self.chars)), ", negated" if self.negated else "")

    def has(self, char):
        return (char in self.chars) != self.negated

    def meets(self, other):
        """Whether some character is in both sets (the alphabet is unbounded, so two negations always meet)."""
        if not self.negated and not other.negated:
            return bool(self.chars & other.chars)
        if self.negated and other.negated:
            return True
        positive, negative = (self, other) if not self.negated else (other, self)
        return bool(positive.chars - negative.chars)

    def single(self):
        """The one character of a one-character positive set, else None."""
        if not self.negated and len(self.chars) == 1:
            return next(iter(self.chars))
        return None


ANY = Chars((), negated=True)
NOT_SLASH = Chars("/", negated=True)
META = frozenset("*?[]{}^@\\\",")
# Characters a pattern holds literally; every other character is escaped (octal bytes) by :func:`escape`.
SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+=:%~-")
MAX_ALTERNATIVES = 256
MAX_CLASS = 4096

# The variables of the profiles this collection writes and of the tunables it includes, as patterns.
VARIABLES = {
    "PROC": ("/proc",),
    "sys": ("/sys",),
    "run": ("/run", "/var/run"),
    "pid": ("[1-9]", "[1-9][0-9]*"),
    "pids": ("[1-9]", "[1-9][0-9]*"),
    "tid": ("[1-9]", "[1-9][0-9]*"),
    "HOME": ("/home/*", "/root"),
    "HOMEDIRS": ("/home",),
    "multiarch": ("*-linux-gnu*",),
    "etc_ro": ("/etc", "/usr/etc"),
    "etc_rw": ("/etc",),
}


# ----------------------------------------------------------------------------------------------------------- parsing


def _literal(char):
    return (Chars((char,)), False)


def _octal_run(text, index):
    """``(chars, next_index)`` for a run of ``\\ooo`` escapes starting at ``index`` (decoded as UTF-8 when valid)."""
    data = bytearray()
    while text.startswith("\\", index) and re.match(r"[0-7]{3}", text[index + 1 : index + 4]):
        value = int(text[index + 1 : index + 4], 8)
        if value > 0xFF:
            raise PatternError("octal escape \\%s is not a byte" % text[index + 1 : index + 4])
        data.append(value)
        index += 4
    try:
        chars = data.decode("utf-8")
    except UnicodeDecodeError:
        chars = data.decode("latin-1")
    return chars, index


def _class(text, index):
    """``(Chars, next_index)`` for the class starting at ``text[index] == "["``."""
    index += 1
    negated = False
    if index < len(text) and text[index] == "^":
        negated = True
        index += 1
    members = []
    while True:
        if index >= len(text):
            raise PatternError("unclosed character class in %r" % text)
        char = text[index]
        if char == "]" and members:
            index += 1
            break
        if char == "\\":
            if text[index + 1 : index + 2] == "":
                raise PatternError("a trailing backslash in %r" % text)
            if re.match(r"[0-7]{3}", text[index + 1 : index + 4]):
                decoded, index = _octal_run(text, index)
                members.extend(decoded)
                continue
            members.append(text[index + 1])
            index += 2
            continue
        if char == "]":  # "[]" : an empty class
            raise PatternError("empty character class in %r" % text)
        members.append(char)
        index += 1
    chars = set()
    position = 0
    while position < len(members):
        if position + 2 < len(members) and members[position + 1] == "-":
            low, high = ord(members[position]), ord(members[position + 2])
            if high < low:
                raise PatternError("reversed range %s-%s in %r" % (members[position], members[position + 2], text))
            if high - low > MAX_CLASS:
                raise PatternError(
                    "character range %s-%s in %r is too large" % (members[position], members[position + 2], text))
            chars.update(chr(code) for code in range(low, high + 1))
            position += 3
        else:
            chars.add(members[position])
            position += 1
    return Chars(chars, negated), index


def _split_alternatives(text, start):
    """``(parts, end)`` for the ``{...}`` group at ``text[start] == "{"``: the comma-separated parts and the index
    after the closing brace (escapes and classes are skipped over)."""
    depth = 0
    parts = []
    current = start + 1
    index = start
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            _chars, index = _class(text, index)
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                parts.append(text[current:index])
                return parts, index + 1
        elif char == "," and depth == 1:
            parts.append(text[current:index])
            current = index + 1
        index += 1
    raise PatternError("unbalanced braces in %r" % text)


def _parse(text, unknown, depth=0):
    """The alternatives of pattern ``text``: a list of token tuples."""
    if depth > 8:
        raise PatternError("variables nest too deeply in %r" % text)
    alternatives = [()]
    index = 0
    length = len(text)

    def extend(tokens):
        return [alt + tokens for alt in alternatives]

    while index < length:
        char = text[index]
        if char == "\\":
            if index + 1 >= length:
                raise PatternError("a trailing backslash in %r" % text)
            if re.match(r"[0-7]{3}", text[index + 1 : index + 4]):
                decoded, index = _octal_run(text, index)
                alternatives = extend(tuple(_literal(c) for c in decoded))
                continue
            alternatives = extend((_literal(text[index + 1]),))
            index += 2
            continue
        if text.startswith("@{", index):
            end = text.find("}", index)
            if end < 0:
                raise PatternError("unclosed variable in %r" % text)
            name = text[index + 2 : end]
            values = VARIABLES.get(name)
            if values is None:
                sub = [((ANY, True),)] if unknown == "any" else []
            else:
                sub = []
                for value in values:
                    sub.extend(_parse(value, unknown, depth + 1))
            alternatives = [alt + tail for alt in alternatives for tail in sub]
            index = end + 1
        elif char == "{":
            parts, end = _split_alternatives(text, index)
            if len(parts) < 2:
                raise PatternError("a {...} group needs at least two alternatives in %r" % text)
            sub = []
            for part in parts:
                sub.extend(_parse(part, unknown, depth + 1))
            alternatives = [alt + tail for alt in alternatives for tail in sub]
            index = end
        elif char == "}":
            raise PatternError("unbalanced braces in %r" % text)
        elif char == "[":
            chars, index = _class(text, index)
            alternatives = extend(((chars, False),))
        elif text.startswith("**", index):
            after_slash = index > 0 and text[index - 1] == "/"
            alternatives = extend(((NOT_SLASH, False), (ANY, True)) if after_slash else ((ANY, True),))
            index += 2
        elif char == "*":
            after_slash = index > 0 and text[index - 1] == "/"
            alternatives = extend(((NOT_SLASH, False), (NOT_SLASH, True)) if after_slash else ((NOT_SLASH, True),))
            index += 1
        elif char == "?":
            alternatives = extend(((NOT_SLASH, False),))
            index += 1
        else:
            alternatives = extend((_literal(char),))
            index += 1
        if len(alternatives) > MAX_ALTERNATIVES:
            raise PatternError("%r expands to more than %d alternatives" % (text, MAX_ALTERNATIVES))
    return [_simplify(alt) for alt in alternatives]


def _simplify(tokens):
    """Merge runs of the same repeat token (``**`` next to ``*``): the language stays the same, the search shrinks."""
    out = []
    for token in tokens:
        if token[1] and out and out[-1][1]:
            previous = out[-1][0]
            if previous == token[0]:
                continue
            if previous == ANY or token[0] == ANY:
                out[-1] = (ANY, True)
                continue
        out.append(token)
    return tuple(out)


@functools.lru_cache(maxsize=8192)
def alternatives(pattern, unknown="none"):
    """The parsed alternatives of ``pattern`` (cached). Raises PatternError for malformed text."""
    if not isinstance(pattern, str):
        raise PatternError("a pattern is a string, got %s" % type(pattern).__name__)
    return tuple(dict.fromkeys(_parse(pattern, unknown)))


def validate(pattern):
    """Return ``pattern`` when it parses; raise PatternError otherwise."""
    alternatives(pattern, "any")
    return pattern


# ----------------------------------------------------------------------------------------------------------- queries


def is_literal_tokens(tokens):
    return all(not repeat and chars.single() is not None for chars, repeat in tokens)


def literal_text(tokens):
    """The path a literal alternative matches, or None for a glob."""
    if not is_literal_tokens(tokens):
        return None
    return "".join(chars.single() for chars, _repeat in tokens)


def is_literal(pattern):
    """Whether ``pattern`` matches exactly one path."""
    alts = alternatives(pattern, "any")
    return len(alts) == 1 and is_literal_tokens(alts[0])


def fixed_prefix(tokens):
    """The literal characters before the first glob token of an alternative."""
    out = []
    for chars, repeat in tokens:
        single = chars.single()
        if repeat or single is None:
            break
        out.append(single)
    return "".join(out)


def _regex_class(chars):
    body = "".join("\\" + c if c in "\\]^-[" else c for c in sorted(chars.chars))
    if chars.negated:
        return "[^%s]" % body if body else "[\\s\\S]"
    return "[%s]" % body if body else "(?!)"


def _tokens_regex(tokens):
    parts = []
    for chars, repeat in tokens:
        single = chars.single()
        part = re.escape(single) if single is not None else _regex_class(chars)
        parts.append(part + "*" if repeat else part)
    return "".join(parts)


@functools.lru_cache(maxsize=8192)
def _compiled(pattern, unknown):
    alts = alternatives(pattern, unknown)
    if not alts:
        return re.compile(r"(?!)")
    return re.compile("(?:%s)\\Z" % "|".join(_tokens_regex(alt) for alt in alts), re.S)


def matches(pattern, path, unknown="none"):
    """Whether the literal ``path`` is matched by ``pattern``."""
    return _compiled(pattern, unknown).match(path) is not None


def tokens_intersect(left, right):
    """Whether some string is matched by both token sequences (breadth-first search of their product)."""
    start = (0, 0)
    seen = {start}
    todo = [start]
    end_left, end_right = len(left), len(right)
    while todo:
        i, j = todo.pop()
        if i == end_left and j == end_right:
            return True
        steps = []
        token_left = left[i] if i < end_left else None
        token_right = right[j] if j < end_right else None
        if token_left is not None and token_left[1]:
            steps.append((i + 1, j))
        if token_right is not None and token_right[1]:
            steps.append((i, j + 1))
        if token_left is not None and token_right is not None and token_left[0].meets(token_right[0]):
            steps.append((i if token_left[1] else i + 1, j if token_right[1] else j + 1))
        for step in steps:
            if step not in seen:
                seen.add(step)
                todo.append(step)
    return False


@functools.lru_cache(maxsize=16384)
def intersects(left, right, unknown="any"):
    """Whether some path is matched by both patterns."""
    return any(tokens_intersect(a, b) for a in alternatives(left, unknown) for b in alternatives(right, unknown))


def _under_tree(tokens, tree):
    """Whether every match of ``tokens`` lies under ``tree`` when ``tree`` is ``<literal dir>/**``."""
    if len(tree) < 3 or tree[-1] != (ANY, True) or tree[-2] != (NOT_SLASH, False):
        return False
    prefix = tree[:-2]
    if not is_literal_tokens(prefix):
        return False
    head = literal_text(prefix)
    if not head.endswith("/"):
        return False
    # At least one character after the directory, and the directory's literal prefix first.
    fixed = fixed_prefix(tokens)
    if fixed.startswith(head) and len(fixed) > len(head):
        return fixed[len(head)] != "/"
    if fixed == head and len(tokens) > len(head):
        following = tokens[len(head)]
        return not following[1] and not following[0].has("/")
    return False


def tokens_contained(inner, outer):
    """Conservatively, whether every match of ``inner`` is a match of ``outer`` (False means "not shown")."""
    return inner == outer or _under_tree(inner, outer)


def contains(outer, inner, unknown="any"):
    """Whether every path ``inner`` matches is matched by ``outer`` (conservative: False when not shown)."""
    outer_alts = alternatives(outer, "none")
    for alt in alternatives(inner, unknown):
        literal = literal_text(alt)
        if literal is not None:
            if not matches(outer, literal):
                return False
        elif not any(tokens_contained(alt, out) for out in outer_alts):
            return False
    return True


# ---------------------------------------------------------------------------------------------------------- escaping


def escape(path):
    """Pattern text that matches exactly ``path``: pattern syntax is backslash-escaped, characters outside
    :data:`SAFE` (space, ``!``, ``#``, control characters, non-ASCII) become octal escapes of their UTF-8 bytes."""
    out = []
    for char in path:
        if char in SAFE:
            out.append(char)
        elif char in META:
            out.append("\\" + char)
        else:
            out.extend("\\%03o" % byte for byte in char.encode("utf-8", "surrogatepass"))
    return "".join(out)


def unescape_literal(pattern):
    """The path a literal pattern matches; raise PatternError when ``pattern`` is a glob."""
    alts = alternatives(pattern, "any")
    if len(alts) != 1 or not is_literal_tokens(alts[0]):
        raise PatternError("%r is not a literal path" % pattern)
    return literal_text(alts[0])

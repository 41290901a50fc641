#!/usr/bin/env python3
"""Checks the size rules: no source file over 600 lines, no C++ function body
over 80 lines (docs/design.md lists the habits; STYLE.md the reasons).

Usage: check_sizes.py [--max-file N] [--max-function N] FILE...
Prints one line per violation, `path:line: what`, and exits 1 if there is any.

Functions are found by a small C++ scanner, not a compiler: comments, string
and character literals are blanked, then every `{` is classified. A `{` that
follows `)` (possibly with const, override, noexcept, a trailing return type or
a constructor's initializer list in between) and that opens at namespace or
class scope starts a function; its body runs to the matching `}`. Lambdas and
local classes count as part of the function that contains them. The scanner
errs towards finding fewer functions, never towards inventing long ones.
"""
import argparse
import re
import sys

CXX_SUFFIXES = (".h", ".cc", ".cpp", ".hpp")
# Tokens that may sit between a parameter list's `)` and the body's `{`.
QUALIFIERS = {"const", "override", "final", "noexcept", "mutable", "volatile", "&", "&&",
              "try"}


def blank_comments_and_literals(text):
    """Replaces comments and string/char literals by spaces, keeping newlines."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c == "/" and nxt == "*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "R" and nxt == '"':  # raw string R"delim( ... )delim"
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i)
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and (text[i - 1].isalnum()):  # digit separator 1'000
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def opens_function(code, brace):
    """True if the `{` at `brace` starts a function body (see the module doc)."""
    i = brace - 1
    # Skip a constructor initializer list: `) : a_(x), b_{y} {`.
    depth = 0
    j = i
    while j >= 0:
        ch = code[j]
        if ch in ")}]":
            depth += 1
        elif ch in "({[":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and ch in ";":
            break
        elif depth == 0 and ch == ":" and (j == 0 or code[j - 1] != ":") and \
                (j + 1 >= len(code) or code[j + 1] != ":"):
            # An initializer list starts here if a `)` comes right before it.
            k = j - 1
            while k >= 0 and code[k].isspace():
                k -= 1
            if k >= 0 and code[k] == ")":
                i = k
            break
        j -= 1
    # Walk back over qualifiers and a trailing return type to the `)`.
    tail = code[max(0, i - 200):i + 1]
    tail = re.sub(r"->\s*[\w:<>,\s\*&]+$", "", tail.rstrip())
    words = tail.rstrip()
    while True:
        m = re.search(r"(\b\w+|&&|&)\s*$", words)
        if m and m.group(1) in QUALIFIERS:
            words = words[:m.start()].rstrip()
            continue
        m = re.search(r"noexcept\s*\([^()]*\)\s*$", words)
        if m:
            words = words[:m.start()].rstrip()
            continue
        break
    if not words.endswith(")"):
        return False
    # Control statements (if/for/while/switch/catch) are not functions.
    depth = 0
    k = len(words) - 1
    while k >= 0:
        if words[k] == ")":
            depth += 1
        elif words[k] == "(":
            depth -= 1
            if depth == 0:
                break
        k -= 1
    before = words[:max(k, 0)].rstrip()
    m = re.search(r"(\w+)\s*$", before)
    name = m.group(1) if m else ""
    return name not in {"if", "for", "while", "switch", "catch", "return", "sizeof", "decltype",
                        "alignof", "static_assert"} and bool(name or before.endswith(">")
                                                             or before.endswith("]"))


def long_functions(path, text, limit):
    code = blank_comments_and_literals(text)
    line_of = [0] * (len(code) + 1)
    line = 1
    for idx, ch in enumerate(code):
        line_of[idx] = line
        if ch == "\n":
            line += 1
    found = []
    stack = []  # (kind, index) for every open brace; kind "f" = function body
    for idx, ch in enumerate(code):
        if ch == "{":
            in_function = any(kind == "f" for kind, _ in stack)
            kind = "f" if not in_function and opens_function(code, idx) else "o"
            stack.append((kind, idx))
        elif ch == "}" and stack:
            kind, start = stack.pop()
            if kind == "f":
                lines = line_of[idx] - line_of[start] + 1
                if lines > limit:
                    found.append((line_of[start], lines))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-file", type=int, default=600)
    parser.add_argument("--max-function", type=int, default=80)
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    bad = 0
    for path in args.files:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as e:
            print(f"{path}: cannot read: {e}")
            bad += 1
            continue
        lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        if lines > args.max_file:
            print(f"{path}:1: {lines} lines (at most {args.max_file})")
            bad += 1
        if path.endswith(CXX_SUFFIXES):
            for start, length in long_functions(path, text, args.max_function):
                print(f"{path}:{start}: function body of {length} lines "
                      f"(at most {args.max_function})")
                bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Every public symbol of libsipflow's installed headers has a /** */ comment.

Reads include/sipflow/*.h (and version.h.in) with the standard library only,
so it runs without Doxygen, in well under a second. A public symbol is:

  - a function declared with SIPFLOW_API;
  - a typedef (struct, enum, scalar, function pointer);
  - a struct or enum defined by tag at file scope;
  - a macro (#define), except include guards and names ending in '_'
    (helpers that are #undef'd or used only inside other macros).

A symbol is documented when a doc comment (/** or /*!) comes right before
one of its definitions (blank lines and #if/#ifdef/#elif/#else/#endif lines
may sit between), or a trailing /**< comment follows it on its last line.
Each header must also have a doc comment with @file, since Doxygen documents
nothing of a file that lacks one.

The members of a public struct or union need a comment too (a /** before
or a /**< after), as Doxygen's WARN_IF_UNDOCUMENTED requires; enum values
are documented by their enum unless --enum-values is given. Every symbol's
comment must say since when it exists (@since), as docs/conventions.md asks.

Prints every problem as FILE:LINE: what, and exits 1 if there is any.
Options:
  --enum-values  also require a comment on each enum value
  --list         print every symbol found, documented or not
"""
import glob
import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
CONDITIONAL = re.compile(r"#\s*(if|ifdef|ifndef|elif|else|endif)\b")


class Item:
    """One lexical unit at file scope: a comment, a preprocessor line or a
    C declaration, with the line it starts on."""

    def __init__(self, kind, text, line, end_line):
        self.kind = kind  # 'doc', 'trail', 'comment', 'pp', 'decl'
        self.text = text
        self.line = line
        self.end_line = end_line


def lex(src):
    """Splits a header into items. Declarations are collected up to the ';'
    that ends them at brace depth 0; the bodies of structs and enums stay
    inside their declaration's text."""
    items = []
    i, n, line = 0, len(src), 1
    decl, decl_line, depth = [], None, 0

    def flush_decl(end_line):
        nonlocal decl, decl_line
        text = "".join(decl).strip()
        if text:
            items.append(Item("decl", text, decl_line, end_line))
        decl, decl_line = [], None

    while i < n:
        c = src[i]
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            text = src[i:j]
            end = line + text.count("\n")
            if depth > 0:
                decl.append(text)  # member comments stay with the body
            else:
                kind = "comment"
                if text.startswith("/**<") or text.startswith("/*!<"):
                    kind = "trail"
                elif (text.startswith("/**") or text.startswith("/*!")) and \
                        not text.startswith("/***"):
                    kind = "doc"
                items.append(Item(kind, text, line, end))
            line, i = end, j
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            text = src[i:j]
            if depth == 0 and (text.startswith("///<") or
                               text.startswith("//!<")):
                items.append(Item("trail", text, line, line))
            elif depth == 0 and (text.startswith("///") or
                                 text.startswith("//!")):
                items.append(Item("doc", text, line, line))
            i = j
            continue
        if c == "#" and not "".join(decl).strip() and _at_line_start(src, i):
            # A preprocessor line, with its continuations.
            j, start = i, line
            while True:
                k = src.find("\n", j)
                if k < 0:
                    k = n
                    break
                if src[k - 1] == "\\":
                    j = k + 1
                    line += 1
                    continue
                break
            text = src[i:k]
            # A trailing /**< ... */ on the directive's last line.
            m = re.search(r"/\*\*<.*?\*/\s*$|/\*!<.*?\*/\s*$", text)
            items.append(Item("pp", text, start, line))
            if m:
                items.append(Item("trail", m.group(0), line, line))
            i = k
            continue
        if c == "\n":
            line += 1
            if decl:
                decl.append(c)
            i += 1
            continue
        if c in " \t\r" and not decl:
            i += 1
            continue
        if decl_line is None:
            decl_line = line
        decl.append(c)
        if c == "{":
            text = "".join(decl)
            if depth == 0 and re.match(r'\s*extern\s+"C"\s*\{$', text):
                decl, decl_line = [], None  # not a scope of its own
            else:
                depth += 1
        elif c == "}":
            if depth == 0:
                decl, decl_line = [], None  # the end of extern "C"
            else:
                depth -= 1
        elif c == ";" and depth == 0:
            flush_decl(line)
        i += 1
    flush_decl(line)
    return items


def _at_line_start(src, i):
    j = i - 1
    while j >= 0 and src[j] in " \t":
        j -= 1
    return j < 0 or src[j] == "\n"


def strip_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def declared_names(decl):
    """(kind, name) pairs a file-scope declaration makes public."""
    text = " ".join(strip_comments(decl).split())
    names = []
    if text.startswith("typedef"):
        body = re.sub(r"\{.*\}", "{}", text)
        m = re.search(r"\(\s*\*\s*(" + IDENT + r")\s*\)\s*\(", body)
        if m:
            return [("typedef", m.group(1))]
        m = re.match(r"typedef\s+(struct|enum|union)\s+(" + IDENT + ")", body)
        if m:
            names.append((m.group(1), m.group(2)))
        m = re.search(r"(" + IDENT + r")\s*(\[[^\]]*\])?\s*;$", body)
        if m:
            names.append(("typedef", m.group(1)))
        return names
    if "SIPFLOW_API" in text:
        head = re.sub(r"\{.*\}", "{}", text)
        m = re.search(r"(" + IDENT + r")\s*\(", head)
        return [("function", m.group(1))] if m else [("function", "?")]
    m = re.match(r"(struct|enum|union)\s+(" + IDENT + r")\s*\{", text)
    if m:
        return [(m.group(1), m.group(2))]
    return [("declaration", text[:60])]


def member_names(decl, want_enum_values):
    """Members of a struct or enum body that have no doc comment of their
    own (a /** before, or a /**< after), as (name, line offset) pairs."""
    m = re.search(r"\{(.*)\}", decl, flags=re.S)
    if not m:
        return []
    body, base = m.group(1), decl[: m.start(1)].count("\n")
    is_enum = re.search(r"\benum\b", decl[: m.start()]) is not None
    sep = "," if is_enum else ";"
    members = []  # [code, line, documented]
    code, line, lead, depth, i, n = "", base, False, 0, 0, len(body)
    cur_line = base

    def finish():
        nonlocal code, lead
        if code.strip():
            members.append([code.strip(), line, lead])
        code, lead = "", False

    while i < n:
        if body.startswith("/*", i) or body.startswith("//", i):
            j = body.find("*/", i) + 2 if body[i + 1] == "*" else body.find("\n", i)
            j = n if j <= 1 else j
            text = body[i:j]
            if re.match(r"/\*\*<|/\*!<|///<|//!<", text):
                if code.strip():
                    lead = True  # documents the member being read
                elif members:
                    members[-1][2] = True  # documents the one just ended
            elif re.match(r"/\*\*|/\*!|///|//!", text):
                lead = True
            cur_line += text.count("\n")
            i = j
            continue
        c = body[i]
        if c == "#" and not code.strip():
            j = body.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "\n":
            cur_line += 1
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        if c == sep and depth == 0:
            finish()
        else:
            if not code.strip() and not c.isspace():
                line = cur_line
            code += c
        i += 1
    finish()
    out = []
    for code, line, documented in members:
        if is_enum and not want_enum_values:
            continue
        if is_enum:
            name = code.split("=")[0].strip()
        else:
            fp = re.search(r"\(\s*\*\s*(" + IDENT + r")\s*\)", code)
            ids = re.findall(IDENT, re.sub(r"\[.*?\]", "", code))
            name = fp.group(1) if fp else (ids[-1] if ids else code)
        if not documented and re.fullmatch(IDENT, name):
            out.append((name, line))
    return out


def check_file(path, want_enum_values, listing):
    src = open(path, encoding="utf-8").read()
    items = lex(src)
    rel = os.path.relpath(path)
    symbols = {}  # name -> [kind, first line, documented, comment]
    problems = []
    guards = set(re.findall(r"#\s*ifndef\s+(" + IDENT + r")\s*\n\s*#\s*define\s+\1\b",
                            src))
    if not any(it.kind == "doc" and re.search(r"[@\\]file\b", it.text)
               for it in items):
        problems.append(f"{rel}:1: file has no doc comment with @file")

    def preceding_doc(idx):
        j = idx - 1
        while j >= 0:
            it = items[j]
            if it.kind == "pp" and CONDITIONAL.match(it.text.strip()):
                j -= 1
                continue
            if it.kind == "doc" and not re.search(r"[@\\]file\b", it.text):
                return it.text
            return None
        return None

    def trailing_doc(idx, end_line):
        if idx + 1 < len(items):
            it = items[idx + 1]
            if it.kind == "trail" and it.line == end_line:
                return it.text
        return None

    def note(kind, name, line, comment):
        entry = symbols.setdefault(name, [kind, line, False, None])
        if comment and not entry[2]:
            entry[2], entry[3] = True, comment

    for idx, it in enumerate(items):
        if it.kind == "pp":
            m = re.match(r"#\s*define\s+(" + IDENT + r")", it.text.strip())
            if not m:
                continue
            name = m.group(1)
            if name in guards or name.endswith("_"):
                continue
            note("macro", name, it.line,
                 preceding_doc(idx) or trailing_doc(idx, it.end_line))
        elif it.kind == "decl":
            doc = preceding_doc(idx) or trailing_doc(idx, it.end_line)
            for kind, name in declared_names(it.text):
                note(kind, name, it.line, doc)
            if doc and "{" in it.text:
                for name, off in member_names(it.text, want_enum_values):
                    problems.append(f"{rel}:{it.line + off}: member {name} "
                                    f"has no doc comment")

    for name, (kind, line, documented, comment) in sorted(
            symbols.items(), key=lambda kv: kv[1][1]):
        if listing:
            print(f"{rel}:{line}: {kind} {name}: "
                  f"{'documented' if documented else 'UNDOCUMENTED'}")
        if not documented:
            problems.append(f"{rel}:{line}: {kind} {name} has no /** */ comment")
        elif not re.search(r"[@\\]since\b", comment):
            problems.append(f"{rel}:{line}: {kind} {name}: comment lacks @since")
    return len(symbols), problems


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = {a for a in argv[1:] if a.startswith("--")}
    unknown = flags - {"--enum-values", "--list"}
    if unknown:
        print(__doc__, file=sys.stderr)
        return 2
    root = args[0] if args else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "include", "sipflow")
    paths = sorted(glob.glob(os.path.join(root, "*.h")) +
                   glob.glob(os.path.join(root, "*.h.in")))
    if not paths:
        print(f"check-docs: no headers under {root}", file=sys.stderr)
        return 2
    total, problems = 0, []
    for path in paths:
        count, probs = check_file(path, "--enum-values" in flags,
                                  "--list" in flags)
        total += count
        problems += probs
    for p in problems:
        print(p)
    print(f"check-docs: {len(paths)} headers, {total} public symbols, "
          f"{len(problems)} problem{'s' if len(problems) != 1 else ''}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""The code the guides quote is the code that is built and tested.

In docs/**/*.md, a fenced code block right after a line

    <!-- from examples/integration/edge.c -->

must appear in that file, word for word and in order (whitespace and line
breaks are not compared, so clang-format may reflow it), except that a
line holding only "..." stands for any amount of code left out. Prints every
block that has drifted from its source and exits 1 if there is any.
Standard library only.
"""
import glob
import os
import re
import sys

MARK = re.compile(r"<!--\s*from\s+(\S+)\s*-->")


def blocks(md_path):
    """(source path, first line number, lines) of each marked block."""
    lines = open(md_path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = MARK.search(lines[i])
        if m and i + 1 < len(lines) and lines[i + 1].startswith("```"):
            start, j = i + 2, i + 2
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            yield m.group(1), start + 1, lines[start:j]
            i = j
        elif m:
            yield m.group(1), i + 1, None  # a mark with no block under it
        i += 1


def norm(text):
    return re.sub(r"\s+", " ", text).strip()


def found(src_text, want):
    """Whether |want| (with "..." gaps) appears in |src_text| in order.
    Whitespace is not compared, so a reflowed line still matches."""
    pieces, cur = [], []
    for line in want:
        if line.strip() == "...":
            pieces.append(cur)
            cur = []
        else:
            cur.append(line)
    pieces.append(cur)
    src, pos = norm(src_text), 0
    for piece in pieces:
        text = norm(" ".join(piece))
        if not text:
            continue
        hit = src.find(text, pos)
        if hit < 0:
            return False, piece[0].strip() if piece else ""
        pos = hit + len(text)
    return True, None


def main(argv):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    docs = argv[1] if len(argv) > 1 else os.path.join(root, "docs")
    problems, count = [], 0
    for md in sorted(glob.glob(os.path.join(docs, "**", "*.md"),
                               recursive=True)):
        rel = os.path.relpath(md, root)
        for src, line, want in blocks(md):
            count += 1
            path = os.path.join(root, src)
            if want is None:
                problems.append(f"{rel}:{line}: a 'from {src}' mark with no "
                                f"code block under it")
            elif not os.path.isfile(path):
                problems.append(f"{rel}:{line}: {src} does not exist")
            else:
                ok, first = found(open(path, encoding="utf-8").read(), want)
                if not ok:
                    problems.append(f"{rel}:{line}: not in {src} as quoted, "
                                    f"from: {first}")
    for p in problems:
        print(p)
    print(f"check-docs: {count} quoted code blocks, "
          f"{len(problems)} not matching their source")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

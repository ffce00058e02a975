"""Runs every example of docs/query-language.md against one fresh daemon.

The convention (stated at the top of the document):
- every ```sql block runs, in document order, as one `driftctl sql -f -`
  (one session per block), against one fresh daemon;
- a ```result block right after a ```sql block must equal driftctl's output
  (table format) of that block, line by line (trailing spaces ignored);
- a line `-- error: XXXXX` in a ```sql block says that the block's last
  statement (the one after that line) fails with SQLSTATE XXXXX; the
  statements before it must succeed (their output is what a ```result block
  compares);
- a ```sql block without a ```result block must run without error.
Other fences (```text, ```sh, ```python) are not run.

DRIFT_DOC_SHOW=1 prints each block's real output (for writing the document);
the test still compares."""
import os
import re
import subprocess
import unittest

from driftharness import DRIFTCTL, SRCDIR, Daemon

DOC = os.path.join(SRCDIR, "docs", "query-language.md")
FENCE = re.compile(r"^```(\w*)\s*$")
ERROR_LINE = re.compile(r"^\s*--\s*error:\s*([0-9A-Z]{5})\s*$")


def parse_blocks(text):
    """[(lang, first line number, body)] of every fenced block."""
    out = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m and m.group(1):
            lang, start, body = m.group(1), i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            out.append((lang, start, "\n".join(body)))
        elif m:
            # an unlabelled fence: skip to its end
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                i += 1
        i += 1
    return out


def examples(text):
    """[(line, sql, expected result or None, expected error or None)] in document order."""
    blocks = parse_blocks(text)
    out = []
    for k, (lang, line, body) in enumerate(blocks):
        if lang != "sql":
            continue
        expected = None
        if k + 1 < len(blocks) and blocks[k + 1][0] == "result":
            # only when nothing but blank lines separate the two fences
            between = text.split("\n")[line + body.count("\n") + 2:blocks[k + 1][1] - 1]
            if all(not ln.strip() for ln in between):
                expected = blocks[k + 1][2]
        errs = [m.group(1) for m in map(ERROR_LINE.match, body.split("\n")) if m]
        out.append((line, body, expected, errs[0] if errs else None))
    return out


def norm(text):
    return "\n".join(ln.rstrip() for ln in text.strip("\n").split("\n")).strip("\n")


class DocExamplesTest(unittest.TestCase):
    maxDiff = None

    def test_convention_parser(self):
        doc = "x\n```sql\nSELECT 1;\n```\n\n```result\n a\n```\n```sql\n-- error: 42601\nSELEC;\n```\n```text\nno\n```\n"
        ex = examples(doc)
        self.assertEqual(ex, [(2, "SELECT 1;", " a", None), (9, "-- error: 42601\nSELEC;", None, "42601")])
        # prose between the blocks: the result block belongs to nothing
        self.assertEqual(examples("```sql\nA;\n```\nprose\n```result\nr\n```\n"), [(1, "A;", None, None)])

    def test_examples(self):
        with open(DOC) as f:
            text = f.read()
        exs = examples(text)
        self.assertGreater(len(exs), 30, "the language reference has lost its examples")
        show = os.environ.get("DRIFT_DOC_SHOW")
        failures = []
        with Daemon(query_workers=2) as d:
            for line, sql, expected, err in exs:
                p = subprocess.run([DRIFTCTL, "-H", d.endpoint, "sql", "-f", "-"], input=sql + "\n",
                                   capture_output=True, text=True, timeout=120)
                if show:
                    print("---- docs/query-language.md:%d exit %d\n%s%s" % (line, p.returncode, p.stdout, p.stderr))
                where = "docs/query-language.md:%d" % line
                if err:
                    if p.returncode != 1 or ("ERROR %s:" % err) not in p.stderr:
                        failures.append("%s: expected ERROR %s, got exit %d\n%s%s" % (where, err, p.returncode,
                                                                                     p.stdout, p.stderr))
                        continue
                    # the failing statement is the block's last one (after the -- error line)
                    m = re.search(r"<stdin>:(\d+): ERROR", p.stderr)
                    err_line = [i for i, ln in enumerate(sql.split("\n"), 1) if ERROR_LINE.match(ln)][0]
                    if not m or int(m.group(1)) < err_line:
                        failures.append("%s: the error came from a statement before the -- error line:\n%s" %
                                        (where, p.stderr))
                        continue
                elif p.returncode != 0:
                    failures.append("%s: exit %d\n%s%s" % (where, p.returncode, p.stdout, p.stderr))
                    continue
                if expected is not None and norm(p.stdout) != norm(expected):
                    failures.append("%s: output differs\n--- expected\n%s\n--- got\n%s" % (where, norm(expected),
                                                                                          norm(p.stdout)))
        self.assertEqual(failures, [], "\n\n".join(failures))


if __name__ == "__main__":
    unittest.main()

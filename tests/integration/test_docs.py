"""Every example in README.md and docs/*.md runs as written.

The fenced code blocks of those files are taken by language tag:

  sh, bash, console  commands: each block runs as one bash script in a fresh
                     directory against a real `imgpipe serve` (the text is
                     rewritten by SUBSTITUTIONS only); every command must exit
                     0, and every HTTP answer must have the status its comment
                     states ("answers 202", "# 304") or, if none is stated, a
                     status below 400; a comment that shows a JSON body
                     ("# {"status":"ok"}") must equal the answer
  ini                a configuration file: `imgpipe config --config FILE`
                     loads it (files it names are provided) and prints back
                     every key with the value written
  json               data: it must parse
  anything else      ignored (diagrams, sample output)

A command block that cannot run here is listed in CANNOT_RUN with the reason;
of such a block, each `imgpipe` command must still parse (run with --help
added). The test fails if an entry matches no block (the table cannot rot)
and if a command block that is not listed runs a program outside RUNNABLE.
"""
import configparser
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SOURCE_ROOT = os.environ.get(
    "IMGPIPE_SOURCE_ROOT",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

COMMAND_LANGS = {"sh", "bash", "console"}

# (file, substring of the block, why it cannot run in this test)
CANNOT_RUN = [
    ("docs/API.md", "openssl dgst -sha256 -hmac",
     "checks a webhook delivery's signature: it needs a delivery's body and "
     "header; test_webhooks.py runs this block on real deliveries"),
    ("README.md", "make run",
     "the README's own set-up commands (make test is what CI itself runs; "
     "make run apt-get installs as root and serves port 8080 until stopped)"),
    ("docs/BENCHMARKS.md", "make bench",
     "installs packages as root (scripts/deps.sh bench) and runs for half "
     "an hour or more; CI runs BENCH_SMOKE=1 make bench itself"),
    ("docs/DISTRIBUTED.md", "aws dynamodb create-table",
     "creates a table in a real AWS account (no --endpoint-url); the aws "
     "suite's aws-live test checks the table's indexes against dynalite"),
    ("docs/DISTRIBUTED.md", "imgpipe init --config imgpipe.ini",
     "needs an AWS account (S3, DynamoDB) and redis.internal; its "
     "imgpipe.ini is checked as an ini block here"),
    ("docs/DISTRIBUTED.md", "imgpipe gateway --listen 0.0.0.0",
     "needs the hosts ceph.internal, alternator.internal and redis.internal; "
     "the distributed suite runs gateway + worker against real servers"),
    ("docs/AWS.md", "npx cdk deploy",
     "deploys to a real AWS account (credentials, cdk bootstrap); the deploy "
     "suite synthesizes and checks the same stack offline"),
    ("docs/AWS.md", "curl --fail-with-body --aws-sigv4",
     "PUTs through a deployed stack's REST API with AWS credentials; the "
     "deploy suite pins that API's S3 integration and role offline"),
    ("docs/DISTRIBUTED.md", "put-bucket-notification-configuration",
     "needs a radosgw at ceph:7480 pushing to a worker at worker1:9300; "
     "POST /v1/events itself runs from docs/API.md"),
    ("docs/OPERATIONS.md", "useradd --system",
     "installs as root into /usr/local, /etc and systemd; the deploy "
     "suite's deploy-systemd verifies the unit and runs its command line"),
    ("docs/OPERATIONS.md", "sudo -u imgpipe imgpipe keys create",
     "needs the service's user and /var/lib/imgpipe; keys create itself "
     "runs in test_auth"),
    ("docs/OPERATIONS.md", "VACUUM INTO",
     "backs up a service's /var/lib/imgpipe as its user; "
     "test_ops_backup takes the same backup of a running server"),
    ("docs/OPERATIONS.md", "systemctl stop imgpipe",
     "stops a systemd service and restores into /var/lib/imgpipe; "
     "test_ops_backup restores the same way and starts a server on it"),
]

# Text in command blocks that names the reader's world, and what the test
# puts in its place. Each must still occur in some block.
SUBSTITUTIONS = [
    ("http://127.0.0.1:8080", "url",
     "the gateway the docs assume: the test's server on port 0"),
    ("http://127.0.0.1:9300", "url",
     "a worker's events port: the test's server accepts events too"),
    ("01JD6Z0QF9V6X7Q1ZQ3N1B2C3D", "id",
     "the example id: an image the test uploaded for this block"),
    ("MDFKRDZa...", "cursor",
     "the example cursor: a real next_cursor of this server"),
]

# Programs a command block may run (imgpipe is $IMGPIPE_BIN through PATH);
# anything else must be in CANNOT_RUN.
RUNNABLE = {"curl", "imgpipe", "export", "tr", "sed", "grep", "cut", "head",
            "echo", "cat"}

PHOTO = "wine.jpg"  # the smallest photo of the corpus, as photo.jpg

# Key-file values that hold secrets: `imgpipe config` does not print them.
SECRET_KEYS = {"secret_access_key", "session_token", "secret"}

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SEPARATORS = {"|", "||", "&&", ";", "(", ")", "|&"}


class Block:
    def __init__(self, path, line, lang, text):
        self.path = path  # relative to the source root
        self.line = line  # of the opening fence, 1-based
        self.lang = lang
        self.text = text

    def kind(self):
        if self.lang in COMMAND_LANGS:
            return "command"
        if self.lang in ("ini", "json"):
            return self.lang
        return "ignored"

    def __repr__(self):
        return f"{self.path}:{self.line} ({self.lang or 'plain'})"


def doc_files():
    files = ["README.md"] + sorted(
        os.path.relpath(p, SOURCE_ROOT)
        for p in glob.glob(os.path.join(SOURCE_ROOT, "docs", "*.md")))
    return files


def extract_blocks(rel):
    """The fenced blocks of one Markdown file; raises on an unclosed fence."""
    with open(os.path.join(SOURCE_ROOT, rel), encoding="utf-8") as f:
        lines = f.read().splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence = m["indent"], m["fence"]
        info = m["info"].strip().split()
        lang = info[0].lower() if info else ""
        close = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{" +
                           str(len(fence)) + r",}[ \t]*$")
        body = []
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            line = lines[j]
            body.append(line[len(indent):] if line.startswith(indent)
                        else line.lstrip())
            j += 1
        if j == len(lines):
            raise ValueError(f"{rel}:{i + 1}: unclosed code fence")
        blocks.append(Block(rel, i + 1, lang, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def all_blocks():
    out = []
    for rel in doc_files():
        out.extend(extract_blocks(rel))
    return out


def listed(block):
    """The CANNOT_RUN entry of a block, or None."""
    for entry in CANNOT_RUN:
        if entry[0] == block.path and entry[1] in block.text:
            return entry
    return None


# ---- shell text ----

def scan_shell(text):
    """(where a comment starts or None, the quote left open at the end or
    None) of shell text: '#' starts a comment at the start of a word outside
    quotes."""
    quote = None
    k = 0
    while k < len(text):
        c = text[k]
        if quote != "'" and c == "\\":
            k += 2
            continue
        if quote is not None:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (k == 0 or text[k - 1].isspace()):
            return k, None
        k += 1
    return None, quote


def split_comment(text):
    """(code, comment) of a shell command's text."""
    k, _ = scan_shell(text)
    if k is None:
        return text.rstrip(), ""
    return text[:k].rstrip(), text[k + 1:].strip()


class Command:
    def __init__(self, code, lead, trailing, line):
        self.code = code          # the command, comments removed
        self.lead = lead          # comment lines just above it
        self.trailing = trailing  # comment after it on its line
        self.line = line          # line in the block, 1-based

    def words(self):
        lex = shlex.shlex(self.code, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        return list(lex)

    def simple_commands(self):
        """The words of each simple command, leading assignments left out;
        a background job is the command ["&"]."""
        out = []
        cur = None
        for w in self.words():
            if w in SEPARATORS:  # NAME=$(cmd: '(' starts a command too
                cur = None
            elif w == "&":
                out.append(["&"])
                cur = None
            elif cur is not None:
                cur.append(w)
            elif not ASSIGNMENT.match(w):
                cur = [w]
                out.append(cur)
        return out

    def programs(self):
        return [c[0] for c in self.simple_commands()]

    def expected_status(self):
        m = re.match(r"(\d{3})\b", self.trailing)
        if m:
            return int(m[1])
        m = re.search(r"\banswers (\d{3})\b", self.trailing + " " + self.lead)
        return int(m[1]) if m else None

    def expected_body(self):
        text = re.sub(r"^\d{3}\s*", "", self.trailing)
        if not text.startswith("{"):
            return None
        body, _ = json.JSONDecoder().raw_decode(text)
        return body


def parse_commands(block):
    """The commands of a command block, continuation lines joined; in a
    console block only the lines after a '$ ' prompt. Raises on a quote
    left open at the end of the block."""
    cmds = []
    lead = []
    pending = None
    first = 0
    for n, raw in enumerate(block.text.splitlines(), 1):
        line = raw
        if pending is None and block.lang == "console":
            if not line.startswith("$ "):
                lead = []
                continue
            line = line[2:]
        if pending is not None:
            line = pending + "\n" + line
        else:
            first = n
        if line.endswith("\\") or scan_shell(line)[1] is not None:
            pending = line  # continued, or inside a quoted string
            continue
        pending = None
        if not line.strip():
            lead = []
            continue
        if line.lstrip().startswith("#"):
            lead.append(line.lstrip()[1:].strip())
            continue
        code, comment = split_comment(line)
        cmds.append(Command(code, " ".join(lead), comment, first))
        lead = []
    if pending is not None:
        raise ValueError(f"{block!r} line {first}: unterminated command")
    return cmds


def imgpipe_invocations(cmd):
    """The arguments of each `imgpipe` simple command of a command."""
    return [c[1:] for c in cmd.simple_commands() if c[0] == "imgpipe"]


def is_prelude(cmds):
    """A block of assignments only (B=...): later blocks of its file assume
    it."""
    return bool(cmds) and all(not c.programs() and ASSIGNMENT.match(c.code)
                              for c in cmds)


def s3_event(bucket, key):
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}}}]})


def key_file(text):
    """A GLib key file (what imgpipe reads) as a ConfigParser."""
    kf = configparser.RawConfigParser(comment_prefixes=("#",), strict=True)
    kf.optionxform = str
    kf.read_string(text)
    return kf


# ---- the tests ----

class DocsInventoryTest(unittest.TestCase):
    """The blocks found, and the tables that say what the test does with
    them."""

    def test_inventory_and_tables(self):
        blocks = all_blocks()
        files = doc_files()
        self.assertIn("docs/API.md", files)
        print()
        for b in blocks:
            entry = listed(b)
            what = b.kind()
            if entry is not None:
                what = "cannot run: " + entry[2]
            print(f"  {b!r}: {what}")
        kinds = {b.kind() for b in blocks}
        for k in ("command", "ini", "json"):
            self.assertIn(k, kinds, f"no {k} block found: is the parser right?")
        for entry in CANNOT_RUN:
            hits = [b for b in blocks
                    if b.path == entry[0] and entry[1] in b.text]
            with self.subTest(cannot_run=entry[1]):
                self.assertEqual(len(hits), 1,
                                 f"CANNOT_RUN entry {entry[:2]} must match "
                                 f"exactly one block, matches {hits}")
                self.assertEqual(hits[0].kind(), "command",
                                 f"{hits[0]!r}: ini and json blocks always run")
        for sub in SUBSTITUTIONS:
            with self.subTest(substitution=sub[0]):
                self.assertTrue(
                    any(sub[0] in b.text for b in blocks
                        if b.kind() == "command" and listed(b) is None),
                    f"substitution {sub[0]!r} occurs in no command block")

    def test_every_command_block_is_runnable_or_listed(self):
        for b in all_blocks():
            if b.kind() != "command" or listed(b) is not None:
                continue
            cmds = parse_commands(b)
            with self.subTest(block=repr(b)):
                self.assertTrue(cmds, f"{b!r}: a command block without commands")
                for c in cmds:
                    for p in c.programs():
                        self.assertIn(p, RUNNABLE,
                                      f"{b!r} line {c.line}: {c.code!r} runs "
                                      f"{p!r}: make it runnable or list the "
                                      f"block in CANNOT_RUN with the reason")


def key_table_settings():
    """section.key of every row of the key table in src/core/config.c
    (variant rows as variant.KEY)."""
    with open(os.path.join(SOURCE_ROOT, "src", "core", "config.c")) as f:
        src = f.read()
    start = src.index("static const struct key_def key_table[]")
    table = src[start:src.index("};", start)]
    return {f"{sec}.{key}" for sec, key in
            re.findall(r'\{"(\w+)",\s*"(\w+)",\s*KEY_', table)}


def documented_settings():
    """section.key of every setting in the first column of README's
    configuration table: `a.b`, `a.b` / `.c` (= a.c), `variant.NAME.x`
    (= variant.x)."""
    with open(os.path.join(SOURCE_ROOT, "README.md")) as f:
        text = f.read()
    start = text.index("\n## Configuration")
    section = text[start:text.index("\n## ", start + 1)]
    found = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        prefix = ""
        for tok in re.findall(r"`([^`]+)`", line.split("|")[1]):
            if tok.startswith("."):
                tok = prefix + tok[1:]
            prefix = tok[:tok.rindex(".") + 1]
            found.add(re.sub(r"^variant\.NAME\.", "variant.", tok))
    return found


class DocsConfigTableTest(unittest.TestCase):
    """README's configuration table and the key table agree."""

    def test_every_setting_documented_and_every_documented_one_exists(self):
        settings = key_table_settings()
        documented = documented_settings()
        self.assertGreater(len(settings), 50, "is the key-table parser right?")
        self.assertEqual(sorted(settings - documented), [],
                         "settings missing from README's configuration table")
        self.assertEqual(sorted(documented - settings), [],
                         "README's configuration table lists no such setting")


class DocsUnrunnableTest(unittest.TestCase):
    """What can be checked of a block that cannot run: each `imgpipe` command
    in it parses (its command and options, with --help added, exit 0)."""

    def test_imgpipe_commands_parse(self):
        tmp = tempfile.mkdtemp(prefix="imgpipe-docs-help-")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("IMGPIPE_", "AWS_"))}
        try:
            for b in all_blocks():
                if b.kind() != "command" or listed(b) is None:
                    continue
                for c in parse_commands(b):
                    for args in imgpipe_invocations(c):
                        with self.subTest(block=repr(b), line=c.line):
                            r = subprocess.run(
                                [os.path.abspath(harness.BIN)] + args +
                                ["--help"], cwd=tmp, env=env,
                                capture_output=True, text=True, timeout=60)
                            self.assertEqual(r.returncode, 0,
                                             f"{b!r} line {c.line}: imgpipe "
                                             f"{' '.join(args)}: {r.stderr}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class DocsIniTest(unittest.TestCase):
    def test_ini_blocks_load_as_written(self):
        for b in [b for b in all_blocks() if b.kind() == "ini"]:
            with self.subTest(block=repr(b)):
                self.check_ini(b)

    def check_ini(self, block):
        tmp = tempfile.mkdtemp(prefix="imgpipe-docs-ini-")
        try:
            # files the configuration names, e.g. image = assets/logo.png
            for value in re.findall(r"^\s*\w+\s*=\s*([\w./-]+\."
                                    r"(?:png|jpg|jpeg|webp))\s*$",
                                    block.text, re.M):
                path = os.path.join(tmp, value)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                shutil.copy(os.path.join(harness.CORPUS, "watermark.png"),
                            path)
            with open(os.path.join(tmp, "imgpipe.ini"), "w") as f:
                f.write(block.text)
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("IMGPIPE_", "AWS_"))}
            r = subprocess.run([os.path.abspath(harness.BIN), "config",
                                "--config", "imgpipe.ini"], cwd=tmp, env=env,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0,
                             f"{block!r}: imgpipe config: {r.stderr}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        # every key as written is in effect
        written = key_file(block.text)
        effective = key_file(r.stdout)
        for section in written.sections():
            for key, value in written[section].items():
                shown = effective.get(section, key, fallback=None)
                if shown is None and key in SECRET_KEYS:
                    continue
                self.assertEqual(shown, value, f"{block!r}: [{section}] {key}")


class DocsJsonTest(unittest.TestCase):
    def test_json_blocks_parse(self):
        for b in [b for b in all_blocks() if b.kind() == "json"]:
            with self.subTest(block=repr(b)):
                try:
                    json.loads(b.text)
                except ValueError as e:
                    self.fail(f"{b!r}: not JSON: {e}")


class DocsCommandTest(unittest.TestCase):
    """The command blocks, against one server."""

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(
            args=("--set", "server.accept_events=true")).start()
        cls.url = f"http://127.0.0.1:{cls.server.port}"
        cls.bin_dir = tempfile.mkdtemp(prefix="imgpipe-docs-bin-")
        os.symlink(os.path.abspath(harness.BIN),
                   os.path.join(cls.bin_dir, "imgpipe"))
        # two images, so that a page of one has a next_cursor
        cls.upload()
        cls.upload()
        r = cls.server.request("GET", "/v1/images?limit=1")
        assert r.status == 200, r
        cls.cursor = r.json()["next_cursor"]
        assert cls.cursor, r

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        log = cls.server.read_log()
        cls.server.cleanup()
        shutil.rmtree(cls.bin_dir, ignore_errors=True)
        if rc != 0:
            raise AssertionError("server exited %r on SIGTERM:\n%s" % (rc, log))

    @classmethod
    def upload(cls):
        r = cls.server.put("photo.jpg", harness.corpus(PHOTO), wait=60)
        assert r.status == 201, r
        rec = r.json()
        assert rec["status"] == "done", rec
        return rec

    def test_command_blocks_run(self):
        preludes = {}
        for b in all_blocks():
            if b.kind() != "command" or listed(b) is not None:
                continue
            cmds = parse_commands(b)
            prelude = preludes.get(b.path, [])
            if is_prelude(cmds):
                preludes[b.path] = prelude + [c.code for c in cmds]
            with self.subTest(block=repr(b)):
                self.run_block(b, cmds, prelude)

    def substitute(self, text, image):
        values = {"url": self.url, "cursor": self.cursor,
                  "id": image["id"] if image else None}
        for old, what, _ in SUBSTITUTIONS:
            if old in text:
                text = text.replace(old, values[what])
        return text

    def run_block(self, block, cmds, prelude):
        for c in cmds:
            for p in c.programs():
                self.assertIn(p, RUNNABLE, f"{block!r}: {c.code!r}")
        used = "\n".join(prelude + [block.text])
        image = None
        if SUBSTITUTIONS[2][0] in used or "event.json" in used:
            image = self.upload()
        tmp = tempfile.mkdtemp(prefix="imgpipe-docs-sh-")
        out = os.path.join(tmp, ".out")
        os.mkdir(out)
        try:
            shutil.copy(os.path.join(harness.CORPUS, PHOTO),
                        os.path.join(tmp, "photo.jpg"))
            if image is not None:
                with open(os.path.join(tmp, "event.json"), "w") as f:
                    f.write(s3_event(image["input_bucket"], image["input_key"]))
            script = ["set -o pipefail"]
            script += [self.substitute(p, image) for p in prelude]
            for n, c in enumerate(cmds):
                code = self.substitute(c.code, image)
                # each curl dumps its answer's headers, for the status
                code = re.sub(r"(?<![\w./$-])curl(?=\s)",
                              f'curl -D "$OUT/{n}.h"', code)
                script.append(f'{{ {code}\n}} >"$OUT/{n}.out" '
                              f'2>"$OUT/{n}.err"; echo $? >"$OUT/{n}.rc"')
            env = dict(os.environ)
            env["PATH"] = self.bin_dir + os.pathsep + env["PATH"]
            env["OUT"] = out
            r = subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp,
                               env=env, capture_output=True, text=True,
                               timeout=300)
            self.assertEqual(r.returncode, 0, f"{block!r}: {r.stderr}")
            for n, c in enumerate(cmds):
                self.check_command(block, c, os.path.join(out, str(n)))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def check_command(self, block, cmd, base):
        where = f"{block!r} line {cmd.line}: {cmd.code!r}"

        def read(ext):
            with open(base + ext, errors="replace") as f:
                return f.read()

        rc = int(read(".rc"))
        self.assertEqual(rc, 0, f"{where} exited {rc}: {read('.err')}")
        status = None
        if os.path.exists(base + ".h"):
            codes = re.findall(r"^HTTP/\S+ (\d{3})", read(".h"), re.M)
            self.assertTrue(codes, f"{where}: no HTTP answer")
            status = int(codes[-1])
        want = cmd.expected_status()
        if want is not None:
            self.assertEqual(status, want, f"{where}: {read('.out')[:300]}")
        elif status is not None:
            self.assertLess(status, 400, f"{where}: {read('.out')[:300]}")
        body = cmd.expected_body()
        if body is not None:
            self.assertEqual(json.loads(read(".out")), body, where)


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env bash
# Every relative link of the documentation a user reads (README.md, docs/, ffi-lua/README.md,
# bench/README.md) points at a file that exists and, with a #fragment, at a heading of it
# (GitHub's anchor rules: lower case, punctuation dropped, spaces to dashes).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v python3 >/dev/null || { echo "docs_links: python3 is not installed" >&2; exit 1; }
exec python3 - <<'PY'
import glob, os, re, sys
files = ["README.md", "ffi-lua/README.md", "bench/README.md"] + sorted(glob.glob("docs/**/*.md", recursive=True))

def anchors(path):
    text = re.sub(r"```.*?```", "", open(path, encoding="utf-8").read(), flags=re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", text, re.M)}

bad, count = [], 0
for f in files:
    text = re.sub(r"```.*?```", "", open(f, encoding="utf-8").read(), flags=re.S)
    for link in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", link):
            continue
        count += 1
        path, _, frag = link.partition("#")
        target = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
        if not os.path.exists(target):
            bad.append(f"{f}: {link}: no such file")
        elif frag and target.endswith(".md") and frag not in anchors(target):
            bad.append(f"{f}: {link}: no heading #{frag} in {target}")
for b in bad:
    print(b, file=sys.stderr)
print(f"docs links: {count} checked, {len(bad)} broken")
sys.exit(1 if bad else 0)
PY

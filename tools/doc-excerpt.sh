# doc-excerpt.sh -- sourced by the tools that print a real session for
# docs/tutorial.md (strace-session, strace-nolibc).

# Descriptors the caller left open (a test runner's, say) would shift the
# numbers the traced programs' sockets get: start from a clean table.
close_inherited_descriptors() {
  local fd n
  for fd in /proc/$$/fd/*; do
    n=${fd##*/}
    if [ "$n" -gt 2 ] && [ "$n" -lt 255 ]; then eval "exec $n>&-"; fi
  done
}

# update_doc_excerpt NAME TEXT: TEXT, fenced, between docs/tutorial.md's
# `<!-- NAME: begin -->` and `<!-- NAME: end -->` markers.
update_doc_excerpt() {
  python3 - docs/tutorial.md "$1" "$2" <<'PY'
import sys
path, name, text = sys.argv[1], sys.argv[2], sys.argv[3]
doc = open(path).read()
start, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
i, j = doc.index(start) + len(start), doc.index(end)
open(path, "w").write(doc[:i] + "\n```\n" + text + "\n```\n" + doc[j:])
PY
  echo "updated docs/tutorial.md"
}

#!/bin/sh
# Print the path of a working Python 3.12 interpreter (the Lambda runtime's version).
# pyenv shims named python3.12 exist on some machines without 3.12 being selected,
# so each candidate is asked for its version instead of trusting its name.
for candidate in "${PYTHON312:-}" python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12 \
    "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /root/.pyenv/versions/3.12*/bin/python3.12; do
  [ -n "$candidate" ] || continue
  if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
    command -v "$candidate" 2>/dev/null || echo "$candidate"
    exit 0
  fi
done
echo "Python 3.12 not found: install it (e.g. 'apt-get install python3.12' or 'pyenv install 3.12') or set PYTHON312=/path/to/python3.12" >&2
exit 1

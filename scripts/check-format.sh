#!/usr/bin/env bash
# The C sources follow .clang-format (STYLE.md): fail on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src tests fuzz bench -name '*.[ch]')
clang-format --dry-run --Werror $files
echo "$(echo "$files" | wc -w) files formatted as .clang-format says"

#!/usr/bin/env bash
# Fail if product code calls a function we ban (as curl's checksrc does):
# unbounded copies and formats, racy temp names, unchecked conversions,
# non-reentrant tokenizers.  Bounded alternatives: util_strlcpy, snprintf,
# mkstemp/mkdtemp, strtol/strtoll with end checks, strtok_r.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|strtok|tmpnam|tempnam|mktemp|asctime|ctime|gmtime|localtime)\s*\('
if hits=$(grep -rnE "$pattern" src/ | grep -vE '^\S+:\s*(\*|/\*|//)'); then
	echo "banned functions in src/:"
	echo "$hits"
	exit 1
fi
echo "no banned functions in src/"

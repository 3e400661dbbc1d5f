#!/bin/sh
# Puts back the dump times recorded in mtimes.tsv (git keeps none): run from testdata/real/cpp.
set -eu
while IFS="$(printf '\t')" read -r path t; do touch -d "@$t" "$path"; done < mtimes.tsv

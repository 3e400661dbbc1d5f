#!/usr/bin/env bash
# Opens an HTML report in headless Chromium, fails on any console message (errors, failed loads,
# blocked requests), prints the suspects the rendered DOM shows and, with a second argument, saves
# a screenshot there. Usage: scripts/check-html.sh REPORT.html [SHOT.png]
set -euo pipefail
html=$(realpath "$1")
shot=${2:-}
chromium=${CHROMIUM:-chromium}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --user-data-dir="$profile" --enable-logging=stderr --v=0)
dom=$(timeout 120 "$chromium" "${flags[@]}" --dump-dom "file://$html" 2>"$profile/log") || {
  cat "$profile/log" >&2; echo "chromium failed" >&2; exit 1; }
errors=$(grep -c 'CONSOLE' "$profile/log" || true)
grep 'CONSOLE' "$profile/log" || true
echo "console errors: $errors"
printf '%s' "$dom" | grep -o '<h3>.*</h3>' | sed -e 's/<[^>]*>//g' -e 's/^/rendered: /' || true
if [ -n "$shot" ]; then
  timeout 120 "$chromium" "${flags[@]}" --window-size=1280,2400 --screenshot="$shot" "file://$html" 2>/dev/null
  echo "screenshot: $shot"
fi
[ "$errors" -eq 0 ]

# Sourced by the generate-*.sh scripts of this folder: no_machine_paths FILE… fails when a
# written file (gzipped or not) holds a path of this machine (the scratch folder, this folder,
# the output folder, $HOME) or the user's name. Needs $work, $here and $out set.
no_machine_paths() {
  local bad user f p
  bad=$(printf '%s\n' "$work" "$here" "$out" "${HOME:-/nonexistent-home}" | grep -v '^/$' | sort -u)
  user=$(id -un 2>/dev/null || true)
  for f in "$@"; do
    for p in $bad; do
      if zcat -f "$f" | strings -n 4 | grep -qF "$p"; then echo "$f contains $p" >&2; return 1; fi
    done
    if [ -n "$user" ] && [ "$user" != root ] && zcat -f "$f" | strings -n 4 | grep -qw "$user"; then
      echo "$f contains the user name $user" >&2
      return 1
    fi
  done
}

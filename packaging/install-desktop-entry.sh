#!/usr/bin/env bash
# Installs Studio into the current user's application menu: the desktop entry,
# the icons (PNG sizes and scalable SVG) and the AppStream metainfo, under
# ${XDG_DATA_HOME:-~/.local/share}. The entry starts this checkout: its
# .venv/bin/studio when present, else .venv/bin/python -m studio, else
# python3 -m studio run from the checkout. Nothing outside the user's data
# folder is touched and no root rights are needed.
#
# Usage: packaging/install-desktop-entry.sh [--uninstall]
set -euo pipefail

APP_ID="io.studio.Studio"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
desktop_file="$data/applications/$APP_ID.desktop"
metainfo_file="$data/metainfo/$APP_ID.metainfo.xml"
icon_files=()
for dir in "$here"/icons/hicolor/*/apps; do
  size="$(basename "$(dirname "$dir")")"
  for icon in "$dir"/"$APP_ID".*; do
    icon_files+=("$size/apps/$(basename "$icon")")
  done
done

refresh_caches() {
  # Menus pick up changes by themselves on most desktops; these make it immediate.
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$data/applications" 2>/dev/null || true
  fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$data/icons/hicolor/index.theme" ]; then
    gtk-update-icon-cache -q -t -f "$data/icons/hicolor" 2>/dev/null || true
  fi
}

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$desktop_file" "$metainfo_file"
  for rel in "${icon_files[@]}"; do
    rm -f "$data/icons/hicolor/$rel"
  done
  refresh_caches
  echo "Removed Studio's desktop entry, icons and metainfo from $data"
  exit 0
elif [ $# -gt 0 ]; then
  echo "usage: $0 [--uninstall]" >&2
  exit 2
fi

# A desktop entry's Exec arguments are quoted with "..." in which \ " ` $ are
# escaped; the file format then escapes each backslash once more.
quote_arg() {
  local escaped
  escaped="$(printf '%s' "$1" | sed -e 's/[\\"`$]/\\&/g' -e 's/\\/\\\\/g')"
  printf '"%s"' "$escaped"
}

if [ -x "$repo/.venv/bin/studio" ]; then
  exec_line="$(quote_arg "$repo/.venv/bin/studio")"
  try_exec="$repo/.venv/bin/studio"
elif [ -x "$repo/.venv/bin/python" ]; then
  exec_line="$(quote_arg "$repo/.venv/bin/python") -m studio"
  try_exec="$repo/.venv/bin/python"
else
  exec_line="python3 -m studio"
  try_exec=""
  echo "note: $repo/.venv not found (run 'make setup'); the entry will use python3 -m studio" >&2
fi

mkdir -p "$data/applications" "$data/metainfo"
tmp="$(mktemp "$data/applications/.$APP_ID.XXXXXX")"
{
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      Exec=*)
        printf 'Exec=%s\n' "$exec_line"
        [ -n "$try_exec" ] && printf 'TryExec=%s\n' "$try_exec"
        # Path= runs it from the checkout, so "python3 -m studio" finds the package.
        printf 'Path=%s\n' "$repo"
        ;;
      *) printf '%s\n' "$line" ;;
    esac
  done < "$here/studio.desktop"
} > "$tmp"
chmod 644 "$tmp"
mv "$tmp" "$desktop_file"

for rel in "${icon_files[@]}"; do
  install -D -m 644 "$here/icons/hicolor/$rel" "$data/icons/hicolor/$rel"
done
install -D -m 644 "$here/$APP_ID.metainfo.xml" "$metainfo_file"
refresh_caches

echo "Installed Studio for $(id -un):"
echo "  $desktop_file  (Exec=$exec_line)"
echo "  $data/icons/hicolor/{$(printf '%s\n' "${icon_files[@]}" | cut -d/ -f1 | paste -sd, -)}/apps/$APP_ID.*"
echo "  $metainfo_file"
echo "Studio now appears in the application menu; remove it with: $0 --uninstall"

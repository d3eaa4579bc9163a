#!/usr/bin/env bash
# Installs the system libraries Studio needs on Debian/Ubuntu, if any is missing:
# PortAudio for playback, libsndfile for audio files, and what Qt needs to draw
# (offscreen for tests, xcb for a real window), and the compiler and CMake
# that build llama.cpp. Runs apt-get only when needed.
set -euo pipefail

packages=(
  libportaudio2 libsndfile1
  libegl1 libgl1 libopengl0 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3
  libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
  libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xinerama0 libxcb-xkb1
  fonts-dejavu-core
  g++ cmake
)
[ "${STUDIO_WITH_XVFB:-0}" = 1 ] && packages+=(xvfb xauth)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "system-deps: not a Debian-based system; install PortAudio and Qt's xcb libraries yourself" >&2
  exit 0
fi
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "system-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

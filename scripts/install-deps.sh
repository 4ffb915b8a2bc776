#!/usr/bin/env bash
# Installs every Debian 12 package fastpy needs to build and test, and asmjit's source
# package (built with -fPIC by CMake). Idempotent: skips apt when everything is present.
set -euo pipefail
PKGS=(cmake g++ make ccache pkg-config dpkg-dev python3 python3-dev llvm-19-dev libmimalloc-dev
      libgtest-dev libbenchmark-dev python3-numpy python3-pytest libpython3.11-testsuite)
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
here="$(cd "$(dirname "$0")/.." && pwd)"
src_dir="$here/third_party/asmjit-src"
need_src=0; [ -f "$src_dir/CMakeLists.txt" ] || need_src=1
if [ ${#missing[@]} -gt 0 ] || [ $need_src = 1 ]; then
  # asmjit's source package needs deb-src entries.
  if ! grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/ ; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      $SUDO sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources
    else
      $SUDO sh -c 'grep "^deb " /etc/apt/sources.list | sed "s/^deb /deb-src /" > /etc/apt/sources.list.d/fastpy-src.list'
    fi
  fi
  $SUDO apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "fastpy: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ $need_src = 1 ]; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get source -qq --download-only asmjit >/dev/null && dpkg-source -x --no-check ./*.dsc src >/dev/null)
  rm -rf "$src_dir"; mkdir -p "$(dirname "$src_dir")"; mv "$tmp/src" "$src_dir"; rm -rf "$tmp"
fi

#!/usr/bin/env bash
# Packs into .gpudeps/ (ignored; carried to the GPU machine beside the
# working tree) Debian's .deb files of the build and test dependencies that
# machine's image may lack: nlohmann/json, GoogleTest and pkg-config (pkgconf
# and its library, for the install test's C consumer). It has no network and
# no apt; tools/ci/gpu_check.sh unpacks there, with `dpkg -x`, only those the
# system does not have. OpenCV and libjpeg are not packed: that machine builds
# without the image front end. Run on a Debian 12 machine with apt.
#
#   bash tools/ci/gpu_pack.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
dest=.gpudeps
packages=(nlohmann-json3-dev libgtest-dev pkgconf pkgconf-bin libpkgconf3)

rm -rf "$dest.new"
mkdir -p "$dest.new"
# apt downloads as user _apt where it can write, with a warning otherwise.
chmod 777 "$dest.new"
if ! (cd "$dest.new" && apt-get download -q "${packages[@]}" >/dev/null 2>&1); then
  ((EUID == 0)) || { echo "gpu_pack: apt-get download failed; run apt-get update as root first" >&2; exit 1; }
  apt-get update -qq
  (cd "$dest.new" && apt-get download -q "${packages[@]}" >/dev/null)
fi
chmod 755 "$dest.new"
rm -rf "$dest"
mv "$dest.new" "$dest"
ls -l "$dest"
echo "gpu_pack: $(du -sh "$dest" | cut -f1) in $dest/ ($(ls "$dest" | wc -l) packages; the limit on what travels is 64 MiB)"

# Sourced by the tools' scripts: install_packages NAME PACKAGE... installs,
# with apt (as root, or with sudo), the Debian packages not yet installed,
# saying so as NAME. Nothing is asked of apt when all are there, so later
# runs work offline.
install_packages() {
  local name=$1 package
  shift
  local missing=()
  for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
  ((${#missing[@]})) || return 0
  local sudo=()
  if ((EUID != 0)); then sudo=(sudo); fi
  echo "$name: installing ${missing[*]}"
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# The Debian 12 packages ferry needs, in one place. Sourced by quickstart.sh, tests/run_all.sh and
# .ci/run: ensure_packages PKG... installs whichever are missing (with sudo when not root), after
# refreshing the package lists.

# To build the programs and run the quickstart.
FERRY_BUILD_PACKAGES=(build-essential cmake ninja-build pkg-config libuv1-dev libsodium-dev libssl-dev
                      libtomlplusplus-dev catch2 nlohmann-json3-dev python3 curl)
# Everything the whole suite uses besides: clang and its runtime for libFuzzer, the real clients of the
# end-to-end tests, network namespaces, Node.js (it evaluates the agent's PAC file), GNOME's proxy
# settings on a private D-Bus session (system-proxy), HAProxy (relays behind a load balancer with
# PROXY protocol v2), and the package test (cpack, lintian, systemd-analyze).
FERRY_TEST_PACKAGES=("${FERRY_BUILD_PACKAGES[@]}" clang libclang-rt-14-dev openssl ca-certificates iproute2 wget
                     git openssh-server openssh-client netcat-openbsd chromium nodejs
                     libglib2.0-bin gsettings-desktop-schemas dconf-gsettings-backend dconf-service dbus-daemon
                     haproxy dpkg-dev lintian file man-db binutils systemd)

ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== installing: ${missing[*]}"
  local sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

#!/usr/bin/env bash
# Installs what TwoLeg's build and tests need on a fresh machine; each step is skipped when its
# tool is already there. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'install-deps: %s\n' "$*"; }

# The wasm targets named in rust-toolchain.toml (rustup adds them on first use, but say so here).
installed_targets=$(rustup target list --installed)
for target in wasm32-unknown-unknown wasm32-wasip2; do
  if ! grep -qx "$target" <<<"$installed_targets"; then
    log "rustup target add $target"
    rustup target add "$target"
  fi
done

# wasm-tools lists what the wasm builds import.
if ! command -v wasm-tools >/dev/null 2>&1; then
  log "cargo install wasm-tools"
  cargo install wasm-tools --version 1.263.0 --locked
fi

# The browser simulator's build: Trunk and wasm-bindgen at the versions this toolchain builds.
if ! trunk --version 2>/dev/null | grep -q '0.21.14'; then
  log "cargo install trunk 0.21.14"
  cargo install trunk --version 0.21.14 --locked
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q '0.2.130'; then
  log "cargo install wasm-bindgen-cli 0.2.130"
  cargo install wasm-bindgen-cli --version 0.2.130
fi

# Debian packages the end-to-end tests drive: SIPp (sip-tester), Chromium for the browser test,
# coturn for the TURN client, baresip and openssl (s_client) for SIP over TLS and SRTP, tcpdump
# for the media capture the SRTP relay test decrypts, dnsmasq as the DNS server of the routing
# tests, curl as the HTTPS client of the admin API test.
missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v turnserver >/dev/null 2>&1 || missing+=(coturn)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
command -v baresip >/dev/null 2>&1 || missing+=(baresip-core)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || missing+=(dnsmasq-base)
command -v curl >/dev/null 2>&1 || missing+=(curl)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3 python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

# libsrtp for the SRTP differential test, as bundled by the PyPI package pylibsrtp.
if ! python3 -c 'import pylibsrtp' 2>/dev/null; then
  log "pip install pylibsrtp"
  python3 -m pip install --quiet pylibsrtp 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages pylibsrtp
fi

# The browser test's driver: playwright-core (it uses Debian's Chromium; it downloads no browser).
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  log "npm ci in tests/browser"
  (cd tests/browser && npm ci --no-audit --no-fund)
fi

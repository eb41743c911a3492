#!/usr/bin/env bash
# Builds twoleg-core for both wasm targets, inside what each host loads, and checks that those
# import nothing the hosts do not provide:
# - the browser build (wasm32-unknown-unknown) may import only wasm-bindgen's shims;
# - the runner's component (wasm32-wasip2) may import only the WASI interfaces the runner links.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
check_module_imports() { # file, allowed-module regex
  local file=$1 allowed=$2 imports
  imports=$(wasm-tools print --skeleton "$file" | grep -oE '\(import "[^"]+"' | sed -E 's/\(import "([^"]+)"/\1/' | sort -u || true)
  for module in $imports; do
    if ! grep -qE "$allowed" <<<"$module"; then
      echo "check-wasm: $file imports from \"$module\", which its host does not provide" >&2
      fail=1
    fi
  done
  echo "check-wasm: $file imports: ${imports:-nothing}"
}
check_component_imports() { # file, allowed-interface regex
  local file=$1 allowed=$2 imports
  imports=$(wasm-tools component wit "$file" | grep -E '^\s*import ' | sed -E 's/^\s*import ([^;]+);/\1/' | sort -u || true)
  while IFS= read -r interface; do
    [ -n "$interface" ] || continue
    if ! grep -qE "$allowed" <<<"$interface"; then
      echo "check-wasm: $file imports $interface, which the runner does not provide" >&2
      fail=1
    fi
  done <<<"$imports"
  echo "check-wasm: $file imports: ${imports:-nothing}"
}

# The browser: the web crate (and the core in it) as Trunk builds it for the page, in the same
# profile, so that the test step's `trunk build` reuses this build.
cargo build --locked -p twoleg-web --profile web-release --target wasm32-unknown-unknown
check_module_imports target/wasm32-unknown-unknown/web-release/twoleg-web.wasm '^__wbindgen_'

# The runner: the engine component it embeds (as runner/build.rs builds it). It may import only
# what wasmtime_wasi::p2::add_to_linker_sync provides (and the types-only interface of the WIT,
# which carries no functions), and must export the engine interface.
cargo build --locked -p twoleg-guest --release --target wasm32-wasip2 --target-dir target/guest \
  --config profile.release.debug=false --config profile.release.strip=true \
  --config 'profile.release.lto="fat"' --config profile.release.codegen-units=1
component=target/guest/wasm32-wasip2/release/twoleg_guest.wasm
check_component_imports "$component" '^(wasi:(io|cli|clocks|random|filesystem)/|twoleg:engine/types@)'
if ! wasm-tools component wit "$component" | grep -q 'export twoleg:engine/engine'; then
  echo "check-wasm: $component does not export twoleg:engine/engine" >&2
  fail=1
fi

exit $fail

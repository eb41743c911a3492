#!/usr/bin/env bash
# SRTP throughput natively and compiled to wasm (wasm32-wasip1, run in Node's WASI: V8, the
# engine the browser simulator runs in). Prints one line per suite and direction for each.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip1 >/dev/null 2>&1 || true
cargo build -q --release -p twoleg-srtp --bin srtp-throughput
cargo build -q --release -p twoleg-srtp --bin srtp-throughput --target wasm32-wasip1
echo "native:"
target/release/srtp-throughput
echo "wasm (Node $(node --version) WASI):"
node --no-warnings --input-type=module -e "
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
const wasi = new WASI({ version: 'preview1', args: ['throughput'] });
const module = await WebAssembly.compile(await readFile('target/wasm32-wasip1/release/srtp-throughput.wasm'));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
wasi.start(instance);
"

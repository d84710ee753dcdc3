# Sourced by the scripts in scripts/: the PATH they all need.
# ~/.cargo/bin holds wasm-pack and wasm-bindgen once setup has built them; the npm
# binaryen package's wasm-opt must come before any other (Debian's breaks the module).
repo_root=$(pwd)
export PATH="$repo_root/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# The settings that make the package's wasm small, in one place: sdk/build.sh builds the
# package with them, and bench/sdk/*/measure.sh weigh their modules with the same ones.
# Sourced, not run.

# Size over speed for this one artifact; the workspace's release profile serves the relay.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_PANIC=abort
# LLVM's inliner a little more willing than under opt-level "z" (which behaves as a
# threshold of 5): a small function called from a few places is folded in where that
# makes the module smaller. 0.4 KB gzipped; 7 to 10 measured alike, 11 and up larger
# (docs/sdk.md).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C llvm-args=-inline-threshold=8"

# The package's wasm is built with this nightly when it is here with its std's source
# (scripts/setup.sh installs both): std is then compiled with the SDK
# (`-Zbuild-std`), under `-C panic=immediate-abort`, so a panic is a trap where it
# stands, with no message, location or runtime to reach. sdk/trap-panics.mjs gets
# nearly there on stable by emptying the runtime after the fact, but every call site
# still passes a location and keeps its path to it: 0.6 KB gzipped more (docs/sdk.md).
# Pinned, as the flags are unstable; without it, build.sh builds on stable and traps
# the panics after the fact (`SDK_NIGHTLY= bash sdk/build.sh` builds on stable anyway).
SDK_NIGHTLY=${SDK_NIGHTLY-nightly-2026-05-19}
SDK_NIGHTLY_RUSTFLAGS="-Zunstable-options -C panic=immediate-abort"

# Whether $SDK_NIGHTLY and its std's source are installed (without installing them).
have_sdk_nightly() {
  [ -n "$SDK_NIGHTLY" ] && command -v rustup >/dev/null 2>&1 &&
    rustup toolchain list 2>/dev/null | grep -q "^$SDK_NIGHTLY" &&
    [ -d "$(rustup run "$SDK_NIGHTLY" rustc --print sysroot 2>/dev/null)/lib/rustlib/src/rust/library/std" ]
}

# wasm-opt's passes, after sdk/trap-panics.mjs:
# --converge repeats -Oz until it stops paying; names, DWARF and the producers section
# are of no use in the published module. --low-memory-unused lets it fold constant
# offsets into loads and stores (0.45 KB gzipped): Rust links the stack first, so the
# lowest KB is the far end of the 1 MB stack, never reached by the SDK.
# --one-caller-inline-max-function-size=20 keeps wasm-opt from folding every function
# called once into its caller: the module grows by 3.5 KB but gzips 2.6 KB smaller, the
# same code staying the same bytes where it is called (0 to 40 measured; 20 to 30
# alike, 0 and 40 and above worse).
# Then --flatten --rereloop and -Oz twice more rebuild each function's control flow from
# scratch and shrink it again (0.5 KB gzipped; -Oz takes ~15 s instead of ~5).
# --strip-target-features drops the list of the wasm features the compiler used, which
# only wasm tools read (0.1 KB gzipped).
WASM_OPT_FLAGS=(
  --one-caller-inline-max-function-size=20 --converge -Oz
  --flatten --rereloop -Oz -Oz --low-memory-unused
  --strip-debug --strip-producers --strip-target-features
)

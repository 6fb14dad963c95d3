#!/usr/bin/env bash
# Modbus/TCP Security (feature tls, issue 12): lints and docs with the
# feature, the authorization tests, and the TLS tests on every desktop
# runtime against pymodbus's TLS client, Python's ssl (OpenSSL) and a rustls
# client, with certificates made in the tests (tests/desktop_tls.rs).
# Needs target/venv (ci/clients.sh) and the openssl command (ci/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
FEATURES=tls,async-std,smol,tokio
cargo clippy --all-targets --features "$FEATURES" -- -D warnings
cargo clippy --lib --features tls,tokio -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features "$FEATURES",embedded-io,critical-section,embassy
cargo test --features "$FEATURES" --lib tls
cargo test --features "$FEATURES" --test authorize --test desktop_tls
# With RTU too: TLS with RTU framing is refused.
cargo test --features "$FEATURES",rtu --test desktop_tls tls_with_rtu_framing_is_refused
# The TLS load points, short: every response checked (benches/load/src/tls.rs).
cargo run --release --manifest-path benches/load/Cargo.toml -- tls --duration-ms 300

//! The `bufdir-reporting` service in two rooms. `http` is the HTTP service (poem + poem-openapi),
//! the library the tests drive: startup, state, access, problems and their one mapping,
//! middleware, auth, pages, the watch and the routes. `cli` is the binary: its flags and
//! configuration, the one composition root every subcommand opens the service through, and the
//! subcommands. `http` imports nothing from `cli` (`tests/layout.rs` checks it).

pub mod cli;
pub mod http;

//! Build script of the store: rebuild when a migration changes.

// `sqlx::migrate!` embeds the migrations at compile time; without this a new migration file
// would not rebuild the crate and the binary would run the old schema.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}

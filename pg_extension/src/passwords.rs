//! Password hashing for the front's users (sql/auth.sql): argon2id with the argon2 crate's
//! defaults (OWASP's recommendation: 19 MiB, 2 passes), as PHC strings.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use pgrx::prelude::*;

/// The argon2id hash of a password, as a PHC string (`$argon2id$v=19$...`).
#[pg_extern(volatile, parallel_safe)]
fn hash_front_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    match Argon2::default().hash_password(password.as_bytes(), &salt) {
        Ok(hash) => hash.to_string(),
        Err(e) => error!("hashing a password failed: {e}"),
    }
}

/// Whether `password` matches `hash`; NULL when `hash` is not a PHC string argon2 can check.
#[pg_extern(immutable, parallel_safe)]
fn verify_front_password(hash: &str, password: &str) -> Option<bool> {
    let parsed = PasswordHash::new(hash).ok()?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Some(true),
        Err(argon2::password_hash::Error::Password) => Some(false),
        Err(_) => None,
    }
}

/// A hash no password is known for: checking a login for an unknown user against it costs what
/// checking a real one does.
#[pg_extern(stable, parallel_safe)]
fn dummy_password_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut secret = [0u8; 16];
        OsRng.fill_bytes(&mut secret);
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        hash_front_password(&hex)
    })
}

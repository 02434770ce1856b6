//! Seals and opens a young person's records on the embedded store, shows the version
//! history, what the database actually holds, and crypto-shredding.
//!
//! `cargo run -p omadata-examples --example vault_demo -- [--data DIR]`
//!
//! The master key lives in `DIR/master.key`; it is created only together with a new,
//! empty database, never over existing data.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use omadata_clock::{Clock, SystemClock};
use omadata_store_sled::SledStore;
use omadata_vault::store::VaultStore;
use omadata_vault::{Author, Catalogue, Keyring, MasterKey, ProfessionalId, Vault};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut data = PathBuf::from("demo-data");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data = PathBuf::from(args.next().ok_or("--data needs a directory")?),
            other => {
                return Err(
                    format!("unknown argument {other}; usage: vault_demo [--data DIR]").into(),
                );
            }
        }
    }
    std::fs::create_dir_all(&data)?;
    let key_path = data.join("master.key");
    let db_path = data.join("db");
    if !db_path.exists() && !key_path.exists() {
        MasterKey::generate()?.write_new_file(&key_path)?;
        println!("new master key written to {}", key_path.display());
    }
    let master = MasterKey::from_file(&key_path)?;
    println!(
        "master key id {} (the key itself is never printed or stored in the database)",
        master.id()
    );

    let store = Arc::new(SledStore::open(&db_path)?);
    let vault = Vault::open(
        store.clone(),
        Keyring::new(master),
        Arc::new(Catalogue::builtin()?),
    )?;
    let clock = SystemClock;

    let aino = vault.enrol_client()?;
    let worker = ProfessionalId::random();
    println!("\nenrolled client {aino}");
    vault.write(
        aino,
        "identity.name",
        json!("Aino Virtanen"),
        Author::Client(aino),
        clock.now(),
    )?;
    vault.write(
        aino,
        "needs.own_goals",
        json!("Find a study place in autumn"),
        Author::Client(aino),
        clock.now(),
    )?;
    vault.write(
        aino,
        "plan.agreed_actions",
        json!("Visit the vocational school open day"),
        Author::Professional(worker),
        clock.now(),
    )?;
    vault.write(
        aino,
        "plan.agreed_actions",
        json!("Apply in the joint application by 18 March"),
        Author::Professional(worker),
        clock.now(),
    )?;
    match vault.write(
        aino,
        "identity.shoe_size",
        json!("38"),
        Author::Client(aino),
        clock.now(),
    ) {
        Err(refused) => println!("refused as expected: {refused}"),
        Ok(_) => return Err("a field outside the catalogue was accepted".into()),
    }

    println!("\ncurrent record:");
    for record in vault.current_records(aino)? {
        println!(
            "  {} v{} = {} (by {:?})",
            record.path, record.version, record.value, record.author
        );
    }
    println!("\nhistory of plan.agreed_actions:");
    for record in vault.history(aino, "plan.agreed_actions")? {
        println!(
            "  v{} at {}: {}",
            record.version, record.written_at, record.value
        );
    }
    let stored = store.record_versions(aino, "identity.name")?;
    let sealed = &stored[0].sealed;
    println!(
        "\nwhat the database holds for identity.name: {} bytes, contains the name in clear: {}",
        sealed.len(),
        String::from_utf8_lossy(sealed).contains("Aino")
    );

    let erasure = vault.erase_client(aino)?;
    println!(
        "\nerased {aino}: data key destroyed = {}, records deleted = {}",
        erasure.key_destroyed, erasure.records_deleted
    );
    match vault.read(aino, "identity.name") {
        Err(gone) => println!("reading afterwards: {gone}"),
        Ok(_) => return Err("erased data was still readable".into()),
    }
    Ok(())
}

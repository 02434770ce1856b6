//! Backup files from outside (`omadata restore --from`): the reader never panics and
//! never allocates more than the stated limits, whatever the bytes. Each input is tried
//! as it is and with a correct checksum appended, so record parsing is reached too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use omadata_store_sled::SledStore;

fuzz_target!(|data: &[u8]| {
    let _ = SledStore::check_backup(&mut &data[..]);
    let mut sealed = b"omadata-backup v1\n".to_vec();
    sealed.extend_from_slice(data);
    let digest = ring::digest::digest(&ring::digest::SHA256, &sealed);
    sealed.extend_from_slice(digest.as_ref());
    if let Ok(summary) = SledStore::check_backup(&mut sealed.as_slice()) {
        assert_eq!(summary.bytes, sealed.len() as u64);
    }
});

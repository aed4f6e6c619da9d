//! FNV-1a: a stable hash (the same in every process and every build) for
//! spreading keys, where `std`'s hashers promise no stability.

pub(crate) fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ *b as u32).wrapping_mul(0x0100_0193))
}

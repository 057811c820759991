//! Random UUIDs (object uids, request ids, generated names) without a system call each.
//!
//! `uuid::Uuid::new_v4` asks the kernel for 16 bytes every time: two `getrandom` calls per
//! create, as many as the create's network reads and writes together. Each thread instead
//! takes a block from the kernel's generator and hands it out in pieces, every byte once.

use std::cell::RefCell;

/// Bytes taken from the kernel at a time: 64 UUIDs.
const BLOCK: usize = 1024;

struct Pool {
    bytes: [u8; BLOCK],
    /// How many bytes of `bytes` were handed out already.
    used: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; BLOCK], used: BLOCK }) };
}

/// Fills `out` from the system's secure random generator.
///
/// Panics when the generator fails, as `uuid::Uuid::new_v4` does: nothing sensible can be
/// named or identified without it.
pub fn fill(out: &mut [u8]) {
    POOL.with_borrow_mut(|pool| {
        let mut filled = 0;
        while filled < out.len() {
            if pool.used == BLOCK {
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut pool.bytes).expect("the system's random generator failed");
                pool.used = 0;
            }
            let n = (out.len() - filled).min(BLOCK - pool.used);
            out[filled..filled + n].copy_from_slice(&pool.bytes[pool.used..pool.used + n]);
            pool.used += n;
            filled += n;
        }
    })
}

/// A random (version 4) UUID.
pub fn new_v4() -> uuid::Uuid {
    let mut bytes = [0; 16];
    fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn uuids_are_version_4_and_never_repeat_across_blocks() {
        let ids: HashSet<uuid::Uuid> = (0..10 * BLOCK).map(|_| new_v4()).collect();
        assert_eq!(ids.len(), 10 * BLOCK);
        assert!(ids.iter().all(|id| id.get_version() == Some(uuid::Version::Random) && id.get_variant() == uuid::Variant::RFC4122));
    }

    #[test]
    fn fills_longer_than_a_block_hand_out_fresh_bytes() {
        let mut big = vec![0; 3 * BLOCK + 5];
        fill(&mut big);
        // Every 16-byte piece differs from every other: no byte of a block was handed out twice.
        let pieces: HashSet<&[u8]> = big.chunks_exact(16).collect();
        assert_eq!(pieces.len(), big.len() / 16);
    }
}

//! How many batches each projection has committed, counted in a small file beside the SQLite
//! database that every process using that database maps into memory. SQLite processes share one
//! host (SQLite's own WAL index is shared memory too), so a counter bumped by one process is seen
//! by every other at once, without a query: the read barrier of [`crate::cache`] on SQLite is a
//! few memory loads.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;

/// The projections counted, each in its own slot. A name not listed shares the last slot.
pub(crate) const SLOTS: [&str; 5] = [
    crate::organizations::NAME,
    crate::report_data::NAME,
    crate::submissions::NAME,
    crate::exports::NAME,
    crate::reports::NAME,
];
const FILE_SIZE: u64 = 4096;
const _: () = assert!(SLOTS.len() * 8 <= FILE_SIZE as usize);

pub struct BatchCounts {
    /// The shared file, mapped for as long as `self` lives; the counters are its first bytes.
    map: MmapMut,
}

impl BatchCounts {
    /// Maps the counters of the SQLite database at `database`, creating their file if needed.
    /// `None` when there is no such file to share (an in-memory database) or it cannot be mapped.
    pub fn beside(database: &Path) -> Option<BatchCounts> {
        if database.as_os_str().is_empty() || database.to_string_lossy().contains(":memory:") {
            return None;
        }
        let path = counts_path(database);
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .and_then(|file| {
                if file.metadata()?.len() < FILE_SIZE {
                    file.set_len(FILE_SIZE)?;
                }
                // SAFETY: the file is ours and only ever changed through these atomic counters;
                // other processes map it the same way.
                unsafe { MmapMut::map_mut(&file) }
            });
        match opened {
            Ok(map) => Some(BatchCounts { map }),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %store::causes(&e), "cannot map the read models' batch counters; the read barrier queries the database");
                None
            }
        }
    }

    fn counter(&self, slot: usize) -> &AtomicU64 {
        let offset = slot * std::mem::size_of::<AtomicU64>();
        // SAFETY: the file is made at least FILE_SIZE long before it is mapped and the mapping is
        // page-aligned, so every slot is aligned and inside it; it lives as long as `self`; all
        // access is atomic.
        unsafe { &*(self.map.as_ptr().add(offset) as *const AtomicU64) }
    }

    fn slot(projection: &str) -> usize {
        SLOTS
            .iter()
            .position(|name| *name == projection)
            .unwrap_or(SLOTS.len() - 1)
    }

    /// Counts one committed batch (or rebuild) of `projection`: after its commit, before anyone
    /// is told of it.
    pub fn committed(&self, projection: &str) {
        self.counter(Self::slot(projection))
            .fetch_add(1, Ordering::SeqCst);
    }

    /// Every slot's count now, in the order of [`SLOTS`].
    pub fn now(&self) -> [u64; SLOTS.len()] {
        std::array::from_fn(|slot| self.counter(slot).load(Ordering::SeqCst))
    }
}

fn counts_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-readmodels");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A projection without a slot of its own would share the last one: a batch of it would
    /// drop another's rows and, worse, its own would not be dropped by its batches.
    #[test]
    fn every_projection_has_a_slot_of_its_own() {
        let names: Vec<&str> = crate::all().iter().map(|p| p.name()).collect();
        for name in &names {
            let slot = BatchCounts::slot(name);
            assert_eq!(SLOTS[slot], *name, "{name} has no slot of its own");
        }
        let mut slots: Vec<usize> = names.iter().map(|n| BatchCounts::slot(n)).collect();
        slots.sort();
        slots.dedup();
        assert_eq!(slots.len(), names.len(), "two projections share a slot");
    }
}

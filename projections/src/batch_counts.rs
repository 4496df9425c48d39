//! How many batches each projection has committed, counted in a small file beside the SQLite
//! database that every process using that database maps into memory. SQLite processes share one
//! host (SQLite's own WAL index is shared memory too), so a counter bumped by one process is seen
//! by every other at once, without a query: the read barrier of [`crate::cache`] on SQLite is a
//! few memory loads.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;

use crate::ProjectionName;

/// One counter per read model, in the order of [`ProjectionName::ALL`].
const SLOTS: usize = ProjectionName::ALL.len();
const FILE_SIZE: u64 = 4096;
const _: () = assert!(SLOTS * 8 <= FILE_SIZE as usize);

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

    /// Counts one committed batch (or rebuild) of `projection`: after its commit, before anyone
    /// is told of it.
    pub fn committed(&self, projection: ProjectionName) {
        self.counter(projection.slot())
            .fetch_add(1, Ordering::SeqCst);
    }

    /// Every slot's count now, in the order of [`ProjectionName::ALL`].
    pub fn now(&self) -> [u64; SLOTS] {
        std::array::from_fn(|slot| self.counter(slot).load(Ordering::SeqCst))
    }
}

fn counts_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-readmodels");
    PathBuf::from(name)
}

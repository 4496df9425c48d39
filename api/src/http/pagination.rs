//! `?page=&limit=` and the `{data, pagination}` answer every list gives, as the contracts use
//! them.

use poem_openapi::Object;

/// `?page=&limit=` as the contracts use them.
#[derive(Debug, Clone, Copy)]
pub struct PageParams {
    pub page: u32,
    pub limit: u32,
}

impl PageParams {
    pub(crate) const DEFAULT_LIMIT: u32 = 20;

    pub fn new(page: Option<u32>, limit: Option<u32>) -> Self {
        PageParams {
            page: page.unwrap_or(1),
            limit: limit.unwrap_or(Self::DEFAULT_LIMIT),
        }
    }

    /// The rows this page holds, as the read models take it.
    pub fn rows(&self) -> projections::Page {
        projections::Page {
            offset: u64::from(self.page.saturating_sub(1)) * u64::from(self.limit),
            limit: u64::from(self.limit),
        }
    }

    pub fn pagination(&self, total: u64) -> Pagination {
        Pagination {
            page: self.page,
            limit: self.limit,
            total,
        }
    }

    /// One page of rows as the answer's items, with the pagination for `total`.
    pub(crate) fn page_of<R, T: From<R>>(
        &self,
        (rows, total): (Vec<R>, u64),
    ) -> (Vec<T>, Pagination) {
        (
            rows.into_iter().map(T::from).collect(),
            self.pagination(total),
        )
    }
}

#[derive(Debug, Clone, Object)]
pub struct Pagination {
    pub page: u32,
    pub limit: u32,
    /// Items across all pages.
    pub total: u64,
}

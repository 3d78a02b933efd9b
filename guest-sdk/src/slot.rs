//! Where the author's operator value lives between calls. A Wasm instance
//! is single-threaded and the host never calls it re-entrantly.

use std::cell::RefCell;

use crate::Params;
use crate::bindings::OperatorError;

#[doc(hidden)]
pub struct Slot<T>(RefCell<Option<T>>);

// SAFETY: Wasm components run on one thread; the host never shares an
// instance between threads at once, and never calls it re-entrantly.
unsafe impl<T> Sync for Slot<T> {}

impl<T> Slot<T> {
    #[doc(hidden)]
    pub const fn new() -> Self {
        Slot(RefCell::new(None))
    }

    pub(crate) fn init(
        &self,
        params: Vec<(String, String)>,
        make: impl FnOnce(&Params) -> Result<T, String>,
    ) -> Result<(), String> {
        crate::log::forward_panics();
        let operator = make(&Params::from_pairs(params))?;
        *self.0.borrow_mut() = Some(operator);
        Ok(())
    }

    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&mut T) -> Result<R, OperatorError>,
    ) -> Result<R, OperatorError> {
        let mut slot = self.0.borrow_mut();
        let operator = slot.as_mut().ok_or_else(|| OperatorError {
            record: None,
            message: "operator called before `init`".to_owned(),
        })?;
        f(operator)
    }
}

pub(crate) fn failed(index: usize, error: crate::Error) -> OperatorError {
    OperatorError {
        record: Some(index as u32),
        message: error.to_string(),
    }
}

//! Where a build's output goes: the `{"stream": …}` lines of `POST /build`.
//!
//! Stages built in parallel write into a [`Buffered`] progress each (all but the
//! first of a wave), which is flushed in stage order once the wave is done, so the
//! output reads like the legacy builder's sequential one.

use std::sync::Mutex;

/// A sink for build output.
pub trait Progress: Send + Sync {
    /// Text to show (usually whole lines ending in `\n`).
    fn stream(&self, text: &str);
    /// The ID of the image built (`{"aux": {"ID": …}}`).
    fn aux_id(&self, _id: &str) {}
    /// The client went away: stop the build.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Collects output to replay later.
pub struct Buffered<'a> {
    inner: &'a dyn Progress,
    text: Mutex<String>,
}

impl<'a> Buffered<'a> {
    pub fn new(inner: &'a dyn Progress) -> Self {
        Buffered {
            inner,
            text: Mutex::new(String::new()),
        }
    }

    /// Sends what was collected to the inner sink.
    pub fn flush(&self) {
        let t = std::mem::take(&mut *self.text.lock().unwrap_or_else(|p| p.into_inner()));
        if !t.is_empty() {
            self.inner.stream(&t);
        }
    }
}

impl Progress for Buffered<'_> {
    fn stream(&self, text: &str) {
        self.text
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_str(text);
    }
    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

/// Output into a string (tests, `-q`).
#[derive(Default)]
pub struct Collect(pub Mutex<String>);

impl Progress for Collect {
    fn stream(&self, text: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_str(text);
    }
}

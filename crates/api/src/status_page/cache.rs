//! Rendered answers kept a few seconds: a public page or badge that many readers ask for
//! costs one read of the store per key and period, however many ask.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a rendered answer is reused.
pub const RENDER_TTL: Duration = Duration::from_secs(5);

/// At most this many answers are kept (expired ones are dropped first).
const RENDERS_MAX: usize = 4096;

/// Rendered answers by key (shared by clones).
#[derive(Clone, Default)]
pub struct Renders(Arc<Mutex<HashMap<String, (Instant, String)>>>);

impl std::fmt::Debug for Renders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Renders")
    }
}

/// Caches hold no settings: any two compare equal.
impl PartialEq for Renders {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Renders {}

impl Renders {
    /// The answer rendered for `key` less than [`RENDER_TTL`] ago.
    pub fn get(&self, key: &str) -> Option<String> {
        let map = self.0.lock().ok()?;
        map.get(key)
            .filter(|(at, _)| at.elapsed() < RENDER_TTL)
            .map(|(_, body)| body.clone())
    }

    /// Keeps `body` for `key`.
    pub fn put(&self, key: String, body: String) {
        let Ok(mut map) = self.0.lock() else {
            return;
        };
        if map.len() >= RENDERS_MAX {
            map.retain(|_, (at, _)| at.elapsed() < RENDER_TTL);
            if map.len() >= RENDERS_MAX {
                map.clear();
            }
        }
        map.insert(key, (Instant::now(), body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_by_key_and_is_shared_by_clones() {
        let renders = Renders::default();
        assert_eq!(renders.get("a"), None);
        renders.clone().put("a".into(), "A".into());
        assert_eq!(renders.get("a").as_deref(), Some("A"));
        assert_eq!(renders.get("b"), None);
        for i in 0..RENDERS_MAX + 1 {
            renders.put(i.to_string(), String::new());
        }
        assert!(renders.0.lock().unwrap().len() <= RENDERS_MAX);
    }
}

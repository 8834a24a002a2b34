//! List bodies kept per registry generation, so the same list asked again (the whole
//! catalog, the dashboard's load, a page polled by many clients) is not built or
//! compressed again until the registry changes.
//!
//! A list is answered from [`federation_domain::Federation::list_rendered`]: each
//! project's JSON is made once per change of the project and the body is those bytes
//! joined. A body of at least [`MIN_BODY`] bytes is kept, by path and query, for the
//! generation it was read at: gzip'd for a client that accepts gzip (preferring it to
//! `deflate`, the middleware's other coding) when at most [`MAX_BODY`], as JSON for
//! the others when at most [`PLAIN_MAX_BODY`]. The first gzip request of a generation
//! compresses (one at a time per query; the others wait for it and take its body), the
//! following ones take the bytes. Smaller bodies are compressed per request by the
//! `Compress` middleware, and larger ones are streamed (and compressed as they go), not
//! kept.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::http::header::{AcceptEncoding, Encoding, Header};
use actix_web::web::Bytes;
use actix_web::HttpRequest;
use flate2::write::GzEncoder;
use flate2::Compression;

/// Bodies smaller than this (bytes, uncompressed) are not kept: the middleware's
/// per-request compression of a few KB costs less than keeping them.
pub(crate) const MIN_BODY: usize = 8 * 1024;
/// gzip'd bodies of lists larger than this are not kept either: they are streamed (and
/// compressed by the middleware as they go), so a huge catalog is never held whole.
pub(crate) const MAX_BODY: usize = 16 * 1024 * 1024;
/// Plain JSON bodies are kept up to this size (a few thousand projects), so the kept
/// bodies of [`MAX_QUERIES`] lists stay within tens of MiB; larger ones are streamed.
pub(crate) const PLAIN_MAX_BODY: usize = 1024 * 1024;
/// Different queries kept at once; a new one beyond empties the cache.
const MAX_QUERIES: usize = 32;
/// Bodies up to this size get gzip's default level; larger ones its fastest.
const THOROUGH_UP_TO: usize = 2 * 1024 * 1024;

/// A list's answer as of one generation of the registry: its headers, and its body in
/// each coding asked for in that generation.
#[derive(Debug, Clone)]
pub(crate) struct KeptList {
    /// The registry's generation the body reflects.
    pub(crate) generation: u64,
    /// `X-Total-Count`.
    pub(crate) total: u64,
    /// `X-Federation-Index`.
    pub(crate) revision: u64,
    /// `Link`, when more follow.
    pub(crate) link: Option<String>,
    /// The JSON array, gzip'd.
    pub(crate) gzip: Option<Bytes>,
    /// The JSON array.
    pub(crate) plain: Option<Bytes>,
}

type Slot = Arc<tokio::sync::Mutex<Option<KeptList>>>;

/// The kept answers of the lists asked for lately, by path and query.
#[derive(Debug, Default)]
pub(crate) struct ListCache {
    slots: Mutex<HashMap<String, Slot>>,
}

impl ListCache {
    /// The slot of one list, if it has one.
    pub(crate) fn get(&self, key: &str) -> Option<Slot> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.get(key).map(Arc::clone)
    }

    /// The slot of one list (path and query string as sent), made if it has none.
    pub(crate) fn slot(&self, key: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get(key) {
            return Arc::clone(slot);
        }
        if slots.len() >= MAX_QUERIES {
            slots.clear();
        }
        let slot = Slot::default();
        slots.insert(key.to_owned(), Arc::clone(&slot));
        slot
    }
}

/// Whether the client takes gzip, and prefers it to the middleware's other coding.
pub(crate) fn wants_gzip(req: &HttpRequest) -> bool {
    let Ok(accept) = AcceptEncoding::parse(req) else {
        return false;
    };
    let supported = [Encoding::gzip(), Encoding::deflate(), Encoding::identity()];
    accept.negotiate(supported.iter()) == Some(Encoding::gzip())
}

/// The length of `[a,b,…]`.
pub(crate) fn array_len(items: &[Bytes]) -> usize {
    items.iter().map(|b| b.len() + 1).sum::<usize>() + 1
}

/// `[a,b,…]`, gzip'd.
pub(crate) fn gzip_array(items: &[Bytes]) -> Bytes {
    let len = array_len(items);
    let level = if len <= THOROUGH_UP_TO {
        Compression::default()
    } else {
        Compression::fast()
    };
    let mut gz = GzEncoder::new(Vec::with_capacity(len / 6 + 64), level);
    // Writing into memory cannot fail.
    let mut write = |b: &[u8]| {
        let _ = gz.write_all(b);
    };
    write(b"[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            write(b",");
        }
        write(item);
    }
    write(b"]");
    Bytes::from(gz.finish().unwrap_or_default())
}

/// `[a,b,…]`.
pub(crate) fn join_array(items: &[Bytes]) -> Vec<u8> {
    let mut body = Vec::with_capacity(array_len(items));
    body.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.push(b']');
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use std::io::Read;

    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn joins_and_compresses_the_same_array() {
        let items = vec![Bytes::from_static(b"{\"a\":1}"), Bytes::from_static(b"2")];
        assert_eq!(join_array(&items), b"[{\"a\":1},2]");
        assert_eq!(array_len(&items), join_array(&items).len());
        assert_eq!(gunzip(&gzip_array(&items)), join_array(&items));
        assert_eq!(join_array(&[]), b"[]");
        assert_eq!(gunzip(&gzip_array(&[])), b"[]");
    }

    #[test]
    fn gzip_only_when_the_client_takes_and_prefers_it() {
        let asks = |v: Option<&str>| {
            let mut r = TestRequest::get();
            if let Some(v) = v {
                r = r.insert_header(("accept-encoding", v));
            }
            wants_gzip(&r.to_http_request())
        };
        assert!(asks(Some("gzip")));
        assert!(asks(Some("gzip, deflate, br, zstd")));
        assert!(asks(Some("br;q=1, gzip;q=0.8")));
        assert!(!asks(None));
        assert!(!asks(Some("identity")));
        assert!(!asks(Some("gzip;q=0")));
        assert!(!asks(Some("deflate, gzip;q=0.5")));
        assert!(!asks(Some("br")));
    }

    #[test]
    fn keeps_a_bounded_number_of_queries() {
        let cache = ListCache::default();
        let first = cache.slot("/a");
        assert!(Arc::ptr_eq(&first, &cache.slot("/a")));
        for i in 0..MAX_QUERIES {
            let _ = cache.slot(&format!("/q{i}"));
        }
        assert!(cache.slots.lock().unwrap().len() <= MAX_QUERIES);
        assert!(!Arc::ptr_eq(&first, &cache.slot("/a")));
    }
}

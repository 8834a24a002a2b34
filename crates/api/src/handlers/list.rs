//! The list of projects: filters, pages, cursors, streamed whole.

use super::*;
use crate::compressed::{self, KeptList, ListCache};
use federation_domain::RenderedPage;

/// Projects in slug order; `X-Total-Count` holds how many match.
///
/// A whole list (no `limit`) of a large catalog (tens of thousands of projects) is read
/// and sent in parts, so other requests go on meanwhile: a change made while it is sent
/// may or may not be in it, and `X-Total-Count` and `X-Federation-Index` are as of its
/// start.
///
/// Metadata filters: parameters named `meta.KEY` (at most 16, every one must hold; KEY
/// of `[A-Za-z0-9_.-]`, 1-64 characters, else 422 naming `meta.KEY`) keep the projects
/// whose metadata KEY holds the value: a string equal to it, or another value whose
/// compact JSON is it (`meta.replicas=3`, `meta.allow_fanout=[]`).
#[utoipa::path(
    get,
    path = "/api/fed/projects",
    tag = "projects",
    params(ListQuery, BlockingQuery),
    responses(
        (status = 200, description = "The projects, in slug order", body = Vec<ProjectDto>,
         headers(("X-Total-Count" = u64, description = "How many projects match"),
                 ("X-Federation-Index" = u64, description = "The change-log revision the reply reflects"),
                 ("Link" = String, description = "`<url>; rel=\"next\"` when `limit` was given and more follow"))),
        (status = 422, description = "A bad query value; `field` names it", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn list_projects(
    state: web::Data<ApiState>,
    cache: web::Data<ListCache>,
    req: HttpRequest,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    query_is_utf8(req.query_string()).map_err(ApiError::query)?;
    let ListQuery(filter) = ListQuery::parse(&q)?;
    block(&state, &q).await?;
    if filter.limit.is_none() && filter.offset == 0 {
        if let Some((total, revision)) = state.federation.matching_more_than(&filter, IN_PARTS_FROM)
        {
            return Ok(in_parts(state, filter, total, revision));
        }
    }
    let key = format!("{}?{}", req.path(), req.query_string());
    if compressed::wants_gzip(&req) {
        return gzip_list(&state, &cache, &req, &q, &filter, &key).await;
    }
    if let Some(slot) = cache.get(&key) {
        let held = slot.lock().await;
        if let Some(reply) = kept_answer(&held, state.federation.generation(), false) {
            return Ok(reply);
        }
    }
    let page = state.federation.list_rendered(&filter, render_project);
    let len = compressed::array_len(&page.items);
    if !(compressed::MIN_BODY..=compressed::PLAIN_MAX_BODY).contains(&len) {
        return Ok(plain_reply(&req, &q, &filter, page));
    }
    let link = next_link(req.path(), &q, &filter, &page);
    let body = web::Bytes::from(compressed::join_array(&page.items));
    let fresh = kept_list(&page, link, None, Some(body.clone()));
    keep(&mut *cache.slot(&key).lock().await, &fresh);
    Ok(kept_reply(&fresh, body, false))
}

/// A list for a client that takes gzip: the kept body of this generation, or one
/// compressed now (one request at a time per query) and kept.
async fn gzip_list(
    state: &ApiState,
    cache: &ListCache,
    req: &HttpRequest,
    q: &Query,
    filter: &ListFilter,
    key: &str,
) -> Result<HttpResponse, ApiError> {
    let slot = cache.slot(key);
    let mut held = slot.lock().await;
    if let Some(reply) = kept_answer(&held, state.federation.generation(), true) {
        return Ok(reply);
    }
    let page = state.federation.list_rendered(filter, render_project);
    let len = compressed::array_len(&page.items);
    if !(compressed::MIN_BODY..=compressed::MAX_BODY).contains(&len) {
        drop(held);
        return Ok(plain_reply(req, q, filter, page));
    }
    let mut fresh = kept_list(&page, next_link(req.path(), q, filter, &page), None, None);
    let gzip = web::block(move || compressed::gzip_array(&page.items))
        .await
        .map_err(|_| ApiError::unavailable())?;
    fresh.gzip = Some(gzip.clone());
    keep(&mut held, &fresh);
    Ok(kept_reply(&fresh, gzip, true))
}

/// A list's answer as of `page`'s generation, with the bodies given.
fn kept_list(
    page: &RenderedPage,
    link: Option<String>,
    gzip: Option<web::Bytes>,
    plain: Option<web::Bytes>,
) -> KeptList {
    KeptList {
        generation: page.generation,
        total: page.total,
        revision: page.revision,
        link,
        gzip,
        plain,
    }
}

/// Keeps `fresh` in a list's slot: beside the bodies held for the same generation, in
/// place of an older one's, and not at all over a newer one's (a slower reader's).
fn keep(held: &mut Option<KeptList>, fresh: &KeptList) {
    match held {
        Some(kept) if kept.generation == fresh.generation => {
            if fresh.gzip.is_some() {
                kept.gzip.clone_from(&fresh.gzip);
            }
            if fresh.plain.is_some() {
                kept.plain.clone_from(&fresh.plain);
            }
        }
        Some(kept) if kept.generation > fresh.generation => {}
        _ => *held = Some(fresh.clone()),
    }
}

/// The answer from the slot's body in this coding, if it holds one of this generation.
fn kept_answer(held: &Option<KeptList>, generation: u64, gzip: bool) -> Option<HttpResponse> {
    let kept = held.as_ref().filter(|k| k.generation == generation)?;
    let body = if gzip { &kept.gzip } else { &kept.plain };
    Some(kept_reply(kept, body.clone()?, gzip))
}

/// A kept list's answer with `body`, gzip'd or plain.
fn kept_reply(kept: &KeptList, body: web::Bytes, gzip: bool) -> HttpResponse {
    let mut reply = HttpResponse::Ok();
    reply
        .insert_header(("X-Total-Count", kept.total.to_string()))
        .insert_header((INDEX_HEADER, kept.revision.to_string()));
    if let Some(link) = &kept.link {
        reply.insert_header((header::LINK, link.clone()));
    }
    reply.content_type("application/json");
    if gzip {
        reply
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .append_header((header::VARY, "accept-encoding"));
    }
    reply.body(body)
}

/// A list as its JSON (the `Compress` middleware gzips it for a client that asks).
fn plain_reply(
    req: &HttpRequest,
    q: &Query,
    filter: &ListFilter,
    page: RenderedPage,
) -> HttpResponse {
    let mut reply = HttpResponse::Ok();
    reply
        .insert_header(("X-Total-Count", page.total.to_string()))
        .insert_header((INDEX_HEADER, page.revision.to_string()));
    if let Some(next) = next_link(req.path(), q, filter, &page) {
        reply.insert_header((header::LINK, next));
    }
    reply.content_type("application/json");
    if filter.limit.is_none() {
        // The whole catalog may be asked for: stream it in chunks of projects rather
        // than building one large body.
        return reply.streaming(json_array_stream(page.items));
    }
    // A page (at most 1,000): one body with its length, no chunking.
    reply.body(compressed::join_array(&page.items))
}

/// One project's JSON, as the list and `GET /api/fed/projects/{slug}` answer it: the
/// bytes the registry keeps for the project until it changes (a DTO of strings, numbers
/// and options cannot fail to serialize).
pub(crate) fn render_project(p: &federation_domain::Project) -> web::Bytes {
    serde_json::to_vec(&ProjectDto::from(p))
        .map_or_else(|_| web::Bytes::from_static(b"null"), web::Bytes::from)
}

/// Projects per chunk of a streamed list.
const LIST_CHUNK: usize = 256;

/// A whole list of more projects than this is read in parts of [`LIST_CHUNK`], the
/// registry held for one part at a time, and sent as it is read: reads and writes of
/// other requests go on between the parts (one read of a million projects would hold
/// them for seconds), and no copy of the list is made. A change made while it is sent
/// may or may not be in it; `X-Total-Count` and `X-Federation-Index` are as of its start.
const IN_PARTS_FROM: u64 = 20_000;

/// The whole list as read in parts (see [`IN_PARTS_FROM`]).
fn in_parts(
    state: web::Data<ApiState>,
    filter: ListFilter,
    total: u64,
    revision: u64,
) -> HttpResponse {
    struct Reading {
        state: web::Data<ApiState>,
        filter: ListFilter,
        cursor: Option<federation_domain::Slug>,
        first: bool,
        written: bool,
    }
    let start = Reading {
        cursor: filter.after.clone(),
        state,
        filter,
        first: true,
        written: false,
    };
    let parts = futures::stream::unfold(Some(start), |reading| async move {
        let mut r = reading?;
        let mut buf = Vec::with_capacity(LIST_CHUNK * 400);
        if std::mem::take(&mut r.first) {
            buf.push(b'[');
        } else {
            // Every part is ready at once, and a client that reads fast keeps the socket
            // writable: without a turn given back here, the connection's worker would
            // send the whole list before serving its other connections.
            actix_web::rt::task::yield_now().await;
        }
        // A part that matched nothing (a scan of a sparse filter) is not sent alone.
        let next = loop {
            let (items, next) = r.state.federation.part_rendered(
                &r.filter,
                r.cursor.as_ref(),
                LIST_CHUNK,
                render_project,
            );
            for p in &items {
                if std::mem::replace(&mut r.written, true) {
                    buf.push(b',');
                }
                buf.extend_from_slice(p);
            }
            if !items.is_empty() || next.is_none() {
                break next;
            }
            r.cursor = next;
            actix_web::rt::task::yield_now().await;
        };
        let more = next.is_some();
        if !more {
            buf.push(b']');
        }
        r.cursor = next;
        let chunk: Result<web::Bytes, std::convert::Infallible> = Ok(web::Bytes::from(buf));
        Some((chunk, more.then_some(r)))
    });
    HttpResponse::Ok()
        .insert_header(("X-Total-Count", total.to_string()))
        .insert_header((INDEX_HEADER, revision.to_string()))
        .content_type("application/json")
        .streaming(parts)
}

/// `[p1,p2,…]` as a stream of chunks of at most [`LIST_CHUNK`] projects.
fn json_array_stream(
    items: Vec<web::Bytes>,
) -> impl futures::Stream<Item = Result<web::Bytes, std::convert::Infallible>> {
    let total = items.len();
    let mut items = items.into_iter();
    let mut written = 0usize;
    let mut done = false;
    futures::stream::poll_fn(move |_| {
        if done {
            return std::task::Poll::Ready(None);
        }
        let mut buf = Vec::with_capacity(LIST_CHUNK * 400);
        if written == 0 {
            buf.push(b'[');
        }
        for p in items.by_ref().take(LIST_CHUNK) {
            if written > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(&p);
            written += 1;
        }
        if written == total {
            buf.push(b']');
            done = true;
        }
        std::task::Poll::Ready(Some(Ok(web::Bytes::from(buf))))
    })
}

/// Refuses a query value that is not UTF-8 once percent-decoded (the query extractor
/// would replace the bad bytes by U+FFFD and go on), naming its parameter.
fn query_is_utf8(raw: &str) -> Result<(), federation_domain::ValidationError> {
    fn hex(b: u8) -> Option<u8> {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    for pair in raw.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let mut bytes = Vec::with_capacity(value.len());
        let mut it = value.bytes();
        while let Some(b) = it.next() {
            match b {
                b'%' => {
                    let mut rest = it.clone();
                    match (rest.next().and_then(hex), rest.next().and_then(hex)) {
                        (Some(h), Some(l)) => {
                            bytes.push(h * 16 + l);
                            it = rest;
                        }
                        _ => bytes.push(b),
                    }
                }
                b'+' => bytes.push(b' '),
                other => bytes.push(other),
            }
        }
        if std::str::from_utf8(&bytes).is_err() {
            let field: String = key.chars().take(64).collect();
            return Err(federation_domain::ValidationError::new(
                field,
                "must be UTF-8 text",
            ));
        }
    }
    Ok(())
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn encode_query_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `Link: <…>; rel="next"` of a page asked for with `limit`, when more follow: by
/// cursor when the request used `after`, by offset otherwise. Other parameters are kept.
fn next_link(path: &str, q: &Query, filter: &ListFilter, page: &RenderedPage) -> Option<String> {
    let limit = filter.limit?;
    let got = u64::try_from(page.items.len()).ok()?;
    let (name, value) = if filter.after.is_some() {
        if got < u64::from(limit) {
            return None;
        }
        ("after", page.last.as_ref()?.to_string())
    } else {
        let next = filter.offset.checked_add(got)?;
        if got == 0 || next >= page.total {
            return None;
        }
        ("offset", next.to_string())
    };
    let mut params: Vec<(&str, &str)> = q
        .iter()
        .filter(|(k, _)| k.as_str() != name && k.as_str() != "offset" && k.as_str() != "after")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    params.sort_unstable();
    let mut query: Vec<String> = params
        .into_iter()
        .map(|(k, v)| format!("{}={}", encode_query_value(k), encode_query_value(v)))
        .collect();
    query.push(format!("{name}={}", encode_query_value(&value)));
    Some(format!("<{path}?{}>; rel=\"next\"", query.join("&")))
}

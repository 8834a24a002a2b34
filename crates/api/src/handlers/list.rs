//! The list of projects: filters, pages, cursors, streamed whole.

use super::*;

/// Projects in slug order; `X-Total-Count` holds how many match.
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
    req: HttpRequest,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    query_is_utf8(req.query_string()).map_err(ApiError::query)?;
    let ListQuery(filter) = ListQuery::parse(&q)?;
    block(&state, &q).await?;
    let page = state.federation.list(&filter);
    let mut reply = HttpResponse::Ok();
    reply
        .insert_header(("X-Total-Count", page.total.to_string()))
        .insert_header((INDEX_HEADER, page.revision.to_string()));
    if let Some(next) = next_link(req.path(), &q, &filter, &page) {
        reply.insert_header((header::LINK, next));
    }
    reply.content_type("application/json");
    if filter.limit.is_none() {
        // The whole catalog may be asked for: stream it in chunks of serialized
        // projects rather than building one large body.
        return Ok(reply.streaming(json_array_stream(page.items)));
    }
    // A page (at most 1,000): one body with its length, no chunking.
    let mut body = Vec::with_capacity(page.items.len() * 320 + 2);
    body.push(b'[');
    for (i, p) in page.items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        write_project(&mut body, p);
    }
    body.push(b']');
    Ok(reply.body(body))
}

/// One project's JSON (a DTO of strings, numbers and options cannot fail to serialize).
fn write_project(buf: &mut Vec<u8>, p: &federation_domain::Project) {
    if serde_json::to_writer(&mut *buf, &ProjectDto::from(p)).is_err() {
        buf.extend_from_slice(b"null");
    }
}

/// Projects per chunk of a streamed list.
const LIST_CHUNK: usize = 256;

/// `[p1,p2,…]` as a stream of chunks of at most [`LIST_CHUNK`] projects.
fn json_array_stream(
    items: Vec<federation_domain::Project>,
) -> impl futures::Stream<Item = Result<web::Bytes, std::convert::Infallible>> {
    let total = items.len();
    let mut items = items.into_iter();
    let mut written = 0usize;
    let mut done = false;
    futures::stream::poll_fn(move |_| {
        if done {
            return std::task::Poll::Ready(None);
        }
        let mut buf = Vec::with_capacity(LIST_CHUNK * 256);
        if written == 0 {
            buf.push(b'[');
        }
        for p in items.by_ref().take(LIST_CHUNK) {
            if written > 0 {
                buf.push(b',');
            }
            write_project(&mut buf, &p);
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
fn next_link(
    path: &str,
    q: &Query,
    filter: &ListFilter,
    page: &federation_domain::ProjectPage,
) -> Option<String> {
    let limit = filter.limit?;
    let got = u64::try_from(page.items.len()).ok()?;
    let (name, value) = if filter.after.is_some() {
        if got < u64::from(limit) {
            return None;
        }
        ("after", page.items.last()?.slug.to_string())
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

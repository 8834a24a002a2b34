//! `GET/PUT/DELETE /api/fed/slos/{name}`: one objective, read and written over REST.
//! Stored ones join the catalog file's; the file wins for the names it declares (a
//! write of one is a 409 naming it). Docs: docs/uptime.md.

use std::borrow::Cow;

use actix_web::{web, HttpResponse};
use federation_domain::uptime::{ObjectiveInput, SLO_PERCENT_EXCLUSIVE, SLO_WINDOWS};
use serde::Deserialize;
use utoipa::openapi::schema::{
    AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Object, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::slo::SloDto;
use crate::error::{ApiError, ErrorBody};
use crate::ApiState;

fn percent() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Number))
        .exclusive_minimum(Some(SLO_PERCENT_EXCLUSIVE.0))
        .exclusive_maximum(Some(SLO_PERCENT_EXCLUSIVE.1))
        .description(Some("The target uptime in percent, above 0 and below 100"))
        .examples([99.9])
        .build()
}

fn window() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(SLO_WINDOWS.iter().copied().map(Some).chain([None])))
        .description(Some("The window it is kept over; absent or null: `30d`"))
        .examples(["30d"])
        .build()
}

fn null() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Null))
        .build()
}

/// The object of one subject kind: `subject` (given), the other kind's field absent or
/// null, then `objective` and `window`; nothing else.
fn by_subject(subject: &str, schema: Object, other: &str, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .title(Some(format!("by {subject}")))
        .description(Some(description))
        .property(subject, schema)
        .required(subject)
        .property(other, null())
        .property("objective", percent())
        .required("objective")
        .property("window", window())
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
        .build()
}

/// An objective, as `PUT /api/fed/slos/{name}` takes it: exactly one of `project` and
/// `tag` (its schema is the `oneOf` of the two, written by hand below from the same
/// field schemas; [`ObjectiveInput::validate`] enforces the rule with a 422 naming
/// `project`); the name is the path's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SloBody {
    /// The project's slug (or give `tag`).
    #[serde(default)]
    project: Option<String>,
    /// The tag (or give `project`).
    #[serde(default)]
    tag: Option<String>,
    /// The target uptime in percent.
    objective: f64,
    /// `7d`, `30d` (the default) or `90d`.
    #[serde(default)]
    window: Option<String>,
}

impl PartialSchema for SloBody {
    fn schema() -> RefOr<Schema> {
        Schema::OneOf(
            OneOfBuilder::new()
                .item(by_subject(
                    "project",
                    crate::schemas::slug(),
                    "tag",
                    "An objective for one project, by its slug",
                ))
                .item(by_subject(
                    "tag",
                    crate::schemas::tag(),
                    "project",
                    "An objective for the projects with a tag",
                ))
                .description(Some(
                    "An objective: exactly one of `project` and `tag`, the target and \
                     the window; its name is the path's",
                ))
                .examples([serde_json::json!(
                    {"tag": "production", "objective": 99.9, "window": "30d"}
                )])
                .build(),
        )
        .into()
    }
}

impl ToSchema for SloBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SloInput")
    }
}

/// The path's objective name as the schema states it: a slug, like
/// [`federation_domain::uptime::ObjectiveInput::validate`] asks (a 422 naming `name`
/// otherwise).
pub(crate) struct ObjectiveName;

impl PartialSchema for ObjectiveName {
    fn schema() -> RefOr<Schema> {
        let mut name = crate::schemas::slug();
        name.description = Some("An objective's name: a slug".to_owned());
        name.examples = vec![serde_json::json!("tag-production")];
        Schema::Object(name).into()
    }
}

impl ToSchema for ObjectiveName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ObjectiveName")
    }
}

fn no_slo(name: &str) -> ApiError {
    ApiError::not_found(format!("no objective named {name}"))
}

fn dto_of(state: &ApiState, name: &str) -> Result<SloDto, ApiError> {
    let uptime = &state.uptime;
    uptime
        .slos()
        .get(name)
        .map(|s| SloDto::of(&s, uptime.slo_in_file(name)))
        .ok_or_else(|| no_slo(name))
}

/// One objective (from the catalog file or REST) and where it stands.
#[utoipa::path(
    get,
    path = "/api/fed/slos/{name}",
    tag = "uptime",
    params(("name" = String, Path, description = "The objective's name")),
    responses(
        (status = 200, description = "The objective", body = SloDto),
        (status = 404, description = "No such objective", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn get_slo(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(dto_of(&state, &name.to_ascii_lowercase())?))
}

/// Creates or replaces the objective `name`, stored in the database. Every replica
/// keeps it within 15 s (this one at once); its budget is computed within a minute.
#[utoipa::path(
    put,
    path = "/api/fed/slos/{name}",
    tag = "uptime",
    params(("name" = ObjectiveName, Path, description = "The objective's name: a slug")),
    request_body(content = SloBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = SloDto),
        (status = 201, description = "Created", body = SloDto),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "The catalog file declares this name, and the file wins (`slo_declared_in_file`); or another objective has this project or tag (`slo_subject_taken`); or the name is new and the most objectives are stored already (`too_many`, see the description)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "An invalid field; `field` names it (`name`, `project`, `tag`, `objective`, `window`)", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn put_slo(
    state: web::Data<ApiState>,
    name: web::Path<String>,
    body: web::Json<SloBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = ObjectiveInput {
        name: Some(name.into_inner()),
        project: body.project,
        tag: body.tag,
        objective: Some(body.objective),
        window: body.window,
    };
    let (objective, created) = state.uptime.put_slo(&input).await?;
    tracing::info!(slo = %objective.name, created, "objective written");
    let dto = dto_of(&state, &objective.name)?;
    Ok(if created {
        HttpResponse::Created().json(dto)
    } else {
        HttpResponse::Ok().json(dto)
    })
}

/// Removes the objective `name` (made over REST).
#[utoipa::path(
    delete,
    path = "/api/fed/slos/{name}",
    tag = "uptime",
    params(("name" = String, Path, description = "The objective's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such objective", body = ErrorBody),
        (status = 409, description = "The catalog file declares this name, and the file wins (`slo_declared_in_file`)", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn delete_slo(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.to_ascii_lowercase();
    if !state.uptime.delete_slo(&name).await? {
        return Err(no_slo(&name));
    }
    tracing::info!(slo = %name, "objective deleted");
    Ok(HttpResponse::NoContent().finish())
}

//! PostgreSQL statements of fixed text that each connection parses and plans once.
//!
//! diesel caches a prepared statement per connection only for queries it can key:
//! `sql_query` never is (its text could be anything), nor are `UPDATE`, `ON CONFLICT`
//! or multi-row `VALUES` built with the query builder. A [`Prepared`] statement has one
//! text whatever its input (lists travel as arrays: `UNNEST($1::text[])`, `= ANY($1)`),
//! so diesel keys it by that text and its bind types, and the write path's statements
//! are parsed on a connection's first use only.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{
    Array, BigInt, Binary, Bool, Integer, Nullable, Text, Timestamptz, Untyped,
};
use diesel::QueryResult;

/// Where a bind goes in a [`Prepared`] statement's text (PostgreSQL's `$n`, numbered
/// by diesel).
pub(crate) const MARK: &str = "$?";

/// One bound value.
#[derive(Debug)]
pub(crate) enum Bind<'a> {
    BigInt(i64),
    Bool(bool),
    OptInt(Option<i32>),
    Text(&'a str),
    OptText(Option<&'a str>),
    OptBytes(Option<&'a [u8]>),
    Time(DateTime<Utc>),
    BigInts(Vec<i64>),
    Ints(Vec<i32>),
    OptInts(Vec<Option<i32>>),
    Texts(Vec<&'a str>),
    OwnedTexts(Vec<String>),
    OptTexts(Vec<Option<&'a str>>),
    Times(Vec<DateTime<Utc>>),
    OptTimes(Vec<Option<DateTime<Utc>>>),
}

/// A statement of fixed text with its binds, one per [`MARK`] in order. Load rows
/// with `QueryableByName` types, as from `sql_query`.
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    sql: &'static str,
    binds: Vec<Bind<'a>>,
}

impl<'a> Prepared<'a> {
    pub(crate) fn new(sql: &'static str, binds: Vec<Bind<'a>>) -> Self {
        Self { sql, binds }
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    // Keyed by its text (and bind types) in the connection's statement cache.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let marks = self.sql.matches(MARK).count();
        if marks != self.binds.len() {
            return Err(diesel::result::Error::QueryBuilderError(
                format!(
                    "a prepared statement has {marks} binds in its text and {} values",
                    self.binds.len()
                )
                .into(),
            ));
        }
        let mut pieces = self.sql.split(MARK);
        out.push_sql(pieces.next().unwrap_or_default());
        for (bind, piece) in self.binds.iter().zip(pieces) {
            match bind {
                Bind::BigInt(v) => out.push_bind_param::<BigInt, _>(v)?,
                Bind::Bool(v) => out.push_bind_param::<Bool, _>(v)?,
                Bind::OptInt(v) => out.push_bind_param::<Nullable<Integer>, _>(v)?,
                Bind::Text(v) => out.push_bind_param::<Text, _>(v)?,
                Bind::OptText(v) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                Bind::OptBytes(v) => out.push_bind_param::<Nullable<Binary>, _>(v)?,
                Bind::Time(v) => out.push_bind_param::<Timestamptz, _>(v)?,
                Bind::BigInts(v) => out.push_bind_param::<Array<BigInt>, _>(v)?,
                Bind::Ints(v) => out.push_bind_param::<Array<Integer>, _>(v)?,
                Bind::OptInts(v) => out.push_bind_param::<Array<Nullable<Integer>>, _>(v)?,
                Bind::Texts(v) => out.push_bind_param::<Array<Text>, _>(v)?,
                Bind::OwnedTexts(v) => out.push_bind_param::<Array<Text>, _>(v)?,
                Bind::OptTexts(v) => out.push_bind_param::<Array<Nullable<Text>>, _>(v)?,
                Bind::Times(v) => out.push_bind_param::<Array<Timestamptz>, _>(v)?,
                Bind::OptTimes(v) => out.push_bind_param::<Array<Nullable<Timestamptz>>, _>(v)?,
            }
            out.push_sql(piece);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::query_builder::{QueryBuilder, QueryFragment};

    fn text(q: &Prepared<'_>) -> QueryResult<String> {
        let mut builder = diesel::pg::PgQueryBuilder::default();
        q.to_sql(&mut builder, &Pg)?;
        Ok(builder.finish())
    }

    #[test]
    fn numbers_its_binds_in_order() {
        let q = Prepared::new(
            "SELECT $?::bigint, x FROM UNNEST($?::text[]) AS x",
            vec![Bind::BigInt(1), Bind::Texts(vec!["a"])],
        );
        assert_eq!(
            text(&q).unwrap(),
            "SELECT $1::bigint, x FROM UNNEST($2::text[]) AS x"
        );
        assert!(q.is_safe_to_cache_prepared(&Pg).unwrap());
    }

    #[test]
    fn refuses_a_bind_count_that_does_not_match_its_text() {
        let q = Prepared::new("SELECT $?, $?", vec![Bind::BigInt(1)]);
        assert!(text(&q).is_err());
    }
}

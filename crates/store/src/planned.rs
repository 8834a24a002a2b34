//! Reads that take a list (`= ANY($1)`) are planned for each call, never from a plan
//! the connection cached.
//!
//! diesel keeps a prepared statement per connection for every query it can key, and
//! PostgreSQL soon plans such a statement once for all calls (its generic plan). A plan
//! made while a table was nearly empty (a new database, a fleet just registering)
//! stays until the table is next analyzed: measured, a read of 1,000 projects by slug
//! scanned all 10,000 rows, comparing each with the 1,000 slugs, in 130 ms instead of
//! 2 ms by index, and the status events of a fleet coming online waited seconds behind
//! it. Planned for each call, the plan follows the table's size and the list's length;
//! it costs a parse per call, which a read of up to a thousand rows does not notice.
//! The write path's statements of fixed text ([`crate::prepared`]) stay cached.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::QueryResult;

/// A query that is never taken from, nor put in, the connection's statement cache.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlannedEachCall<Q>(Q);

/// `.planned_each_call()` on any query.
pub(crate) trait PlanEachCall: Sized {
    /// This query, planned by the server at each call (see the module docs).
    fn planned_each_call(self) -> PlannedEachCall<Self> {
        PlannedEachCall(self)
    }
}

impl<Q: Query> PlanEachCall for Q {}

impl<Q> QueryId for PlannedEachCall<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for PlannedEachCall<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, DB> QueryFragment<DB> for PlannedEachCall<Q>
where
    Q: QueryFragment<DB>,
    DB: Backend,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        self.0.walk_ast(out)
    }
}

impl<Q, Conn> diesel::RunQueryDsl<Conn> for PlannedEachCall<Q> {}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::pg::Pg;
    use diesel::prelude::{ExpressionMethods, QueryDsl};
    use diesel::query_builder::QueryBuilder;

    use crate::schema::projects;

    fn cached(q: &impl QueryFragment<Pg>) -> bool {
        q.is_safe_to_cache_prepared(&Pg).unwrap()
    }

    fn text(q: &impl QueryFragment<Pg>) -> String {
        let mut builder = diesel::pg::PgQueryBuilder::default();
        q.to_sql(&mut builder, &Pg).unwrap();
        builder.finish()
    }

    #[test]
    fn a_read_by_list_is_kept_out_of_the_statement_cache_with_its_text_unchanged() {
        let read = projects::table
            .filter(projects::slug.eq_any(vec!["a", "b"]))
            .select(projects::id);
        assert!(cached(&read), "diesel caches it as it is");
        let read_text = text(&read);
        let planned = read.planned_each_call();
        assert!(!cached(&planned));
        assert_eq!(text(&planned), read_text);
    }
}

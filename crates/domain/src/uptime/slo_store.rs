//! Objectives made over REST: the port the stores implement, and the rules that join
//! them to the catalog file's. The file wins for the names it declares: a stored
//! objective with such a name is not kept, and a write of one is refused (409).

use std::sync::Arc;

use async_trait::async_trait;

use super::service::Uptime;
use super::slo::{Objective, ObjectiveInput};
use crate::error::{RepositoryError, ServiceError, ValidationError};

/// The most objectives kept in the store (each is a few metric series; the catalog
/// file's do not count).
pub const SLOS_MAX: usize = 1_000;

/// Code of the 409 a new objective gets when [`SLOS_MAX`] are stored already.
pub const SLO_LIMIT: &str = "too_many";

/// The result of a put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SloWrite {
    /// A new objective was stored.
    Created,
    /// The objective of that name was replaced.
    Replaced,
    /// [`SLOS_MAX`] objectives are stored already and this name is new: nothing was
    /// written.
    Full,
}

/// Where objectives made over REST are kept.
#[async_trait]
pub trait SloStore: Send + Sync + 'static {
    /// Every stored objective, by name.
    async fn list_slos(&self) -> Result<Vec<Objective>, RepositoryError>;

    /// Stores `objective` under its name, replacing one of the same name; a new name
    /// when [`SLOS_MAX`] are stored is refused in the same transaction.
    async fn put_slo(&self, objective: &Objective) -> Result<SloWrite, RepositoryError>;

    /// Removes the objective named `name`; `false` when there was none.
    async fn delete_slo(&self, name: &str) -> Result<bool, RepositoryError>;
}

/// The objectives kept: the file's, in its order, then the stored ones by name, less
/// those the file declares (its names win) and those whose subject an objective
/// before them already has (one objective per subject, so the metrics' series stay
/// apart).
pub fn merge_objectives(file: &[Objective], mut stored: Vec<Objective>) -> Vec<Objective> {
    stored.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out: Vec<Objective> = file.to_vec();
    for o in stored {
        if out
            .iter()
            .any(|k| k.name == o.name || k.subject == o.subject)
        {
            continue;
        }
        out.push(o);
    }
    out
}

/// Code of the 409 a write of a name the catalog file declares gets.
pub const SLO_DECLARED_IN_FILE: &str = "slo_declared_in_file";
/// Code of the 409 a write gets whose subject another objective has.
pub const SLO_SUBJECT_TAKEN: &str = "slo_subject_taken";

impl Uptime {
    /// The same, keeping objectives made over REST in `store`.
    pub fn with_slo_store(mut self, store: Arc<dyn SloStore>) -> Self {
        self.slo_store = Some(store);
        self
    }

    /// Whether the catalog file declares the objective `name` (the file wins for it).
    pub fn slo_in_file(&self, name: &str) -> bool {
        self.file_slos.iter().any(|o| o.name == name)
    }

    /// Whether objectives can be written (a store was given).
    pub fn slos_writable(&self) -> bool {
        self.slo_store.is_some()
    }

    fn slo_store(&self) -> Result<&Arc<dyn SloStore>, ServiceError> {
        self.slo_store.as_ref().ok_or_else(|| {
            ServiceError::Repository(RepositoryError::Unavailable("no objective store".into()))
        })
    }

    fn declared_in_file(&self, name: &str) -> Result<(), ValidationError> {
        if self.file_slos.iter().any(|o| o.name == name) {
            return Err(ValidationError::conflict(
                SLO_DECLARED_IN_FILE,
                "name",
                format!(
                    "the objective {name} is declared in the catalog file, which wins; \
                     change it there"
                ),
            ));
        }
        Ok(())
    }

    /// Re-reads the stored objectives and sets the board to them joined to the file's
    /// (see [`merge_objectives`]); without a store, nothing.
    pub async fn reload_slos(&self) -> Result<(), RepositoryError> {
        let Some(store) = &self.slo_store else {
            return Ok(());
        };
        let stored = store.list_slos().await?;
        self.slos
            .set_objectives(merge_objectives(&self.file_slos, stored));
        Ok(())
    }

    /// Validates `input` (its name the path's) and stores it; `true` when created.
    /// A name the file declares, or a subject another objective has, is a conflict.
    pub async fn put_slo(&self, input: &ObjectiveInput) -> Result<(Objective, bool), ServiceError> {
        let objective = input.validate()?;
        self.declared_in_file(&objective.name)?;
        let store = self.slo_store()?;
        let stored = store.list_slos().await?;
        let kept = merge_objectives(&self.file_slos, stored);
        if let Some(other) = kept
            .iter()
            .find(|k| k.subject == objective.subject && k.name != objective.name)
        {
            return Err(ValidationError::conflict(
                SLO_SUBJECT_TAKEN,
                objective.subject.kind(),
                format!(
                    "the objective {} already has {} {}",
                    other.name,
                    objective.subject.kind(),
                    objective.subject.name()
                ),
            )
            .into());
        }
        let created = match store.put_slo(&objective).await? {
            SloWrite::Created => true,
            SloWrite::Replaced => false,
            SloWrite::Full => {
                return Err(ValidationError::conflict(
                    SLO_LIMIT,
                    "name",
                    format!("at most {SLOS_MAX} objectives are stored; delete one first"),
                )
                .into())
            }
        };
        self.reload_slos().await?;
        Ok((objective, created))
    }

    /// Removes the stored objective `name`; `false` when there was none. A name the
    /// file declares is a conflict.
    pub async fn delete_slo(&self, name: &str) -> Result<bool, ServiceError> {
        self.declared_in_file(name)?;
        let removed = self.slo_store()?.delete_slo(name).await?;
        self.reload_slos().await?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uptime::{DegradedCounts, MemoryUptime};

    fn input(name: &str, tag: &str, percent: f64) -> ObjectiveInput {
        ObjectiveInput {
            name: Some(name.into()),
            tag: Some(tag.into()),
            objective: Some(percent),
            ..ObjectiveInput::default()
        }
    }

    #[tokio::test]
    async fn the_file_wins_for_its_names_and_subjects_stay_apart() {
        let file = input("prod", "production", 99.9).validate().unwrap();
        let source = Arc::new(MemoryUptime::new());
        let uptime = Uptime::new(source.clone(), DegradedCounts::Up)
            .with_objectives(vec![file.clone()])
            .with_slo_store(source.clone());
        let conflict = |e: ServiceError| match e {
            ServiceError::Validation(v) => v.conflict,
            other => panic!("{other:?}"),
        };
        let e = uptime
            .put_slo(&input("prod", "edge", 99.0))
            .await
            .unwrap_err();
        assert_eq!(conflict(e), Some(SLO_DECLARED_IN_FILE));
        let e = uptime.delete_slo("prod").await.unwrap_err();
        assert_eq!(conflict(e), Some(SLO_DECLARED_IN_FILE));
        let e = uptime
            .put_slo(&input("other", "production", 99.0))
            .await
            .unwrap_err();
        assert_eq!(conflict(e), Some(SLO_SUBJECT_TAKEN));

        let (edge, created) = uptime.put_slo(&input("edge", "edge", 99.0)).await.unwrap();
        assert!(created);
        let names: Vec<_> = uptime
            .slos()
            .statuses()
            .into_iter()
            .map(|s| s.objective.name)
            .collect();
        assert_eq!(names, ["prod", "edge"]);
        let (_, created) = uptime.put_slo(&input("edge", "edge", 98.0)).await.unwrap();
        assert!(!created);
        assert_eq!(uptime.slos().get("edge").unwrap().objective.percent, 98.0);
        assert_ne!(uptime.slos().get("edge").unwrap().objective, edge);

        // A stored objective the file later declares is not kept.
        source
            .put_slo(&input("prod", "edge2", 90.0).validate().unwrap())
            .await
            .unwrap();
        uptime.reload_slos().await.unwrap();
        assert_eq!(uptime.slos().get("prod").unwrap().objective, file);
        assert!(uptime.delete_slo("edge").await.unwrap());
        assert!(!uptime.delete_slo("edge").await.unwrap());
        assert!(uptime.slos().get("edge").is_none());
    }

    #[tokio::test]
    async fn a_new_name_beyond_the_limit_is_a_conflict_naming_it() {
        let source = Arc::new(MemoryUptime::new());
        let uptime = Uptime::new(source.clone(), DegradedCounts::Up).with_slo_store(source.clone());
        for i in 0..SLOS_MAX {
            let o = input(&format!("o{i}"), &format!("t{i}"), 99.0);
            source.put_slo(&o.validate().unwrap()).await.unwrap();
        }
        let e = uptime
            .put_slo(&input("extra", "extra", 99.0))
            .await
            .unwrap_err();
        let ServiceError::Validation(v) = e else {
            panic!("{e:?}")
        };
        assert_eq!(v.conflict, Some(SLO_LIMIT));
        assert!(v.to_string().contains("at most 1000"), "{v}");
        let (_, created) = uptime.put_slo(&input("o3", "t3", 95.0)).await.unwrap();
        assert!(!created, "a stored name is still replaced");
    }
}

//! The `ModelRegistry` trait: registered models, numbered versions, aliases and stages, with
//! `promote` and `rollback` written once on top of them so both back ends behave the same.

use async_trait::async_trait;

use crate::model::{
    now_ms, ModelVersion, NewModelVersion, NewRegisteredModel, OtherVersions, ProductionEntry, RegisteredModel, Stage, ALIAS_CHALLENGER,
    ALIAS_CHAMPION, TAG_PRODUCTION_HISTORY,
};
use crate::TrackingError;

/// How many production entries a model keeps (the tag must stay under MLflow's 5000-byte
/// limit for registered-model tag values).
pub const PRODUCTION_HISTORY_LEN: usize = 100;

/// A model registry: MLflow's registry API, implemented by the embedded store and by the
/// MLflow REST client. Object safe (`Arc<dyn ModelRegistry>`).
#[async_trait]
pub trait ModelRegistry: Send + Sync {
    /// Where the registry lives, without credentials.
    fn uri(&self) -> String;

    /// Registers a model.
    ///
    /// # Errors
    /// [`TrackingError::AlreadyExists`] when the name is taken.
    async fn create_registered_model(&self, model: &NewRegisteredModel) -> Result<RegisteredModel, TrackingError>;

    /// One model with its tags and aliases.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] naming the model.
    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel, TrackingError>;

    /// Every registered model, by name.
    ///
    /// # Errors
    /// Transport or storage errors.
    async fn list_registered_models(&self) -> Result<Vec<RegisteredModel>, TrackingError>;

    /// Deletes a model with all its versions and aliases.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`].
    async fn delete_registered_model(&self, name: &str) -> Result<(), TrackingError>;

    /// Sets a tag of a model.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`], [`TrackingError::Invalid`].
    async fn set_registered_model_tag(&self, name: &str, key: &str, value: &str) -> Result<(), TrackingError>;

    /// Adds a version; its number is one more than the highest so far (1 for the first).
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] for an unknown model.
    async fn create_model_version(&self, version: &NewModelVersion) -> Result<ModelVersion, TrackingError>;

    /// One version.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] naming the model and version.
    async fn get_model_version(&self, name: &str, version: u64) -> Result<ModelVersion, TrackingError>;

    /// Every version of a model, oldest first.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] for an unknown model.
    async fn list_model_versions(&self, name: &str) -> Result<Vec<ModelVersion>, TrackingError>;

    /// Sets a tag of a version.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`], [`TrackingError::Invalid`].
    async fn set_model_version_tag(&self, name: &str, version: u64, key: &str, value: &str) -> Result<(), TrackingError>;

    /// Points an alias (`champion`, `challenger`) at a version, moving it if it pointed
    /// elsewhere.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] for an unknown model or version; [`TrackingError::Invalid`]
    /// for a reserved alias (`latest`, `v1`).
    async fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<(), TrackingError>;

    /// Removes an alias (no error when it is not set).
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] for an unknown model.
    async fn delete_alias(&self, name: &str, alias: &str) -> Result<(), TrackingError>;

    /// The version an alias points at.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] naming the alias (or the model).
    async fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion, TrackingError>;

    /// Moves a version to a stage; with [`OtherVersions::Archive`] and a target of Staging or
    /// Production, the other versions in that stage become Archived.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] naming the model and version.
    async fn transition_stage(&self, name: &str, version: u64, stage: Stage, others: OtherVersions) -> Result<ModelVersion, TrackingError>;

    // --- provided ---------------------------------------------------------------------------

    /// The version to run in production: the `champion` alias, else the newest version in the
    /// Production stage; `None` when neither exists.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] for an unknown model.
    async fn production_version(&self, name: &str) -> Result<Option<ModelVersion>, TrackingError> {
        let model = self.get_registered_model(name).await?;
        if let Some(&v) = model.aliases.get(ALIAS_CHAMPION) {
            return self.get_model_version(name, v).await.map(Some);
        }
        let versions = self.list_model_versions(name).await?;
        Ok(versions.into_iter().rev().find(|v| v.current_stage == Stage::Production))
    }

    /// The versions that were promoted, oldest first (the top is the current one unless a
    /// rollback happened since: a rollback removes the entries it walks back over).
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] for an unknown model.
    async fn production_history(&self, name: &str) -> Result<Vec<ProductionEntry>, TrackingError> {
        let model = self.get_registered_model(name).await?;
        Ok(parse_history(name, model.tags.get(TAG_PRODUCTION_HISTORY))?)
    }

    /// Puts a version into production: stage Production (archiving the version there before),
    /// the `champion` alias (a `challenger` alias on it is removed), and an entry in the
    /// production history that [`ModelRegistry::rollback`] walks back.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] naming the model and version when the version does not
    /// exist (nothing is changed then).
    async fn promote(&self, name: &str, version: u64) -> Result<ModelVersion, TrackingError> {
        let model = self.get_registered_model(name).await?;
        let mv = self.get_model_version(name, version).await?;
        let mut history = parse_history(name, model.tags.get(TAG_PRODUCTION_HISTORY))?;
        self.transition_stage(name, version, Stage::Production, OtherVersions::Archive).await?;
        self.set_alias(name, ALIAS_CHAMPION, version).await?;
        if mv.aliases.iter().any(|a| a == ALIAS_CHALLENGER) {
            self.delete_alias(name, ALIAS_CHALLENGER).await?;
        }
        if history.last().map(|e| e.version) != Some(version) {
            history.push(ProductionEntry { version, at: now_ms() });
        }
        self.set_registered_model_tag(name, TAG_PRODUCTION_HISTORY, &render_history(&history)).await?;
        self.get_model_version(name, version).await
    }

    /// Restores the previous production version: walks the production history back past the
    /// current champion (and past versions that no longer exist), moves that version to
    /// Production (archiving the current one), points `champion` at it and returns it. Each
    /// call goes one step further back.
    ///
    /// # Errors
    /// [`TrackingError::NoRollbackTarget`] when there is no earlier version;
    /// [`TrackingError::NotFound`] for an unknown model.
    async fn rollback(&self, name: &str) -> Result<ModelVersion, TrackingError> {
        let model = self.get_registered_model(name).await?;
        let mut history = parse_history(name, model.tags.get(TAG_PRODUCTION_HISTORY))?;
        let current = match model.aliases.get(ALIAS_CHAMPION) {
            Some(&v) => Some(v),
            None => {
                self.list_model_versions(name).await?.into_iter().rev().find(|v| v.current_stage == Stage::Production).map(|v| v.version)
            }
        };
        let target = loop {
            match history.last() {
                None => return Err(TrackingError::NoRollbackTarget { model: name.to_owned() }),
                Some(e) if Some(e.version) == current => {
                    history.pop();
                }
                Some(e) => match self.get_model_version(name, e.version).await {
                    Ok(mv) => break mv,
                    Err(TrackingError::NotFound { .. }) => {
                        history.pop();
                    }
                    Err(err) => return Err(err),
                },
            }
        };
        self.transition_stage(name, target.version, Stage::Production, OtherVersions::Archive).await?;
        self.set_alias(name, ALIAS_CHAMPION, target.version).await?;
        self.set_registered_model_tag(name, TAG_PRODUCTION_HISTORY, &render_history(&history)).await?;
        self.get_model_version(name, target.version).await
    }
}

fn parse_history(name: &str, tag: Option<&String>) -> Result<Vec<ProductionEntry>, TrackingError> {
    match tag {
        None => Ok(Vec::new()),
        Some(s) if s.trim().is_empty() => Ok(Vec::new()),
        Some(s) => serde_json::from_str(s).map_err(|e| {
            TrackingError::invalid("production history", format!("tag {TAG_PRODUCTION_HISTORY} of '{name}' is not readable: {e}"))
        }),
    }
}

fn render_history(history: &[ProductionEntry]) -> String {
    let keep = &history[history.len().saturating_sub(PRODUCTION_HISTORY_LEN)..];
    serde_json::to_string(keep).unwrap_or_default()
}

/// MLflow's alias rules: letters, digits, `_` and `-`; not `latest`; not `v` + digits (those
/// name versions).
pub(crate) fn validate_alias(alias: &str) -> Result<(), TrackingError> {
    let bad = |why: &str| Err(TrackingError::invalid("alias", format!("'{alias}' {why}")));
    if alias.is_empty() || alias.len() > 255 {
        return bad("must be 1 to 255 characters");
    }
    if !alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return bad("may contain only letters, digits, '_' and '-'");
    }
    let lower = alias.to_ascii_lowercase();
    if lower == "latest" || (lower.len() > 1 && lower.starts_with('v') && lower[1..].chars().all(|c| c.is_ascii_digit())) {
        return bad("is reserved");
    }
    Ok(())
}

/// A registered model's name: non-empty, no `/`-only oddities MLflow rejects.
pub(crate) fn validate_model_name(name: &str) -> Result<(), TrackingError> {
    if name.trim().is_empty() {
        return Err(TrackingError::invalid("registered model name", "empty"));
    }
    Ok(())
}

//! Config and mode: the stored config documents, how the global, context and subject
//! layers merge into the effective config and mode, Confluent's shapes for reading and
//! echoing them, and their updates and deletes.

use super::*;

/// The keys of a stored config, in the order Confluent returns them.
pub const CONFIG_KEYS: [&str; 14] = [
    "compatibilityLevel",
    "compatibilityPolicy",
    "compatibilityGroup",
    "normalize",
    "validateFields",
    "validateNewSchemas",
    "validateRules",
    "alias",
    "aliasForDeks",
    "defaultMetadata",
    "overrideMetadata",
    "defaultRuleSet",
    "overrideRuleSet",
    // Accord's own: refuse schemas Accord's stricter checks warn about (see
    // `accord_compat::Warning`); off by default, as Confluent has no such checks.
    STRICT_SCHEMAS,
];

/// The config key that makes Accord's stricter schema checks refuse a registration.
pub const STRICT_SCHEMAS: &str = "accordStrictSchemas";

/// The stored configs `rows` of `keys` (lowest first, see [`scope_keys`]) merged, each
/// over the ones below it.
pub(super) fn layered(keys: &[String], rows: Vec<(String, Value)>) -> Map<String, Value> {
    let mut out = Map::new();
    for key in keys {
        if let Some((_, doc)) = rows.iter().find(|(k, _)| k == key) {
            out = merge_config(Some(&Value::Object(out)), Some(doc));
        }
    }
    out
}

/// `subject` overlaid on `global`, key by key.
pub fn merge_config(global: Option<&Value>, subject: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for doc in [global, subject].into_iter().flatten() {
        if let Value::Object(m) = doc {
            for (k, v) in m {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// Puts keys in Confluent's order and fills the default level, for responses.
pub fn present_config(m: &Map<String, Value>, level_key: &str) -> Value {
    let mut out = Map::new();
    for k in CONFIG_KEYS {
        if let Some(v) = m.get(k) {
            let key = if k == "compatibilityLevel" {
                level_key
            } else {
                k
            };
            out.insert(key.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// What `PUT /config` answers: Confluent returns the request itself, re-serialised by
/// Jackson (its known keys in its order, values as sent, so the client's letter case
/// too; absent, null and empty values left out; `{}` for an empty body).
pub fn echo_config(body: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for k in CONFIG_KEYS {
        let v = if k == "compatibilityLevel" {
            body.get("compatibility").or_else(|| body.get(k))
        } else {
            body.get(k)
        };
        let empty = match v {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if let (false, Some(v)) = (empty, v) {
            let key = if k == "compatibilityLevel" {
                "compatibility"
            } else {
                k
            };
            out.insert(key.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

pub(super) fn config_level(cfg: &Map<String, Value>) -> CompatibilityLevel {
    cfg.get("compatibilityLevel")
        .and_then(Value::as_str)
        .and_then(|s| CompatibilityLevel::from_str(s).ok())
        .unwrap_or(CompatibilityLevel::Backward)
}

pub(super) fn config_bool(cfg: &Map<String, Value>, key: &str) -> bool {
    cfg.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Applies a `PUT /config` body (keyed `compatibility`) to a stored config: absent keys
/// keep their value, JSON null clears. Validates every value it accepts.
pub fn apply_config_update(
    old: Option<&Value>,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = match old {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    for (k, v) in body {
        let key = if k == "compatibility" || k == "compatibilityLevel" {
            "compatibilityLevel"
        } else {
            k.as_str()
        };
        if !CONFIG_KEYS.contains(&key) {
            continue; // unknown keys are ignored, as Jackson with FAIL_ON_UNKNOWN off
        }
        if v.is_null() {
            out.remove(key);
            continue;
        }
        let value = match key {
            "compatibilityLevel" => {
                let s = v.as_str().ok_or(ApiError::InvalidCompatibilityLevel)?;
                let level = CompatibilityLevel::from_str(s)
                    .map_err(|_| ApiError::InvalidCompatibilityLevel)?;
                Value::String(level.as_str().to_string())
            }
            "compatibilityPolicy" => {
                let s = v.as_str().map(str::to_ascii_uppercase);
                match s.as_deref() {
                    Some(p @ ("STRICT" | "LENIENT" | "LOGICAL")) => Value::String(p.to_string()),
                    _ => {
                        return Err(ApiError::Unprocessable(format!(
                            "Invalid compatibilityPolicy {v}: use STRICT, LENIENT or LOGICAL"
                        )))
                    }
                }
            }
            "normalize" | "validateFields" | "validateNewSchemas" | "validateRules"
            | STRICT_SCHEMAS => {
                if !v.is_boolean() {
                    return Err(ApiError::MalformedBody(format!(
                        "Config key '{key}' must be a boolean, got {v}"
                    )));
                }
                v.clone()
            }
            "compatibilityGroup" | "alias" | "aliasForDeks" => {
                if !v.is_string() {
                    return Err(ApiError::MalformedBody(format!(
                        "Config key '{key}' must be a string, got {v}"
                    )));
                }
                v.clone()
            }
            "defaultMetadata" | "overrideMetadata" => {
                Metadata::from_json(Some(v))
                    .map_err(|e| ApiError::Unprocessable(format!("{key}: {e}")))?;
                v.clone()
            }
            _ => {
                if let Some(rs) = RuleSet::from_json(Some(v))
                    .map_err(|e| ApiError::InvalidRuleSet(format!("{key}: {e}")))?
                {
                    rs.validate()
                        .map_err(|e| ApiError::InvalidRuleSet(format!("{key}: {e}")))?;
                }
                v.clone()
            }
        };
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

pub(super) fn is_readonly(mode: &str) -> bool {
    mode == "READONLY" || mode == "READONLY_OVERRIDE"
}

/// An audit target for global (`kind`) or subject-level (`kind:subject`) settings.
fn scoped(kind: &str, subject: &str) -> String {
    if subject == GLOBAL {
        kind.to_string()
    } else {
        format!("{kind}:{subject}")
    }
}

impl Registry {
    pub async fn effective_config<'e, E>(
        &self,
        e: E,
        subject: &str,
    ) -> Result<Map<String, Value>, ApiError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any> + Copy,
    {
        let keys = scope_keys(subject);
        Ok(layered(&keys, q::configs(e, &keys).await?))
    }

    /// The mode in force for `subject`: its own, else its context's, else the global
    /// one, else `:.__GLOBAL:`'s, else READWRITE. A global READONLY_OVERRIDE wins over
    /// everything below it.
    pub async fn effective_mode(
        conn: &mut sqlx::AnyConnection,
        subject: &str,
    ) -> Result<String, ApiError> {
        let keys = scope_keys(subject);
        let modes = q::modes(&mut *conn, &keys).await?;
        Ok(Self::mode_in(&keys, &modes))
    }

    /// The mode in force for the scope `keys` (from [`scope_keys`]) given their stored
    /// `modes`: see [`Registry::effective_mode`].
    pub(super) fn mode_in(keys: &[String], modes: &[(String, String)]) -> String {
        let of = |key: &str| modes.iter().find(|(k, _)| k == key).map(|(_, m)| m.clone());
        if let Some(m) = of(GLOBAL).filter(|m| m == "READONLY_OVERRIDE") {
            return m;
        }
        keys.iter()
            .rev()
            .find_map(|k| of(k))
            .unwrap_or_else(|| "READWRITE".to_string())
    }

    pub(super) fn readonly_check(mode: &str, subject: &str) -> Result<(), ApiError> {
        if is_readonly(mode) {
            return Err(ApiError::OperationNotPermitted(format!(
                "Subject {subject} in context {} is in read-only mode",
                crate::context::of(subject)
            )));
        }
        Ok(())
    }

    /// `PUT /config[/{s}]`: returns the merged config.
    pub async fn put_config(
        &self,
        subject: &str,
        body: &Map<String, Value>,
        actor: &str,
    ) -> Result<Map<String, Value>, ApiError> {
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        crate::governance::check_subject_owner(conn, actor, subject).await?;
        // Confluent checks the mode in scope here, the global mode included (42205).
        Self::readonly_check(&Self::effective_mode(conn, subject).await?, subject)?;
        let old = q::config(&mut *conn, subject).await?;
        let new = apply_config_update(old.as_ref(), body)?;
        let new_value = Value::Object(new.clone());
        q::put_config(&mut *conn, subject, &new_value).await?;
        audit::append(
            &mut w,
            actor,
            "config.put",
            &scoped("config", subject),
            old.as_ref(),
            Some(&new_value),
        )
        .await?;
        w.notify(if is_scope_wide(subject) {
            Notice::Global
        } else {
            Notice::Subject(subject.to_string())
        });
        self.commit_write(w).await?;
        Ok(new)
    }

    /// `DELETE /config[/{s}]`: returns the config that was there.
    pub async fn delete_config(
        &self,
        subject: &str,
        actor: &str,
    ) -> Result<Option<Value>, ApiError> {
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        crate::governance::check_subject_owner(conn, actor, subject).await?;
        if subject != GLOBAL {
            Self::readonly_check(&Self::effective_mode(conn, subject).await?, subject)?;
        }
        let old = q::config(&mut *conn, subject).await?;
        q::delete_config(&mut *conn, subject).await?;
        if let Some(old) = &old {
            audit::append(
                &mut w,
                actor,
                "config.delete",
                &scoped("config", subject),
                Some(old),
                None,
            )
            .await?;
        }
        w.notify(Notice::Global);
        self.commit_write(w).await?;
        Ok(old)
    }

    /// `PUT /mode[/{s}]`.
    pub async fn put_mode(
        &self,
        subject: &str,
        mode: &str,
        force: bool,
        actor: &str,
    ) -> Result<String, ApiError> {
        let mode = mode.trim().to_ascii_uppercase();
        if !MODES.contains(&mode.as_str()) {
            return Err(ApiError::InvalidMode);
        }
        if mode == "FORWARD" && subject != GLOBAL {
            return Err(ApiError::InvalidMode);
        }
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        crate::governance::check_subject_owner(conn, actor, subject).await?;
        let current = q::mode(&mut *conn, subject).await?;
        let mut purged = false;
        if mode == "IMPORT" && current.as_deref() != Some("IMPORT") {
            // The mode's scope: everything, one context (`:.ctx:`) or one subject.
            let context = crate::context::of(subject).to_string();
            let in_scope = |s: &str| {
                subject == GLOBAL
                    || s == subject
                    || (is_scope_wide(subject) && crate::context::of(s) == context)
            };
            let live = q::subjects(&mut *conn, false, false).await?;
            if !force && live.iter().any(|s| in_scope(s)) {
                return Err(ApiError::OperationNotPermitted(
                    "Cannot import since found existing subjects".to_string(),
                ));
            }
            // Imports bring their own versions: soft-deleted ones in scope go first
            // (confluent-compat.md §9.4), unless something references them.
            let soft: Vec<VersionRecord> = q::all_versions(&mut *conn, true)
                .await?
                .into_iter()
                .filter(|v| v.deleted && in_scope(&v.subject))
                .collect();
            for v in &soft {
                ensure_unreferenced(&mut *conn, &v.subject, v.version, true, None).await?;
                q::delete_version(&mut *conn, &v.subject, v.version).await?;
            }
            purged = !soft.is_empty();
            if purged {
                let before = Value::Array(soft.iter().map(version_state).collect());
                audit::append(
                    &mut w,
                    actor,
                    "mode.import_purge",
                    &scoped("mode", subject),
                    Some(&before),
                    None,
                )
                .await?;
            }
        }
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        q::put_mode(&mut *conn, subject, &mode).await?;
        audit::append(
            &mut w,
            actor,
            "mode.put",
            &scoped("mode", subject),
            current.map(Value::String).as_ref(),
            Some(&Value::String(mode.clone())),
        )
        .await?;
        if purged {
            w.notify(Notice::Schemas);
        }
        w.notify(Notice::Global);
        self.commit_write(w).await?;
        Ok(mode)
    }

    /// `DELETE /mode[/{s}]`: returns the mode that was there.
    pub async fn delete_mode(
        &self,
        subject: &str,
        recursive: bool,
        actor: &str,
    ) -> Result<Option<String>, ApiError> {
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        crate::governance::check_subject_owner(conn, actor, subject).await?;
        let old = q::mode(&mut *conn, subject).await?;
        let recursive = subject == GLOBAL && recursive;
        if recursive {
            q::delete_all_modes(&mut *conn).await?;
        } else {
            q::delete_mode(&mut *conn, subject).await?;
        }
        if old.is_some() || recursive {
            let target = if recursive {
                "mode (recursive)".to_string()
            } else {
                scoped("mode", subject)
            };
            audit::append(
                &mut w,
                actor,
                "mode.delete",
                &target,
                old.clone().map(Value::String).as_ref(),
                None,
            )
            .await?;
        }
        w.notify(Notice::Global);
        self.commit_write(w).await?;
        Ok(old)
    }
}

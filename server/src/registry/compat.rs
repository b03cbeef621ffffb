//! Compatibility: checking a candidate against the versions its level compares it with,
//! `POST /compatibility/...` ([`Registry::test_compatibility`]), and Confluent's wording
//! of the verdict ([`confluent_details`]).

use super::*;

/// The outcome of a compatibility test.
pub struct CompatOutcome {
    pub compatible: bool,
    /// Confluent's verbose `messages`, byte for byte (see [`confluent_details`]).
    pub messages: Vec<String>,
    /// The same findings with Accord's structure (kind, path, version, direction).
    pub incompatibilities: Vec<accord_compat::Incompatibility>,
    /// What Accord's stricter checks say about the new schema (never a refusal here).
    pub warnings: Vec<accord_compat::Warning>,
}

/// Refuses (42201) a new schema with warnings from Accord's stricter checks when
/// `strict`, and one with Avro default problems when `normalize` (as Confluent does).
pub(super) fn strict_check(
    parsed: &ParsedSchema,
    strict: bool,
    normalize: bool,
) -> Result<(), ApiError> {
    let avro_defaults = |w: &&accord_compat::Warning| {
        parsed.format() == SchemaFormat::Avro
            && matches!(
                w.kind.as_str(),
                "DEFAULT_TYPE_MISMATCH" | "RECURSIVE_DEFAULT"
            )
    };
    let refused: Vec<String> = parsed
        .warnings()
        .iter()
        .filter(|w| strict || (normalize && avro_defaults(w)))
        .map(|w| format!("{} at {}: {}", w.kind, w.path, w.message))
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(ApiError::InvalidSchema(format!(
        "Invalid schema, details: {}",
        refused.join("; ")
    )))
}

/// The largest old schema Confluent quotes whole in `{oldSchema: '..'}`.
const MAX_QUOTED_SCHEMA: usize = 10 * 1024;

/// Confluent's `messages` for a failed check, as its `SchemaValidatorBuilder` and
/// `AbstractSchemaRegistry` write them: per compared version (in check order), the
/// forward findings and then the backward ones, followed by `{oldSchemaVersion: N}` and
/// `{oldSchema: '<text>'}` (after the backward part for FULL, which quotes nothing when
/// only its forward part fails); at the end `{validateFields: '..', compatibility: '..'}`.
/// A change of schema type is Confluent's single line.
pub fn confluent_details(
    report: &accord_compat::Report,
    level: CompatibilityLevel,
    olds: &[(i64, Arc<ParsedSchema>)],
    validate_fields: bool,
) -> Vec<String> {
    use accord_compat::Direction;
    let mut out = Vec::new();
    if report.is_compatible() {
        return out;
    }
    if report
        .incompatibilities
        .iter()
        .any(|i| i.kind == "SCHEMA_TYPE_CHANGED")
    {
        return vec![accord_compat::Report {
            incompatibilities: report
                .incompatibilities
                .iter()
                .filter(|i| i.kind == "SCHEMA_TYPE_CHANGED")
                .take(1)
                .cloned()
                .collect(),
        }
        .confluent_messages()
        .remove(0)];
    }
    let mut versions: Vec<Option<i32>> = Vec::new();
    for i in &report.incompatibilities {
        if !versions.contains(&i.version) {
            versions.push(i.version);
        }
    }
    let full = matches!(
        level,
        CompatibilityLevel::Full | CompatibilityLevel::FullTransitive
    );
    for v in versions {
        let of = |d: Direction| {
            report
                .incompatibilities
                .iter()
                .filter(move |i| i.version == v && i.direction == d)
                .map(accord_compat::Incompatibility::confluent_message)
        };
        let forward: Vec<String> = of(Direction::Forward).collect();
        let backward: Vec<String> = of(Direction::Backward).collect();
        let quote = if full {
            !backward.is_empty()
        } else {
            !forward.is_empty() || !backward.is_empty()
        };
        out.extend(forward);
        out.extend(backward);
        if quote {
            if let Some(v) = v {
                out.push(format!("{{oldSchemaVersion: {v}}}"));
                if let Some((_, old)) = olds.iter().find(|(n, _)| *n == v as i64) {
                    let text = old.canonical();
                    if text.chars().count() <= MAX_QUOTED_SCHEMA {
                        out.push(format!("{{oldSchema: '{text}'}}"));
                    } else {
                        let cut: String = text.chars().take(MAX_QUOTED_SCHEMA).collect();
                        out.push(format!(
                            "{{oldSchema: <truncated to {MAX_QUOTED_SCHEMA} characters> '{cut}'}}"
                        ));
                    }
                }
            }
        }
    }
    out.push(format!(
        "{{validateFields: '{validate_fields}', compatibility: '{level}'}}"
    ));
    out
}

/// Whether `level` compares with every live version, not only the latest.
fn is_transitive(level: CompatibilityLevel) -> bool {
    matches!(
        level,
        CompatibilityLevel::BackwardTransitive
            | CompatibilityLevel::ForwardTransitive
            | CompatibilityLevel::FullTransitive
    )
}

/// The key of a check's result in [`Prepared`]: the candidate's parse, the level and
/// the compared (version, id) pairs, oldest first.
fn check_key(
    cand: &Candidate,
    level: CompatibilityLevel,
    compared: impl Iterator<Item = (i64, i64)>,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(cand.parse_key);
    h.update(level.as_str().as_bytes());
    for (version, id) in compared {
        h.update(version.to_be_bytes());
        h.update(id.to_be_bytes());
    }
    <[u8; 32]>::from(h.finalize())
}

impl Registry {
    /// Runs the compatibility check of `cand` (parsed: `new`) against `live`
    /// (ascending) at `level`. With `prepared`, a check it holds for the same inputs is
    /// reused, and a new one is kept there.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn check_against(
        &self,
        conn: &mut sqlx::AnyConnection,
        cand: &Candidate,
        new: &Arc<ParsedSchema>,
        live: &[VersionRecord],
        level: CompatibilityLevel,
        group: Option<&str>,
        prepared: Option<&mut Prepared>,
    ) -> Result<(Report, Vec<(i64, Arc<ParsedSchema>)>), ApiError> {
        // Without a compatibility group the compared versions follow from `live` alone:
        // a check done ahead against the same ones that passed is the answer, with no
        // old schema to quote.
        if group.is_none() {
            let compared: Vec<(i64, i64)> = match is_transitive(level) {
                true => live.iter().map(|v| (v.version, v.schema_id)).collect(),
                false => live
                    .last()
                    .map(|v| (v.version, v.schema_id))
                    .into_iter()
                    .collect(),
            };
            let key = check_key(cand, level, compared.iter().copied());
            if let Some((_, Ok(report))) = prepared
                .as_ref()
                .and_then(|p| p.check.as_ref())
                .filter(|(k, done)| *k == key && done.as_ref().is_ok_and(Report::is_compatible))
            {
                return Ok((report.clone(), Vec::new()));
            }
        }
        let rows = self
            .compared_rows(conn, live, level, group, cand.metadata.as_ref())
            .await?;
        let compared = self.parse_compared(rows).await?;
        let olds: Vec<(i64, Arc<ParsedSchema>)> =
            compared.iter().map(|(v, _, s)| (*v, s.clone())).collect();
        let report = self
            .check_parsed(cand, new, compared, level, prepared)
            .await?;
        Ok((report, olds))
    }

    /// The versions of `live` (ascending) a check at `level` compares with, oldest
    /// first: those of the new schema's `compatibilityGroup` value only, and only the
    /// latest unless the level is transitive. Reads the database; parses nothing.
    pub(super) async fn compared_rows(
        &self,
        conn: &mut sqlx::AnyConnection,
        live: &[VersionRecord],
        level: CompatibilityLevel,
        group: Option<&str>,
        new_metadata: Option<&Metadata>,
    ) -> Result<Vec<ComparedRow>, ApiError> {
        let group_value =
            |m: Option<&Metadata>| group.and_then(|g| m.and_then(|m| m.properties.get(g).cloned()));
        let new_group = group_value(new_metadata);
        // Only as many versions as the level compares are parsed.
        let transitive = is_transitive(level);
        let mut rows: Vec<ComparedRow> = Vec::new();
        for v in live.iter().rev() {
            let row = match self.cache.schema(v.schema_id) {
                Some(r) => r,
                None => {
                    let row = q::schema_row(&mut *conn, v.schema_id)
                        .await?
                        .ok_or_else(|| {
                            ApiError::internal(anyhow::anyhow!("version points at missing schema"))
                        })?;
                    // Live (a version points at it), so it may serve id lookups too.
                    let row = Arc::new(row);
                    self.cache.put_schema(row.clone());
                    row
                }
            };
            if group.is_some() {
                let meta = Metadata::from_json(row.metadata.as_ref()).ok().flatten();
                if group_value(meta.as_ref()) != new_group {
                    continue;
                }
            }
            let parsed = match self.cache.parsed(row.id) {
                Some(p) => Ok(p),
                None => Err(Self::stored_refs(conn, &row).await?),
            };
            rows.push((v.version, row, parsed));
            if !transitive {
                break;
            }
        }
        rows.reverse();
        Ok(rows)
    }

    /// The parsed schemas of `rows` (cached, or parsed now): (version, id, schema).
    pub(super) async fn parse_compared(
        &self,
        rows: Vec<ComparedRow>,
    ) -> Result<Vec<(i64, i64, Arc<ParsedSchema>)>, ApiError> {
        let mut parsed = Vec::with_capacity(rows.len());
        for (version, row, schema) in rows {
            let schema = match schema {
                Ok(p) => p,
                Err(refs) => self.parse_stored(&row, refs).await?,
            };
            parsed.push((version, row.id, schema));
        }
        Ok(parsed)
    }

    /// The compatibility check of `cand` (parsed: `new`) against `parsed` (version, id,
    /// schema; oldest first) at `level`, on the heavy-work lanes; with `prepared`, a
    /// check it holds for the same inputs is reused, and a new one is kept there.
    pub(super) async fn check_parsed(
        &self,
        cand: &Candidate,
        new: &Arc<ParsedSchema>,
        parsed: Vec<(i64, i64, Arc<ParsedSchema>)>,
        level: CompatibilityLevel,
        prepared: Option<&mut Prepared>,
    ) -> Result<Report, ApiError> {
        let key = check_key(cand, level, parsed.iter().map(|(v, id, _)| (*v, *id)));
        if let Some((_, done)) = prepared
            .as_ref()
            .and_then(|p| p.check.as_ref())
            .filter(|(k, _)| *k == key)
        {
            return done.clone().map_err(ApiError::SchemaTooComplex);
        }
        let existing = parsed
            .into_iter()
            .map(|(version, _, schema)| (version as i32, schema))
            .collect();
        let result = self.work.check(level, new.clone(), existing).await;
        if let Some(p) = prepared {
            match &result {
                Ok(report) => p.check = Some((key, Ok(report.clone()))),
                Err(ApiError::SchemaTooComplex(m)) => p.check = Some((key, Err(m.clone()))),
                Err(_) => {}
            }
        }
        result
    }

    /// `POST /compatibility/subjects/{s}/versions[/{v}]`.
    pub async fn test_compatibility(
        &self,
        subject: &str,
        sel: Option<VersionSel>,
        input: &SchemaInput,
        normalize: bool,
        verbose: bool,
    ) -> Result<CompatOutcome, ApiError> {
        let mut conn = self.store.reader().acquire().await?;
        let live = q::versions(&mut *conn, subject, false).await?;
        let compared: Vec<VersionRecord> = match sel {
            None => live.clone(),
            Some(VersionSel::Latest) => live.last().cloned().into_iter().collect(),
            Some(VersionSel::Number(n)) => match live.iter().find(|v| v.version == n) {
                Some(v) => vec![v.clone()],
                None => return Err(ApiError::VersionNotFound(n.to_string())),
            },
        };
        let config = self.effective_config(self.store.reader(), subject).await?;
        let normalize = normalize || config_bool(&config, "normalize");
        let invalid = |e: ApiError| match e {
            ApiError::InvalidSchema(msg) if verbose => Ok(CompatOutcome {
                compatible: false,
                messages: vec![msg],
                incompatibilities: Vec::new(),
                warnings: Vec::new(),
            }),
            e => Err(e),
        };
        let unparsed = match Self::unparsed(&mut conn, input, false, subject).await {
            Ok(u) => u,
            Err(e) => return invalid(e),
        };
        // At the stream contract's level when the subject belongs to a stream with one
        // (what registration would apply), else the subject's configured level.
        let level = match crate::governance::contract_level(&mut conn, subject).await? {
            Some(level) => level,
            None => config_level(&config),
        };
        let checked = !compared.is_empty() && level != CompatibilityLevel::None;
        let group = config.get("compatibilityGroup").and_then(Value::as_str);
        let rows = match checked {
            true => {
                let new_metadata = Metadata::from_json(input.metadata.as_ref()).ok().flatten();
                self.compared_rows(&mut conn, &compared, level, group, new_metadata.as_ref())
                    .await?
            }
            false => Vec::new(),
        };
        // Everything is read: the parse and the check hold no connection.
        drop(conn);
        let cand = match self
            .candidate(unparsed, input, normalize, false, None)
            .await
        {
            Ok(c) => c,
            Err(e) => return invalid(e),
        };
        let Some(new) = &cand.parsed else {
            return Err(ApiError::InvalidSchema("Invalid schema".to_string()));
        };
        let warnings = new.warnings().to_vec();
        if !checked {
            return Ok(CompatOutcome {
                compatible: true,
                messages: Vec::new(),
                incompatibilities: Vec::new(),
                warnings,
            });
        }
        let compared = self.parse_compared(rows).await?;
        let olds: Vec<(i64, Arc<ParsedSchema>)> =
            compared.iter().map(|(v, _, s)| (*v, s.clone())).collect();
        let report = self.check_parsed(&cand, new, compared, level, None).await?;
        let messages = confluent_details(
            &report,
            level,
            &olds,
            config_bool(&config, "validateFields"),
        );
        Ok(CompatOutcome {
            compatible: report.is_compatible(),
            messages,
            incompatibilities: report.incompatibilities,
            warnings,
        })
    }
}

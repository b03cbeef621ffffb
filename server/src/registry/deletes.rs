//! Deletes: subjects and versions (soft, then permanent, as Confluent orders them) and
//! empty contexts.

use super::*;

impl Registry {
    /// `DELETE /subjects/{s}`: returns the versions deleted.
    pub async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
        actor: &str,
    ) -> Result<Vec<i64>, ApiError> {
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        crate::governance::check_subject_owner(conn, actor, subject).await?;
        let all = q::versions(&mut *conn, subject, true).await?;
        if all.is_empty() {
            return Err(ApiError::SubjectNotFound(subject.to_string()));
        }
        Self::readonly_check(&Self::effective_mode(conn, subject).await?, subject)?;
        let live: Vec<&VersionRecord> = all.iter().filter(|v| !v.deleted).collect();
        let deleted = if permanent {
            if !live.is_empty() {
                return Err(ApiError::SubjectNotSoftDeleted(subject.to_string()));
            }
            for v in &all {
                ensure_unreferenced(&mut *conn, subject, v.version, true, Some(subject)).await?;
            }
            for v in &all {
                q::delete_version(&mut *conn, subject, v.version).await?;
            }
            q::delete_config(&mut *conn, subject).await?;
            q::delete_mode(&mut *conn, subject).await?;
            w.notify(Notice::Schemas);
            all.iter().map(|v| v.version).collect()
        } else {
            if live.is_empty() {
                return Err(ApiError::SubjectSoftDeleted(subject.to_string()));
            }
            for v in &live {
                ensure_unreferenced(&mut *conn, subject, v.version, false, Some(subject)).await?;
            }
            for v in &live {
                q::set_version_deleted(&mut *conn, subject, v.version).await?;
            }
            live.iter().map(|v| v.version).collect()
        };
        let before = Value::Array(all.iter().map(version_state).collect());
        let after = (!permanent).then(|| {
            Value::Array(
                all.iter()
                    .map(|v| {
                        version_state(&VersionRecord {
                            deleted: true,
                            ..v.clone()
                        })
                    })
                    .collect(),
            )
        });
        let action = if permanent {
            "subject.delete_permanent"
        } else {
            "subject.delete"
        };
        audit::append(
            &mut w,
            actor,
            action,
            &format!("subject:{subject}"),
            Some(&before),
            after.as_ref(),
        )
        .await?;
        // The catalog forgets the deleted versions' fields in the same transaction.
        crate::catalog::on_change(&mut w, None, Some(subject)).await?;
        w.notify(Notice::Subject(subject.to_string()));
        self.commit_write(w).await?;
        Ok(deleted)
    }

    /// `DELETE /subjects/{s}/versions/{v}`: returns the version deleted.
    pub async fn delete_version(
        &self,
        subject: &str,
        sel: VersionSel,
        permanent: bool,
        actor: &str,
    ) -> Result<i64, ApiError> {
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        crate::governance::check_subject_owner(conn, actor, subject).await?;
        if q::latest_version(&mut *conn, subject, true)
            .await?
            .is_none()
        {
            return Err(ApiError::SubjectNotFound(subject.to_string()));
        }
        Self::readonly_check(&Self::effective_mode(conn, subject).await?, subject)?;
        let target = match sel {
            VersionSel::Latest => q::latest_version(&mut *conn, subject, permanent).await?,
            VersionSel::Number(n) => q::version(&mut *conn, subject, n).await?,
        };
        let label = match sel {
            VersionSel::Latest => "latest".to_string(),
            VersionSel::Number(n) => n.to_string(),
        };
        let v = target.ok_or(ApiError::VersionNotFound(label))?;
        if permanent {
            if !v.deleted {
                return Err(ApiError::VersionNotSoftDeleted(
                    subject.to_string(),
                    v.version,
                ));
            }
            ensure_unreferenced(&mut *conn, subject, v.version, true, None).await?;
            q::delete_version(&mut *conn, subject, v.version).await?;
            w.notify(Notice::Schemas);
        } else {
            if v.deleted {
                return Err(ApiError::VersionSoftDeleted(subject.to_string(), v.version));
            }
            ensure_unreferenced(&mut *conn, subject, v.version, false, None).await?;
            q::set_version_deleted(&mut *conn, subject, v.version).await?;
        }
        let after = (!permanent).then(|| {
            version_state(&VersionRecord {
                deleted: true,
                ..v.clone()
            })
        });
        let action = if permanent {
            "version.delete_permanent"
        } else {
            "version.delete"
        };
        audit::append(
            &mut w,
            actor,
            action,
            &format!("subject:{subject}/version:{}", v.version),
            Some(&version_state(&v)),
            after.as_ref(),
        )
        .await?;
        // The catalog forgets the deleted versions' fields in the same transaction.
        crate::catalog::on_change(&mut w, None, Some(subject)).await?;
        w.notify(Notice::Subject(subject.to_string()));
        self.commit_write(w).await?;
        Ok(v.version)
    }

    /// `DELETE /contexts/{ctx}`: forgets a context that holds no subject (soft-deleted
    /// ones included: 42211), with its context-level and subject-level settings. The
    /// default context always exists; deleting it succeeds only while it is empty.
    pub async fn delete_context(&self, context: &str, actor: &str) -> Result<(), ApiError> {
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        let prefix = crate::context::prefix(context);
        let subjects = q::subjects(&mut *conn, true, false).await?;
        let held = subjects.iter().any(|s| crate::context::of(s) == context);
        if context == crate::context::DEFAULT {
            if held {
                return Err(ApiError::ContextNotEmpty(context.to_string()));
            }
            return Ok(());
        }
        if crate::context::number(&mut *conn, context).await?.is_none() {
            return Err(ApiError::SubjectNotFound(context.to_string()));
        }
        if held {
            return Err(ApiError::ContextNotEmpty(context.to_string()));
        }
        for table in ["configs", "modes"] {
            let sql = format!(
                "DELETE FROM {table} WHERE substr(subject, 1, {}) = $1",
                prefix.chars().count()
            );
            sqlx::query(&sql).bind(&prefix).execute(&mut *conn).await?;
        }
        crate::context::remove(conn, context).await?;
        audit::append(
            &mut w,
            actor,
            "context.delete",
            &format!("context:{context}"),
            Some(&Value::String(context.to_string())),
            None,
        )
        .await?;
        w.notify(Notice::Global);
        self.commit_write(w).await?;
        Ok(())
    }
}

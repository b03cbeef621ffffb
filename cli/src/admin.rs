//! `accord audit verify|checkpoint` and `accord admin bootstrap`: offline tools that
//! open the database directly through accord-server's store (no running registry
//! needed). They take the audit key as the server does (`--audit-key-file`,
//! `ACCORD_AUDIT_KEY`, else the default key file; see `accord_server::audit`).
//!
//! `accord admin principals ...` and `accord admin keys ...` are online instead: they
//! call a running registry's `/v1/principals` API at `--url` with `--token` (or
//! `--user`/`--password`), as the other registry commands do, with the same exit codes
//! (0 ok, 1 refused, 2 usage or not found, 3 unreachable or 401/403). Online because the
//! server is where access is decided and every change is audited under the calling
//! principal's name, because `keys rotate` must present the key it replaces, and because
//! a revocation then reaches every node through the one database without the CLI
//! needing database credentials. Only `bootstrap` stays offline: it is how the first
//! admin key (or a way back in) is made when no key works yet. With `--output json` they
//! print the registry's JSON answer.

use crate::exit::{CliError, CliResult, Outcome};
use crate::online::{encode, one_line, run, Registry};
use crate::report::OutputFormat;
use crate::Global;
use accord_client::ClientError;
use accord_server::config::DEFAULT_DATABASE_URL;
use accord_server::storage::Store;
use serde_json::{json, Value};

#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's HMAC chain with the audit key; exit 0 when intact, 1
    /// naming the first altered or removed entry.
    Verify(VerifyArgs),
    /// Verify the chain, then print its head as SEQ:HASH, to store outside the database
    /// and pass to `audit verify --checkpoint` later.
    Checkpoint(KeyedDbArgs),
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub db: KeyedDbArgs,
    /// A checkpoint (SEQ:HASH, from `accord audit checkpoint`): also fail when entry SEQ
    /// is missing (the log was truncated) or its hash differs (rewritten before it).
    #[arg(long)]
    pub checkpoint: Option<String>,
}

/// The database and its audit key.
#[derive(clap::Args)]
pub struct KeyedDbArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The audit key file (64 hex chars); else ACCORD_AUDIT_KEY, else the default key
    /// file (next to a SQLite database; accord-data/audit.key for PostgreSQL).
    #[arg(long, env = "ACCORD_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<std::path::PathBuf>,
}

impl KeyedDbArgs {
    /// The audit key; `create` makes a missing default key file (bootstrap on a new
    /// database), verification never does.
    fn key(&self, create: bool) -> Result<accord_server::audit::AuditKey, CliError> {
        accord_server::audit::KeySource::with_env(None, self.audit_key_file.clone())
            .load(&self.db.database_url, create)
            .map_err(|e| CliError::usage(format!("{e:#}")))
    }
}

#[derive(clap::Args)]
pub struct DbArgs {
    /// sqlite://PATH or postgres://...
    #[arg(long, env = "ACCORD_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[derive(clap::Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Create an admin principal and API key offline and print the key once.
    Bootstrap(BootstrapArgs),
    /// Principals on a running registry (--url, admin key): list, show, create,
    /// set-role, set-team, disable, enable, delete.
    Principals(PrincipalsArgs),
    /// API keys on a running registry (--url): create and revoke (admin; a principal
    /// may revoke its own), rotate the key given with --token or --user.
    Keys(KeysArgs),
}

#[derive(clap::Args)]
pub struct PrincipalsArgs {
    #[command(subcommand)]
    pub command: PrincipalsCommand,
}

#[derive(clap::Subcommand)]
pub enum PrincipalsCommand {
    /// Every principal with its keys (ids, created, last used, expiry, revocation).
    List,
    /// One principal with its keys.
    Show { name: String },
    /// Create a principal (no key yet; see `keys create`).
    Create {
        name: String,
        /// admin, member or reader.
        #[arg(long)]
        role: String,
        /// The team (required for a member).
        #[arg(long)]
        team: Option<String>,
        /// user or service.
        #[arg(long, default_value = "user")]
        kind: String,
    },
    /// Change a principal's role (admin, member or reader).
    SetRole {
        name: String,
        role: String,
        /// Also set the team (a member needs one).
        #[arg(long)]
        team: Option<String>,
    },
    /// Change a principal's team; --none removes it.
    SetTeam {
        name: String,
        #[arg(required_unless_present = "none")]
        team: Option<String>,
        #[arg(long, conflicts_with = "team")]
        none: bool,
    },
    /// Disable a principal: its keys get 401 until it is enabled.
    Disable { name: String },
    /// Enable a disabled principal.
    Enable { name: String },
    /// Delete a principal and its keys.
    Delete { name: String },
}

#[derive(clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key for a principal and print its secret (shown once).
    Create {
        principal: String,
        /// Expiry, RFC 3339 (e.g. 2027-01-31T00:00:00Z).
        #[arg(long, conflicts_with = "expires_in_days")]
        expires_at: Option<String>,
        /// Expiry in whole days from now.
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// Revoke a key: it gets 401 from now on, on every node.
    Revoke { principal: String, key_id: String },
    /// Replace the key given with --token (or --user/--password) by a new one, printed
    /// once; the old key is revoked at once.
    Rotate,
}

#[derive(clap::Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub db: KeyedDbArgs,
    /// Name of the admin principal.
    #[arg(long, default_value = "admin")]
    pub name: String,
    /// Create a key even though an admin already exists.
    #[arg(long)]
    pub force: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::usage(format!("cannot start the runtime: {e}")))
}

async fn open(url: &str) -> Result<Store, CliError> {
    Store::connect(url)
        .await
        .map_err(|e| CliError::usage(format!("cannot open the database {url:?}: {e:#}")))
}

/// Checks the database's stored fingerprint against the key given (a wrong key would
/// otherwise show as every entry altered).
async fn check_fingerprint(
    store: &Store,
    key: &accord_server::audit::AuditKey,
) -> Result<(), CliError> {
    let stored = accord_server::audit::database_fingerprint(store.reader())
        .await
        .map_err(|e| CliError::usage(format!("cannot read the database: {e}")))?;
    match stored {
        Some(fp) if fp == key.fingerprint() => Ok(()),
        Some(_) => Err(CliError::usage(
            "the audit key given is not this database's (its fingerprint differs from \
             server_secrets.audit_key_fingerprint): pass the server's --audit-key-file",
        )),
        None => Err(CliError::usage(
            "the database has no audit key fingerprint: it was never started with an audit \
             key (start the server once), or the fingerprint was removed",
        )),
    }
}

pub fn audit(args: AuditArgs) -> CliResult {
    let (keyed, checkpoint, print_head) = match args.command {
        AuditCommand::Verify(v) => (v.db, v.checkpoint, false),
        AuditCommand::Checkpoint(db) => (db, None, true),
    };
    let checkpoint = checkpoint
        .map(|c| accord_server::audit::Checkpoint::parse(&c).map_err(CliError::usage))
        .transpose()?;
    let key = keyed.key(false)?;
    runtime()?.block_on(async {
        let store = open(&keyed.db.database_url).await?;
        let result = async {
            check_fingerprint(&store, &key).await?;
            let v = accord_server::audit::verify(store.reader(), &key, checkpoint.as_ref())
                .await
                .map_err(|e| CliError::usage(format!("cannot read the audit log: {e}")))?;
            let head = accord_server::audit::head(store.reader())
                .await
                .map_err(|e| CliError::usage(format!("cannot read the audit log: {e}")))?;
            Ok::<_, CliError>((v, head))
        }
        .await;
        store.close().await;
        let (v, head) = result?;
        if let Some(seq) = v.first_bad_seq.filter(|_| !v.ok) {
            let problem = v.problem.unwrap_or_default();
            if print_head {
                eprintln!("accord: no checkpoint: the audit log is BROKEN at seq {seq}: {problem}");
            } else {
                println!("audit log BROKEN: first bad seq {seq}: {problem}");
            }
            return Ok(Outcome::Failed);
        }
        if print_head {
            return match head {
                Some(h) => {
                    println!("{}", h.checkpoint);
                    Ok(Outcome::Ok)
                }
                None => Err(CliError::usage(
                    "the audit log is empty: nothing to checkpoint",
                )),
            };
        }
        match checkpoint {
            Some(c) => println!(
                "audit log intact: {} entries; checkpoint {} matches",
                v.entries, c.seq
            ),
            None => println!("audit log intact: {} entries", v.entries),
        }
        Ok(Outcome::Ok)
    })
}

pub fn admin(global: &Global, args: AdminArgs) -> CliResult {
    let b = match args.command {
        AdminCommand::Bootstrap(b) => b,
        AdminCommand::Principals(p) => return principals(global, p.command),
        AdminCommand::Keys(k) => return keys(global, k.command),
    };
    let audit_key = b.db.key(true)?;
    runtime()?.block_on(async {
        let store = open(&b.db.db.database_url).await?;
        // The bootstrap's entries are chained with the server's audit key.
        if let Err(e) = accord_server::audit::init(&store, audit_key).await {
            store.close().await;
            return Err(CliError::usage(format!("{e:#}")));
        }
        let key = accord_server::auth::bootstrap_admin(&store, &b.name, b.force).await;
        store.close().await;
        match key.map_err(|e| CliError::usage(e.to_string()))? {
            Some(key) => {
                eprintln!(
                    "accord: API key for admin '{}' (shown once; only its hash is stored)",
                    key.principal
                );
                println!("key id: {}", key.key_id);
                println!("secret: {}", *key.secret);
                println!("basic:  {}", *key.basic());
                println!("bearer: {}", *key.bearer());
                Ok(Outcome::Ok)
            }
            None => Err(CliError::Refused(
                "an admin already exists; pass --force to create another admin key".to_string(),
            )),
        }
    })
}

// ---- online: principals and keys ----

/// A registry error as an exit code and a message; 409 (the last admin, a name taken) and
/// 422 are refusals (exit 1), the rest as every registry command maps them.
fn refused(reg: &Registry, e: ClientError) -> CliError {
    match e {
        ClientError::Registry {
            status: 409 | 422,
            message,
            ..
        } => CliError::Refused(format!(
            "the registry refused the request: {}",
            one_line(&message)
        )),
        e => reg.error(e, None),
    }
}

/// One JSON call to the registry's `/v1` API.
async fn call(
    reg: &Registry,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, CliError> {
    let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
    let bytes = reg
        .send(method, path, "application/json", body)
        .await
        .map_err(|e| refused(reg, e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        CliError::Unreachable(format!(
            "unexpected answer from the registry (not JSON): {e}"
        ))
    })
}

fn json_output(global: &Global) -> bool {
    global.output == OutputFormat::Json
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

fn text(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_string()
}

/// A principal as text: a header line, then one line per key.
fn print_principal(p: &Value) {
    let team = p.get("team").and_then(Value::as_str).unwrap_or("-");
    let state = if p.get("disabled").and_then(Value::as_bool) == Some(true) {
        "disabled"
    } else {
        "enabled"
    };
    println!(
        "{}  {}  role={} team={} {}  created {}",
        text(p, "name"),
        text(p, "kind"),
        text(p, "role"),
        team,
        state,
        text(p, "createdAt")
    );
    for k in p
        .get("keys")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        println!(
            "  {}  {}  created {}  last used {}  expires {}{}",
            text(k, "keyId"),
            text(k, "status"),
            text(k, "createdAt"),
            text(k, "lastUsedAt"),
            text(k, "expiresAt"),
            match k.get("revokedAt").and_then(Value::as_str) {
                Some(at) => format!("  revoked {at}"),
                None => String::new(),
            }
        );
    }
}

/// A new key's secret, printed once (as `bootstrap` prints it).
fn print_issued(global: &Global, k: &Value) {
    if json_output(global) {
        print_json(k);
        return;
    }
    let (id, secret) = (text(k, "keyId"), text(k, "secret"));
    eprintln!(
        "accord: API key for '{}' (shown once; only its hash is stored)",
        text(k, "principal")
    );
    println!("key id:  {id}");
    println!("secret:  {secret}");
    println!("basic:   {id}:{secret}");
    println!("bearer:  {id}.{secret}");
    println!("expires: {}", text(k, "expiresAt"));
}

fn principals(global: &Global, command: PrincipalsCommand) -> CliResult {
    use reqwest::Method;
    let reg = Registry::connect(global)?;
    let p = |name: &str| format!("/v1/principals/{}", encode(name));
    run(async {
        let (answer, done) = match command {
            PrincipalsCommand::List => {
                let all = Value::Array(
                    reg.get_all("/v1/principals", |p| p["name"].as_str().map(str::to_string))
                        .await
                        .map_err(|e| refused(&reg, e))?,
                );
                if json_output(global) {
                    print_json(&all);
                } else {
                    for one in all.as_array().map(Vec::as_slice).unwrap_or_default() {
                        print_principal(one);
                    }
                }
                return Ok(Outcome::Ok);
            }
            PrincipalsCommand::Show { name } => {
                (call(&reg, Method::GET, &p(&name), None).await?, None)
            }
            PrincipalsCommand::Create {
                name,
                role,
                team,
                kind,
            } => {
                let body = json!({"name": name, "role": role, "team": team, "kind": kind});
                let v = call(&reg, Method::POST, "/v1/principals", Some(body)).await?;
                (v, Some(format!("created principal '{name}'")))
            }
            PrincipalsCommand::SetRole { name, role, team } => {
                let mut body = json!({"role": role});
                if let Some(t) = team {
                    body["team"] = json!(t);
                }
                let v = call(&reg, Method::PATCH, &p(&name), Some(body)).await?;
                (v, Some(format!("principal '{name}' is now {role}")))
            }
            PrincipalsCommand::SetTeam { name, team, none } => {
                let team = if none { None } else { team };
                let body = json!({ "team": team });
                let v = call(&reg, Method::PATCH, &p(&name), Some(body)).await?;
                let msg = match team {
                    Some(t) => format!("principal '{name}' is now in team '{t}'"),
                    None => format!("principal '{name}' has no team now"),
                };
                (v, Some(msg))
            }
            PrincipalsCommand::Disable { name } => {
                let path = format!("{}/disable", p(&name));
                let v = call(&reg, Method::POST, &path, None).await?;
                (v, Some(format!("principal '{name}' disabled")))
            }
            PrincipalsCommand::Enable { name } => {
                let path = format!("{}/enable", p(&name));
                let v = call(&reg, Method::POST, &path, None).await?;
                (v, Some(format!("principal '{name}' enabled")))
            }
            PrincipalsCommand::Delete { name } => {
                let v = call(&reg, Method::DELETE, &p(&name), None).await?;
                (
                    v,
                    Some(format!("principal '{name}' deleted, with its keys")),
                )
            }
        };
        if json_output(global) {
            print_json(&answer);
        } else {
            match done {
                Some(msg) => println!("{msg}"),
                None => print_principal(&answer),
            }
        }
        Ok(Outcome::Ok)
    })
}

fn keys(global: &Global, command: KeysCommand) -> CliResult {
    use reqwest::Method;
    let reg = Registry::connect(global)?;
    run(async {
        match command {
            KeysCommand::Create {
                principal,
                expires_at,
                expires_in_days,
            } => {
                let path = format!("/v1/principals/{}/keys", encode(&principal));
                let body = json!({"expiresAt": expires_at, "expiresInDays": expires_in_days});
                let k = call(&reg, Method::POST, &path, Some(body)).await?;
                print_issued(global, &k);
            }
            KeysCommand::Revoke { principal, key_id } => {
                let path = format!(
                    "/v1/principals/{}/keys/{}",
                    encode(&principal),
                    encode(&key_id)
                );
                let v = call(&reg, Method::DELETE, &path, None).await?;
                if json_output(global) {
                    print_json(&v);
                } else {
                    println!("key {key_id} of '{principal}' revoked");
                }
            }
            KeysCommand::Rotate => {
                let k = call(&reg, Method::POST, "/v1/keys/rotate", None).await?;
                print_issued(global, &k);
                if !json_output(global) {
                    eprintln!("accord: the key used for this call is revoked");
                }
            }
        }
        Ok(Outcome::Ok)
    })
}

//! The OpenAPI document, generated from the handlers' `utoipa` annotations. It is served
//! at `/openapi.json` and committed at `openapi/accord.json`; a test fails when the
//! committed copy is stale (regenerate with `cargo run -- openapi > openapi/accord.json`).

use crate::api::catalog;
use crate::api::{
    audit, compatibility, config, contexts, mode, ops, principals, proposals, schemas, streams,
    subjects, webhooks,
};
use crate::api::{dek_registry, entities};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Accord schema registry",
        description = "Confluent-compatible schema registry API, plus Accord's operations, identity and audit endpoints. With auth on, send an API key as HTTP Basic keyId:secret or as Authorization: Bearer keyId.secret."
    ),
    paths(
        subjects::list_subjects,
        subjects::lookup,
        subjects::delete_subject,
        subjects::by_metadata,
        subjects::list_versions,
        subjects::register,
        subjects::get_version,
        subjects::raw_version,
        subjects::referenced_by,
        subjects::delete_version,
        subjects::modify_tags,
        schemas::list_schemas,
        schemas::types,
        schemas::by_id,
        schemas::raw_by_id,
        schemas::subjects_of_id,
        schemas::versions_of_id,
        schemas::by_guid,
        schemas::ids_of_guid,
        config::get_global,
        config::put_global,
        config::delete_global,
        config::get_subject,
        config::put_subject,
        config::delete_subject,
        mode::get_global,
        mode::put_global,
        mode::delete_global,
        mode::get_subject,
        mode::put_subject,
        mode::delete_subject,
        compatibility::check_all,
        compatibility::check_version,
        contexts::list,
        contexts::remove,
        ops::root,
        ops::root_post,
        ops::live,
        ops::ready,
        ops::metrics,
        ops::openapi,
        ops::metadata_id,
        ops::metadata_version,
        principals::create,
        principals::list,
        principals::show,
        principals::update,
        principals::remove,
        principals::disable,
        principals::enable,
        principals::create_key,
        principals::delete_key,
        principals::rotate,
        audit::list,
        audit::verify,
        audit::checkpoint,
        streams::list,
        streams::get_stream,
        streams::apply,
        streams::get_contract,
        streams::versions,
        streams::list_consumers,
        streams::add_consumer,
        streams::remove_consumer,
        streams::approve_consumer,
        streams::reject_consumer,
        streams::put_producer,
        streams::get_producer,
        proposals::list,
        proposals::open,
        proposals::get_one,
        proposals::review,
        proposals::release,
        proposals::withdraw,
        webhooks::create,
        webhooks::list,
        webhooks::get_one,
        webhooks::remove,
        webhooks::deliveries,
        webhooks::resend,
        dek_registry::list_keks,
        dek_registry::create_kek,
        dek_registry::get_kek,
        dek_registry::update_kek,
        dek_registry::delete_kek,
        dek_registry::undelete_kek,
        dek_registry::test_kek,
        dek_registry::list_deks,
        dek_registry::create_dek_in_body,
        dek_registry::create_dek,
        dek_registry::get_dek,
        dek_registry::dek_versions,
        dek_registry::get_dek_version,
        dek_registry::delete_dek,
        dek_registry::delete_dek_version,
        dek_registry::undelete_dek,
        dek_registry::undelete_dek_version,
        entities::entity_keys,
        entities::shred_entity_in_body,
        entities::shred_entity,
        entities::shred_stream,
        catalog::search,
    ),
    components(schemas(crate::error::ErrorBody))
)]
pub struct ApiDoc;

/// The document as pretty JSON with a trailing newline (the committed form).
pub fn document() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

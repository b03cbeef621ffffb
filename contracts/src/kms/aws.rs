//! `aws-kms`: the AWS KMS JSON API (`TrentService.Encrypt` / `Decrypt`), signed with
//! SigV4. Filled in by issue 7's KMS work.

//! `accord-client`: the registry client and serializers (issue 4). Empty until then:
//! nothing here pretends to work.
#![forbid(unsafe_code)]

//! Serializers and deserializers (being written).

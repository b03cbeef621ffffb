//! The names of the differences the JSON Schema diff can find, and which of them each
//! compatibility policy accepts.
//!
//! The names are Confluent's `Difference.Type` constants, spelled the same, because they
//! are what users of a Confluent registry see in `verbose=true` messages and search for.

/// How strict the JSON Schema check is (Confluent's `compatibilityPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JsonPolicy {
    /// Confluent's default: any change that could make data written with the old schema
    /// fail to validate against the new one is refused, including properties added to or
    /// removed from open content models.
    #[default]
    Strict,
    /// Also accepts changes to the content model (`additionalProperties`,
    /// `unevaluatedProperties`, properties added to open or removed from closed models),
    /// trusting the producer not to send properties the reader does not declare.
    Lenient,
}

macro_rules! kinds {
    ($($name:ident),* $(,)?) => {
        /// One kind of difference between an original (writer) and an updated (reader)
        /// schema; see Confluent's `Difference.Type`.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum Kind {
            $($name),*
        }

        impl Kind {
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$name => stringify!($name)),*
                }
            }

            /// The kind spelled `name`.
            pub(crate) fn from_name(name: &str) -> Option<Kind> {
                match name {
                    $(stringify!($name) => Some(Kind::$name),)*
                    _ => None,
                }
            }
        }
    };
}

kinds! {
    // ID/TITLE/DESCRIPTION/DEFAULT_CHANGED are always compatible, so they are not tracked.
    SCHEMA_ADDED, SCHEMA_REMOVED, TYPE_EXTENDED, TYPE_NARROWED, TYPE_CHANGED,

    MAX_LENGTH_ADDED, MAX_LENGTH_REMOVED, MAX_LENGTH_INCREASED, MAX_LENGTH_DECREASED,
    MIN_LENGTH_ADDED, MIN_LENGTH_REMOVED, MIN_LENGTH_INCREASED, MIN_LENGTH_DECREASED,
    PATTERN_ADDED, PATTERN_REMOVED, PATTERN_CHANGED,

    MAXIMUM_ADDED, MAXIMUM_REMOVED, MAXIMUM_INCREASED, MAXIMUM_DECREASED,
    MINIMUM_ADDED, MINIMUM_REMOVED, MINIMUM_INCREASED, MINIMUM_DECREASED,
    EXCLUSIVE_MAXIMUM_ADDED, EXCLUSIVE_MAXIMUM_REMOVED, EXCLUSIVE_MAXIMUM_INCREASED,
    EXCLUSIVE_MAXIMUM_DECREASED,
    EXCLUSIVE_MINIMUM_ADDED, EXCLUSIVE_MINIMUM_REMOVED, EXCLUSIVE_MINIMUM_INCREASED,
    EXCLUSIVE_MINIMUM_DECREASED,
    MULTIPLE_OF_ADDED, MULTIPLE_OF_REMOVED, MULTIPLE_OF_EXPANDED, MULTIPLE_OF_REDUCED,
    MULTIPLE_OF_CHANGED,

    REQUIRED_ATTRIBUTE_ADDED, REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED, REQUIRED_ATTRIBUTE_REMOVED,
    MAX_PROPERTIES_ADDED, MAX_PROPERTIES_REMOVED, MAX_PROPERTIES_INCREASED,
    MAX_PROPERTIES_DECREASED,
    MIN_PROPERTIES_ADDED, MIN_PROPERTIES_REMOVED, MIN_PROPERTIES_INCREASED,
    MIN_PROPERTIES_DECREASED,
    ADDITIONAL_PROPERTIES_ADDED, ADDITIONAL_PROPERTIES_REMOVED, ADDITIONAL_PROPERTIES_EXTENDED,
    ADDITIONAL_PROPERTIES_NARROWED,
    UNEVALUATED_PROPERTIES_ADDED, UNEVALUATED_PROPERTIES_REMOVED,
    UNEVALUATED_PROPERTIES_EXTENDED, UNEVALUATED_PROPERTIES_NARROWED,
    DEPENDENCY_ARRAY_ADDED, DEPENDENCY_ARRAY_REMOVED, DEPENDENCY_ARRAY_EXTENDED,
    DEPENDENCY_ARRAY_NARROWED, DEPENDENCY_ARRAY_CHANGED,
    DEPENDENCY_SCHEMA_ADDED, DEPENDENCY_SCHEMA_REMOVED,

    REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL,
    REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL,
    OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL,
    PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL,
    REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL,
    REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL,
    OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL,
    PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL,
    PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL,
    PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL,
    PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,

    MAX_ITEMS_ADDED, MAX_ITEMS_REMOVED, MAX_ITEMS_INCREASED, MAX_ITEMS_DECREASED,
    MIN_ITEMS_ADDED, MIN_ITEMS_REMOVED, MIN_ITEMS_INCREASED, MIN_ITEMS_DECREASED,
    MAX_CONTAINS_ADDED, MAX_CONTAINS_REMOVED, MAX_CONTAINS_INCREASED, MAX_CONTAINS_DECREASED,
    MIN_CONTAINS_ADDED, MIN_CONTAINS_REMOVED, MIN_CONTAINS_INCREASED, MIN_CONTAINS_DECREASED,
    UNIQUE_ITEMS_ADDED, UNIQUE_ITEMS_REMOVED,
    ADDITIONAL_ITEMS_ADDED, ADDITIONAL_ITEMS_REMOVED, ADDITIONAL_ITEMS_EXTENDED,
    ADDITIONAL_ITEMS_NARROWED,
    UNEVALUATED_ITEMS_ADDED, UNEVALUATED_ITEMS_REMOVED, UNEVALUATED_ITEMS_EXTENDED,
    UNEVALUATED_ITEMS_NARROWED,
    ITEM_ADDED_TO_OPEN_CONTENT_MODEL,
    ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL,
    ITEM_ADDED_TO_CLOSED_CONTENT_MODEL,
    ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL,
    ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL,
    ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL,
    ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,
    ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL,

    ENUM_ARRAY_EXTENDED, ENUM_ARRAY_NARROWED, ENUM_ARRAY_CHANGED,

    COMBINED_TYPE_EXTENDED, COMBINED_TYPE_CHANGED,
    PRODUCT_TYPE_EXTENDED, PRODUCT_TYPE_NARROWED,
    SUM_TYPE_EXTENDED, SUM_TYPE_NARROWED,
    COMBINED_TYPE_SUBSCHEMAS_CHANGED,
    NOT_TYPE_EXTENDED, NOT_TYPE_NARROWED,
}

impl Kind {
    /// Whether `policy` accepts this difference (Confluent's `COMPATIBLE_CHANGES_*` sets).
    pub(crate) fn is_compatible(self, policy: JsonPolicy) -> bool {
        use Kind::*;
        let strict = matches!(
            self,
            SCHEMA_REMOVED
                | TYPE_EXTENDED
                | MAX_LENGTH_INCREASED
                | MAX_LENGTH_REMOVED
                | MIN_LENGTH_DECREASED
                | MIN_LENGTH_REMOVED
                | PATTERN_REMOVED
                | MAXIMUM_INCREASED
                | MAXIMUM_REMOVED
                | MINIMUM_DECREASED
                | MINIMUM_REMOVED
                | EXCLUSIVE_MAXIMUM_INCREASED
                | EXCLUSIVE_MAXIMUM_REMOVED
                | EXCLUSIVE_MINIMUM_DECREASED
                | EXCLUSIVE_MINIMUM_REMOVED
                | MULTIPLE_OF_REDUCED
                | MULTIPLE_OF_REMOVED
                | REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED
                | REQUIRED_ATTRIBUTE_REMOVED
                | DEPENDENCY_ARRAY_NARROWED
                | DEPENDENCY_ARRAY_REMOVED
                | DEPENDENCY_SCHEMA_REMOVED
                | MAX_PROPERTIES_INCREASED
                | MAX_PROPERTIES_REMOVED
                | MIN_PROPERTIES_DECREASED
                | MIN_PROPERTIES_REMOVED
                | ADDITIONAL_PROPERTIES_ADDED
                | ADDITIONAL_PROPERTIES_EXTENDED
                | UNEVALUATED_PROPERTIES_ADDED
                | UNEVALUATED_PROPERTIES_EXTENDED
                | PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
                | REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL
                | OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL
                | PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL
                | PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL
                | PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                | PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                | MAX_ITEMS_INCREASED
                | MAX_ITEMS_REMOVED
                | MIN_ITEMS_DECREASED
                | MIN_ITEMS_REMOVED
                | MAX_CONTAINS_INCREASED
                | MAX_CONTAINS_REMOVED
                | MIN_CONTAINS_DECREASED
                | MIN_CONTAINS_REMOVED
                | UNIQUE_ITEMS_REMOVED
                | ADDITIONAL_ITEMS_ADDED
                | ADDITIONAL_ITEMS_EXTENDED
                | UNEVALUATED_ITEMS_ADDED
                | UNEVALUATED_ITEMS_EXTENDED
                | ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
                | ITEM_ADDED_TO_CLOSED_CONTENT_MODEL
                | ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL
                | ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL
                | ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                | ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                | ENUM_ARRAY_EXTENDED
                | COMBINED_TYPE_EXTENDED
                | PRODUCT_TYPE_NARROWED
                | SUM_TYPE_EXTENDED
                | NOT_TYPE_NARROWED
        );
        strict
            || (policy == JsonPolicy::Lenient
                && matches!(
                    self,
                    ADDITIONAL_PROPERTIES_NARROWED
                        | ADDITIONAL_PROPERTIES_REMOVED
                        | UNEVALUATED_PROPERTIES_NARROWED
                        | UNEVALUATED_PROPERTIES_REMOVED
                        | REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL
                        | OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
                        | PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL
                        | PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                        | PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                ))
    }
}

/// How Confluent's `Difference.error()` describes a kind of difference: which of its
/// sentence shapes, each with two `%s` that its `SchemaValidatorBuilder` fills with the
/// reader's and the writer's name ("new"/"old" for BACKWARD, "old"/"new" for FORWARD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sentence {
    KeywordAddedOrRemoved,
    ValueIncreased,
    ValueDecreased,
    ValueChanged,
    TypeNarrowed,
    TypeExtended,
    TypeChanged,
    AddedToOpen,
    RequiredAddedToUnopen,
    RemovedFromClosed,
    RemovedNotCovered,
    AddedNotCovered,
    /// Confluent has no sentence for the kind: its description is empty.
    None,
}

impl Kind {
    fn sentence(self) -> Sentence {
        use Kind::*;
        match self {
            MAXIMUM_ADDED
            | MINIMUM_ADDED
            | EXCLUSIVE_MAXIMUM_ADDED
            | EXCLUSIVE_MINIMUM_ADDED
            | MULTIPLE_OF_ADDED
            | MAX_LENGTH_ADDED
            | MIN_LENGTH_ADDED
            | PATTERN_ADDED
            | REQUIRED_ATTRIBUTE_ADDED
            | MAX_PROPERTIES_ADDED
            | MIN_PROPERTIES_ADDED
            | DEPENDENCY_ARRAY_ADDED
            | DEPENDENCY_SCHEMA_ADDED
            | MAX_ITEMS_ADDED
            | MIN_ITEMS_ADDED
            | MAX_CONTAINS_ADDED
            | MIN_CONTAINS_ADDED
            | UNIQUE_ITEMS_ADDED
            | ADDITIONAL_ITEMS_REMOVED
            | ADDITIONAL_PROPERTIES_REMOVED
            | UNEVALUATED_PROPERTIES_REMOVED
            | UNEVALUATED_ITEMS_REMOVED => Sentence::KeywordAddedOrRemoved,
            MIN_LENGTH_INCREASED
            | MINIMUM_INCREASED
            | EXCLUSIVE_MINIMUM_INCREASED
            | MIN_PROPERTIES_INCREASED
            | MULTIPLE_OF_EXPANDED
            | MIN_ITEMS_INCREASED
            | MIN_CONTAINS_INCREASED => Sentence::ValueIncreased,
            MAX_LENGTH_DECREASED
            | MAXIMUM_DECREASED
            | MAX_ITEMS_DECREASED
            | MAX_CONTAINS_DECREASED
            | EXCLUSIVE_MAXIMUM_DECREASED
            | MAX_PROPERTIES_DECREASED => Sentence::ValueDecreased,
            PATTERN_CHANGED | MULTIPLE_OF_CHANGED | DEPENDENCY_ARRAY_CHANGED => {
                Sentence::ValueChanged
            }
            ADDITIONAL_ITEMS_NARROWED
            | ENUM_ARRAY_NARROWED
            | SUM_TYPE_NARROWED
            | ADDITIONAL_PROPERTIES_NARROWED
            | UNEVALUATED_PROPERTIES_NARROWED
            | UNEVALUATED_ITEMS_NARROWED => Sentence::TypeNarrowed,
            DEPENDENCY_ARRAY_EXTENDED
            | PRODUCT_TYPE_EXTENDED
            | SUM_TYPE_EXTENDED
            | NOT_TYPE_EXTENDED => Sentence::TypeExtended,
            TYPE_CHANGED
            | TYPE_NARROWED
            | COMBINED_TYPE_CHANGED
            | COMBINED_TYPE_SUBSCHEMAS_CHANGED
            | ENUM_ARRAY_CHANGED => Sentence::TypeChanged,
            REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
            | REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL
            | OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
            | ITEM_ADDED_TO_OPEN_CONTENT_MODEL => Sentence::AddedToOpen,
            REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL => Sentence::RequiredAddedToUnopen,
            PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL | ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL => {
                Sentence::RemovedFromClosed
            }
            PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
            | ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL => {
                Sentence::RemovedNotCovered
            }
            PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
            | ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL => Sentence::AddedNotCovered,
            _ => Sentence::None,
        }
    }

    /// The string Confluent's verbose `messages` hold for this difference at
    /// `json_path` (Confluent's own path, e.g. `#/properties/a/maxLength`; `#/` for the
    /// root), with `reader` and `writer` naming the two schemas as its compatibility
    /// checker does: `{errorType:"KIND", description:"..."}`.
    pub(crate) fn confluent_message(self, json_path: &str, reader: &str, writer: &str) -> String {
        let (r, w, p) = (reader, writer, json_path);
        let description = match self.sentence() {
            Sentence::KeywordAddedOrRemoved => {
                format!("The keyword at path '{p}' in the {r} schema is not present in the {w} schema")
            }
            Sentence::ValueIncreased => format!(
                "The value at path '{p}' in the {r} schema is more than its value in the {w} schema"
            ),
            Sentence::ValueDecreased => format!(
                "The value at path '{p}' in the {r} schema is less than its value in the {w} schema"
            ),
            Sentence::ValueChanged => {
                format!("The value at path '{p}' is different between the {r} and {w} schema")
            }
            Sentence::TypeNarrowed => format!(
                "An array or combined type at path '{p}' has fewer elements in the {r} schema than the {w} schema"
            ),
            Sentence::TypeExtended => format!(
                "An array or combined type at path '{p}' has more elements in the {r} schema than the {w} schema"
            ),
            Sentence::TypeChanged => format!(
                "A type at path '{p}' is different between the {r} schema and the {w} schema"
            ),
            Sentence::AddedToOpen => format!(
                "The {r} schema has an open content model and has a property or item at path '{p}' which is missing in the {w} schema"
            ),
            Sentence::RequiredAddedToUnopen => format!(
                "The {r} schema has an unopen content model and has a required property at path '{p}' which is missing in the {w} schema"
            ),
            Sentence::RemovedFromClosed => format!(
                "The {r} schema has a closed content model and is missing a property or item present at path '{p}' in the {w} schema"
            ),
            Sentence::RemovedNotCovered => format!(
                "A property or item is missing in the {r} schema but present at path '{p}' in the {w} schema and is not covered by its partially open content model"
            ),
            Sentence::AddedNotCovered => format!(
                "The {r} schema has a property or item at path '{p}' which is missing in the {w} schema and is not covered by its partially open content model"
            ),
            Sentence::None => String::new(),
        };
        format!(
            "{{errorType:\"{}\", description:\"{description}\"}}",
            self.as_str()
        )
    }

    /// The parts of [`Kind::confluent_message`]'s description around the path, with the
    /// reader's and writer's names in place: (before, after).
    pub(crate) fn confluent_frame(self, reader: &str, writer: &str) -> (String, String) {
        const MARK: &str = "\u{0}PATH\u{0}";
        let whole = self.confluent_message(MARK, reader, writer);
        match whole.split_once(MARK) {
            Some((a, b)) => (a.to_string(), b.to_string()),
            None => (whole, String::new()),
        }
    }
}

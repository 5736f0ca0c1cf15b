//! Field selections: compiled field masks as the encoder consumes them.

/// A compiled field mask over one message type: the fields to keep, each
/// either whole or restricted to a selection of its own sub-fields.
///
/// Build it with `flowlog_filter::FieldMask`, which validates paths against
/// the schema and orders the entries as fields are declared, the order the
/// encoder writes them in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selection {
    fields: Vec<SelectedField>,
}

/// One entry of a [`Selection`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SelectedField {
    /// The field's number in its message.
    pub number: u32,
    /// `None` keeps the whole field; `Some` keeps only these sub-fields.
    pub sub: Option<Selection>,
}

impl Selection {
    /// A selection of `fields`, which must be in declaration order and unique.
    pub fn new(fields: Vec<SelectedField>) -> Self {
        Self { fields }
    }

    /// The selected fields in declaration order.
    pub fn fields(&self) -> &[SelectedField] {
        &self.fields
    }

    /// The entry for field `number`, if it is selected.
    pub fn get(&self, number: u32) -> Option<&SelectedField> {
        self.fields.iter().find(|f| f.number == number)
    }

    /// True when nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

//! Choosing the value type to diff, by pprof's names, with a clear error when the inputs differ.

use crate::model::{Profile, ValueType};

/// Why no common value type could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// The requested (or default) value type is missing from one side.
    #[error(
        "the inputs do not share sample type `{wanted}`: base has [{base}], later has [{later}]; pick one both have with --sample-index"
    )]
    Mismatch {
        /// What was looked for.
        wanted: String,
        /// Base's types.
        base: String,
        /// Later's types.
        later: String,
    },
    /// The same name has different units on the two sides.
    #[error("sample type `{name}` is in {base_unit} in base but in {later_unit} in later")]
    UnitMismatch {
        /// Value type name.
        name: String,
        /// Unit in base.
        base_unit: String,
        /// Unit in later.
        later_unit: String,
    },
}

fn list(p: &Profile) -> String {
    p.value_types()
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Picks the column to diff in each profile: `requested` (a name or an index into base's types),
/// else base's default (see [`Profile::default_value_index`]).
pub fn select_value(
    base: &Profile,
    later: &Profile,
    requested: Option<&str>,
) -> Result<(usize, usize, ValueType), SelectError> {
    let mismatch = |wanted: &str| SelectError::Mismatch {
        wanted: wanted.to_string(),
        base: list(base),
        later: list(later),
    };
    let bi = match requested {
        Some(r) => base.value_index(r).ok_or_else(|| mismatch(r))?,
        None => base.default_value_index(),
    };
    let Some(vt) = base.value_types().get(bi) else {
        return Err(mismatch(requested.unwrap_or("(default)")));
    };
    let li = later
        .value_types()
        .iter()
        .position(|v| v.kind == vt.kind)
        .ok_or_else(|| mismatch(&vt.kind))?;
    let lvt = &later.value_types()[li];
    if lvt.unit != vt.unit {
        return Err(SelectError::UnitMismatch {
            name: vt.kind.clone(),
            base_unit: vt.unit.clone(),
            later_unit: lvt.unit.clone(),
        });
    }
    Ok((bi, li, vt.clone()))
}

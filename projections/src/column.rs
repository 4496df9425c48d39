//! Columns whose stored form is not their field's type: a row type decodes them through
//! `#[sqlx(try_from = "Stored<…>")]`, so each read model has one row type and a bad value is a
//! decoding error of that row, never a field-by-field copy or a caller's parse.

use sqlx::decode::Decode;
use sqlx::error::BoxDynError;
use sqlx::types::Json;
use sqlx::{Database, Type};

/// A column as stored, decoded as `T` and then converted into its field.
pub(crate) struct Stored<T>(T);

impl<'r, DB: Database, T: Decode<'r, DB>> Decode<'r, DB> for Stored<T> {
    fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        T::decode(value).map(Stored)
    }
}

impl<DB: Database, T: Type<DB>> Type<DB> for Stored<T> {
    fn type_info() -> DB::TypeInfo {
        T::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        T::compatible(ty)
    }
}

/// A size or count that may be absent: the databases keep it signed.
impl TryFrom<Stored<Option<i64>>> for Option<u64> {
    type Error = std::num::TryFromIntError;
    fn try_from(Stored(n): Stored<Option<i64>>) -> Result<Self, Self::Error> {
        n.map(u64::try_from).transpose()
    }
}

/// A JSON document kept as text (not `jsonb`), the same on both databases.
impl TryFrom<Stored<String>> for serde_json::Value {
    type Error = serde_json::Error;
    fn try_from(Stored(text): Stored<String>) -> Result<Self, Self::Error> {
        serde_json::from_str(&text)
    }
}

/// A list kept as a JSON array, or NULL while it is empty.
impl<T> From<Stored<Option<Json<Vec<T>>>>> for Vec<T> {
    fn from(Stored(list): Stored<Option<Json<Vec<T>>>>) -> Self {
        list.map(|Json(list)| list).unwrap_or_default()
    }
}

/// A log position that may be absent.
impl TryFrom<Stored<Option<String>>> for Option<store::Position> {
    type Error = store::StoreError;
    fn try_from(Stored(text): Stored<Option<String>>) -> Result<Self, Self::Error> {
        text.map(|t| t.parse()).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms_become_their_fields_or_fail() {
        assert_eq!(Option::<u64>::try_from(Stored(Some(7_i64))), Ok(Some(7)));
        assert_eq!(Option::<u64>::try_from(Stored(None::<i64>)), Ok(None));
        assert!(Option::<u64>::try_from(Stored(Some(-1_i64))).is_err());
        assert_eq!(
            Vec::<String>::from(Stored(None::<Json<Vec<String>>>)),
            Vec::<String>::new()
        );
        assert!(Option::<store::Position>::try_from(Stored(Some("x".to_string()))).is_err());
        assert!(serde_json::Value::try_from(Stored("{".to_string())).is_err());
    }
}

//! Identifiers: distinct types so a `BookId` can never be passed where a `MemberId` is meant.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = u64)]
        pub struct $name(pub u64);

        impl From<u64> for $name {
            fn from(v: u64) -> Self {
                Self(v)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A book of the catalogue.
    BookId
);
id_type!(
    /// A member (reader or librarian).
    MemberId
);
id_type!(
    /// A loan of 1–5 books.
    LoanId
);
id_type!(
    /// A member's hold (reservation) on a book.
    HoldId
);

//! Query parameters of the listing routes, validated like body fields
//! (`422` with `loc ["query", "<name>"]`).

use crate::error::{ApiError, FieldError};

/// A page's `limit` when none is given, and the largest one accepted.
pub const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 100;

pub fn query_error(name: &str, kind: &'static str, msg: &str) -> FieldError {
    FieldError {
        loc: vec!["query".into(), name.into()],
        msg: msg.into(),
        kind,
    }
}

/// Every failed check of a query at once, as one `422`.
pub fn all_valid(checks: [Option<FieldError>; 3]) -> Result<(), ApiError> {
    let errors: Vec<FieldError> = checks.into_iter().flatten().collect();
    match errors.is_empty() {
        true => Ok(()),
        false => Err(ApiError::Validation(errors)),
    }
}

/// Cuts a page fetched with `limit + 1` rows down to `limit`; the cursor
/// of its last item when a row followed, else `None` (the last page).
pub fn next_cursor<T>(
    page: &mut Vec<T>,
    limit: u32,
    cursor_of: impl Fn(&T) -> String,
) -> Option<String> {
    if page.len() <= limit as usize {
        return None;
    }
    page.truncate(limit as usize);
    page.last().map(cursor_of)
}

/// `limit`: a whole number from 1 to 100 (default 50).
pub fn page_limit(raw: Option<String>) -> Result<u32, FieldError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_PAGE);
    };
    let number: i64 = raw
        .trim()
        .parse()
        .map_err(|_| query_error("limit", "int_parsing", "Input should be a valid integer"))?;
    if number < 1 {
        return Err(query_error(
            "limit",
            "greater_than_equal",
            "Input should be greater than or equal to 1",
        ));
    }
    if number > i64::from(MAX_PAGE) {
        return Err(query_error(
            "limit",
            "less_than_equal",
            "Input should be less than or equal to 100",
        ));
    }
    Ok(number as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_a_whole_number_from_1_to_100() {
        assert_eq!(page_limit(None), Ok(50));
        assert_eq!(page_limit(Some("100".into())), Ok(100));
        assert_eq!(page_limit(Some("1".into())), Ok(1));
        for bad in ["0", "101", "-1", "ten", "1.5", ""] {
            let error = page_limit(Some(bad.into())).unwrap_err();
            assert_eq!(error.loc, ["query", "limit"], "{bad}");
        }
    }
}

//! The stable, machine-readable error codes of the API contract (`{"error": {"code": …}}`),
//! defined once: the API writes them and the web front matches on them, so a renamed code is a
//! compile error in both rather than a silent mismatch.

/// 422: the input breaks a rule; `details` lists each field and why.
pub const VALIDATION_FAILED: &str = "validation_failed";
/// 400: the request could not be read.
pub const BAD_REQUEST: &str = "bad_request";
/// 400: the body is not valid JSON.
pub const MALFORMED_JSON: &str = "malformed_json";
/// 400: the query string could not be read.
pub const BAD_QUERY: &str = "bad_query";
/// 400: a path parameter could not be read.
pub const BAD_PATH: &str = "bad_path";
/// 415: the body is not `application/json`.
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
/// 401.
pub const UNAUTHORIZED: &str = "unauthorized";
/// 403.
pub const FORBIDDEN: &str = "forbidden";
/// 404.
pub const NOT_FOUND: &str = "not_found";
/// 405.
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
/// 413.
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
/// 429: too many failed logins for one email.
pub const TOO_MANY_ATTEMPTS: &str = "too_many_attempts";
/// 503: a dependency is down.
pub const UNAVAILABLE: &str = "unavailable";
/// 503: the replica serves as many requests as it may.
pub const OVERLOADED: &str = "overloaded";
/// 503: the request ran past its deadline.
pub const TIMEOUT: &str = "timeout";
/// 500.
pub const INTERNAL: &str = "internal";
/// 500 injected by the fault switch (tests and drills only).
pub const INJECTED_FAULT: &str = "injected_fault";

/// 409: no copy of a requested book is on the shelf.
pub const NO_COPY_AVAILABLE: &str = "no_copy_available";
/// 409: the loan would take the member past the loan limit.
pub const LOAN_LIMIT: &str = "loan_limit";
/// 409: the loan was already returned.
pub const ALREADY_RETURNED: &str = "already_returned";
/// 409: another book has this ISBN.
pub const DUPLICATE_ISBN: &str = "duplicate_isbn";
/// 409: `copies_total` would go below the copies on loan.
pub const COPIES_ON_LOAN: &str = "copies_on_loan";
/// 409: a book with copies on loan cannot be withdrawn.
pub const BOOK_ON_LOAN: &str = "book_on_loan";
/// 409: another member has this email.
pub const DUPLICATE_EMAIL: &str = "duplicate_email";
/// 409: the loan was renewed as often as allowed.
pub const RENEWAL_LIMIT: &str = "renewal_limit";
/// 409: a member waits for a book of the loan, so it cannot be renewed.
pub const HOLD_WAITING: &str = "hold_waiting";
/// 409: a copy of the book is on the shelf: borrow it rather than wait.
pub const COPY_AVAILABLE: &str = "copy_available";
/// 409: the member already has a hold on the book.
pub const ALREADY_ON_HOLD: &str = "already_on_hold";
/// 409: the member has the book on loan.
pub const ALREADY_BORROWED: &str = "already_borrowed";
/// 409: the member has as many holds as allowed.
pub const HOLD_LIMIT: &str = "hold_limit";
/// 409: the hold is no longer waiting or ready.
pub const HOLD_CLOSED: &str = "hold_closed";

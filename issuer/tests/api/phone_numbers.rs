//! One phone number, one account: every way of writing a number logs into the same account,
//! an ambiguous `(0)` is refused, and an account stored by earlier versions under the number's
//! legacy form (`+4407700900400`, the trunk zero kept) is reached by the canonical number and
//! moved to it.

use serde_json::Value;

use crate::helpers::{Backend, TestApp, assert_error, backend_tests, claims_of};
use crate::otp::spawn_otp_app;

backend_tests!(
    every_way_of_writing_a_number_logs_into_one_account,
    a_bracketed_zero_inside_the_number_is_refused_with_422,
    an_account_stored_under_the_legacy_form_is_reached_and_moved_to_the_canonical_number,
    when_both_forms_have_accounts_the_canonical_one_wins_and_the_legacy_one_stays,
);

const CANONICAL: &str = "+447700900400";
const LEGACY: &str = "+4407700900400";
const LEGACY_ID: &str = "0190a000-0000-7000-8000-00000000000a";
const CANONICAL_ID: &str = "0190a000-0000-7000-8000-00000000000c";

impl TestApp {
    /// Inserts a phone account as an earlier version stored it, bypassing [`issuer::domain::Phone`].
    async fn insert_phone_row(&self, id: &str, phone: &str) {
        let insert = format!(
            "INSERT INTO users (id, phone, role, created_at, updated_at)
             VALUES ('{id}', '{phone}', 'user', 1, 1)"
        );
        sqlx::query(sqlx::AssertSqlSafe(insert))
            .execute(&mut self.second_connection().await)
            .await
            .expect("insert a phone account");
    }

    /// Every account as `(id, phone)`, by phone.
    async fn phone_rows(&self) -> Vec<(String, String)> {
        let select = "SELECT CAST(id AS TEXT), phone FROM users ORDER BY phone";
        sqlx::query_as(select)
            .fetch_all(&mut self.second_connection().await)
            .await
            .expect("read the accounts")
    }
}

/// The account (`sub`) a token response is for.
fn sub(tokens: &Value) -> String {
    let claims = claims_of(tokens["access_token"].as_str().unwrap());
    claims["sub"].as_str().unwrap().to_owned()
}

fn phone_number(tokens: &Value) -> Value {
    claims_of(tokens["access_token"].as_str().unwrap())["phone_number"].clone()
}

async fn every_way_of_writing_a_number_logs_into_one_account(backend: Backend) {
    let app = spawn_otp_app(&backend, &[]).await;

    let first = app.phone_signed_in(CANONICAL).await;
    for written in ["+44 07700 900400", "+44 (0)7700 900400", LEGACY] {
        let again = app.phone_signed_in(written).await;
        assert_eq!(sub(&again), sub(&first), "{written}");
        assert_eq!(phone_number(&again), CANONICAL, "{written}");
    }

    assert_eq!(app.phone_rows().await.len(), 1);
}

async fn a_bracketed_zero_inside_the_number_is_refused_with_422(backend: Backend) {
    let app = spawn_otp_app(&backend, &[]).await;

    let refused = app.otp_start("+44077(0)00900400").await;

    let description = assert_error(refused, 422, "invalid_request").await;
    assert!(
        description.contains("only right after the country code"),
        "{description}"
    );
    let outbox = app.otp_outbox.as_ref().unwrap();
    assert_eq!(outbox.last_code(CANONICAL), None, "no code sent");
}

async fn an_account_stored_under_the_legacy_form_is_reached_and_moved_to_the_canonical_number(
    backend: Backend,
) {
    let app = spawn_otp_app(&backend, &[]).await;
    app.insert_phone_row(LEGACY_ID, LEGACY).await;

    let first = app.phone_signed_in(CANONICAL).await;

    assert_eq!(sub(&first), LEGACY_ID);
    assert_eq!(phone_number(&first), CANONICAL);
    assert_eq!(
        app.phone_rows().await,
        [(LEGACY_ID.to_owned(), CANONICAL.to_owned())],
        "the row now holds the canonical number"
    );
    let second = app.phone_signed_in("+44 7700 900400").await;
    assert_eq!(sub(&second), LEGACY_ID);
}

async fn when_both_forms_have_accounts_the_canonical_one_wins_and_the_legacy_one_stays(
    backend: Backend,
) {
    let app = spawn_otp_app(&backend, &[]).await;
    app.insert_phone_row(LEGACY_ID, LEGACY).await;
    app.insert_phone_row(CANONICAL_ID, CANONICAL).await;

    let login = app.phone_signed_in("+44 (0)7700 900400").await;

    assert_eq!(sub(&login), CANONICAL_ID);
    assert_eq!(
        app.phone_rows().await,
        [
            (LEGACY_ID.to_owned(), LEGACY.to_owned()),
            (CANONICAL_ID.to_owned(), CANONICAL.to_owned()),
        ]
    );
}

//! The key ring through HTTP: publish-before-sign, the lifecycle next -> current -> retired ->
//! removed as the clock moves, hand retirement, per-kid PEMs, and changes picked up without a
//! restart.

use std::time::Duration;

use issuer::clock::{Clock, SystemClock, unix_seconds};
use issuer::keys::lifecycle::RETIRED_KEY_LEEWAY;
use issuer::keys::rotation::{self, Retirement, Rotation, RotationTiming};
use tempfile::TempDir;
use test_support::wait::wait_until;

use crate::helpers::{Backend, TestApp, assert_error, kid_of, spawn_app_with, verify_rs256};

/// `KEY_PUBLISH_LEAD` in these tests (the default).
pub(crate) const LEAD: Duration = Duration::from_secs(3600);
/// `ACCESS_TOKEN_TTL` (the default).
pub(crate) const TTL: Duration = Duration::from_secs(900);
/// How long a retired key stays after its last token expired.
const LEEWAY: Duration = RETIRED_KEY_LEEWAY;

/// A `KEYS_DIR` of its own, holding a ring whose first key signs from the start.
pub(crate) struct KeysDir {
    dir: TempDir,
    /// The first key.
    pub(crate) first: String,
}

impl KeysDir {
    pub(crate) fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let first = rotation::rotate(dir.path(), timing(&SystemClock), false)
            .unwrap()
            .kid;
        Self { dir, first }
    }

    pub(crate) fn path(&self) -> String {
        self.dir.path().display().to_string()
    }

    pub(crate) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `issuer keys rotate` at the clock's time.
    pub(crate) fn rotate(&self, clock: &dyn Clock) -> Rotation {
        rotation::rotate(self.dir.path(), timing(clock), false).unwrap()
    }

    /// `issuer keys retire KID [--unpublish]` at the clock's time.
    pub(crate) fn retire(&self, clock: &dyn Clock, kid: &str, unpublish: bool) -> Retirement {
        rotation::retire(self.dir.path(), kid, timing(clock), unpublish).unwrap()
    }

    /// An issuer on this ring that checks it for changes every 100 ms.
    pub(crate) async fn spawn_app(&self) -> TestApp {
        self.spawn_app_with(&[]).await
    }

    /// An issuer on this ring that checks it for changes every 100 ms, with `extra_flags`.
    async fn spawn_app_with(&self, extra_flags: &[&str]) -> TestApp {
        let path = self.path();
        let mut flags = vec![
            "--keys-dir",
            path.as_str(),
            "--keys-reload-interval",
            "100ms",
        ];
        flags.extend_from_slice(extra_flags);
        spawn_app_with(&Backend::Sqlite, &flags, |_| {}).await
    }

    /// Rotates in a second key while the ring holds only its first, and waits until the
    /// app's JWKS lists both; the second key's kid.
    async fn publish_second_key(&self, app: &TestApp) -> String {
        let second = self.rotate(&app.clock).kid;
        wait_for_jwks(app, &[&self.first, &second]).await;
        second
    }
}

/// A ring of its own and an issuer on it with `extra_flags`, `alice@example.com` registered.
async fn alice_on_a_new_ring(extra_flags: &[&str]) -> (KeysDir, TestApp) {
    let keys = KeysDir::new();
    let app = keys.spawn_app_with(extra_flags).await;
    app.register("alice@example.com", None).await;
    (keys, app)
}

/// The kid of an access token issued to `alice@example.com` now: the key the app signs with.
async fn alices_kid(app: &TestApp) -> String {
    kid_of(&app.access_token("alice@example.com").await)
}

fn timing(clock: &dyn Clock) -> RotationTiming {
    RotationTiming {
        now: unix_seconds(clock.now()),
        publish_lead: LEAD,
        token_ttl: TTL,
    }
}

/// Waits until the app's JWKS lists exactly `kids` (a reload of `KEYS_DIR` lands).
pub(crate) async fn wait_for_jwks(app: &TestApp, kids: &[&str]) {
    wait_until(&format!("the JWKS lists {kids:?}"), || async {
        app.jwks_kids().await == kids
    })
    .await;
}

async fn pem(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    response.text().await.unwrap()
}

#[tokio::test]
async fn a_new_key_is_published_one_lead_before_it_signs_and_stays_until_its_tokens_expired() {
    let (keys, app) = alice_on_a_new_ring(&[]).await;
    let a = keys.first.clone();
    assert_eq!(alices_kid(&app).await, a);
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");

    let b = keys.publish_second_key(&app).await;

    // Published, not signing: for a whole lead, which is longer than the JWKS max-age.
    assert_eq!(alices_kid(&app).await, a);
    assert_eq!(
        pem(&app, "/public-key").await,
        pem(&app, &format!("/public-key/{a}")).await
    );
    assert_ne!(
        pem(&app, "/public-key").await,
        pem(&app, &format!("/public-key/{b}")).await
    );
    app.clock.advance(LEAD - Duration::from_secs(1));
    let last_of_a = app.access_token("alice@example.com").await;
    assert_eq!(kid_of(&last_of_a), a);

    // Current from its time on, with no file written and no reload.
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(alices_kid(&app).await, b);
    assert_eq!(
        pem(&app, "/public-key").await,
        pem(&app, &format!("/public-key/{b}")).await
    );
    assert_eq!(app.jwks_kids().await, [a.as_str(), b.as_str()]);

    // Retired: published while its last token may still be valid, plus leeway.
    app.clock.advance(TTL + LEEWAY - Duration::from_secs(1));
    let jwks = app.jwks().await;
    assert!(verify_rs256(&last_of_a, &jwks["keys"][0]).is_ok());
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(app.jwks_kids().await, [b.as_str()]);
    assert_error(app.get(&format!("/public-key/{a}")).await, 404, "not_found").await;
}

#[tokio::test]
async fn retiring_the_current_key_by_hand_makes_the_next_one_sign_at_once() {
    let (keys, app) = alice_on_a_new_ring(&[]).await;
    let a = keys.first.clone();
    let b = keys.publish_second_key(&app).await;

    let retired = keys.retire(&app.clock, &a[..8], false);

    assert_eq!(retired.kid, a);
    assert_eq!(retired.promoted.as_ref().map(|(kid, _)| kid), Some(&b));
    // A key made current by hand takes over within the second (after the second in which
    // the retired key started, so that the two never tie).
    app.clock.advance(Duration::from_secs(1));
    wait_until("the issuer signs with the promoted key", || async {
        alices_kid(&app).await == b
    })
    .await;
    assert_eq!(
        app.jwks_kids().await,
        [a.as_str(), b.as_str()],
        "a stays for its tokens"
    );
}

#[tokio::test]
async fn an_unpublished_key_leaves_the_jwks_at_once_and_a_next_key_retired_never_signs() {
    let (keys, app) = alice_on_a_new_ring(&[]).await;
    let a = keys.first.clone();
    let b = keys.publish_second_key(&app).await;

    keys.retire(&app.clock, &b, false);
    wait_for_jwks(&app, &[&a]).await;
    app.clock.advance(LEAD * 2);
    assert_eq!(alices_kid(&app).await, a);

    let c = keys.rotate(&app.clock).kid;
    keys.retire(&app.clock, &a, true);
    app.clock.advance(Duration::from_secs(1));
    wait_for_jwks(&app, &[&c]).await;
    assert_eq!(alices_kid(&app).await, c);
    assert_error(app.get(&format!("/public-key/{a}")).await, 404, "not_found").await;
}

#[tokio::test]
async fn scheduled_rotation_publishes_the_next_key_one_lead_before_the_interval_ends() {
    let (keys, app) = alice_on_a_new_ring(&["--key-rotation-interval", "1d"]).await;
    let a = keys.first.clone();

    app.clock.advance(Duration::from_secs(86_400) - LEAD);
    wait_until("a scheduled rotation", || async {
        app.jwks_kids().await.len() == 2
    })
    .await;
    let kids = app.jwks_kids().await;
    assert_eq!(kids[0], a);
    assert_eq!(alices_kid(&app).await, a);

    app.clock.advance(LEAD);
    assert_eq!(alices_kid(&app).await, kids[1]);
}

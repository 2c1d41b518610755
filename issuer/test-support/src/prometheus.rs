//! Reading a `/metrics` page (Prometheus text format) the way the tests assert on it: one
//! sample by metric name and exact label set.
//!
//! ```
//! use test_support::prometheus::sample;
//!
//! let page = "# TYPE issuer_logins_total counter\n\
//!             issuer_logins_total{result=\"success\"} 2\n\
//!             issuer_password_hashes_total 3\n";
//! assert_eq!(sample(page, "issuer_logins_total", &[("result", "success")]), 2.0);
//! assert_eq!(sample(page, "issuer_logins_total", &[("result", "rate_limited")]), 0.0);
//! assert_eq!(sample(page, "issuer_password_hashes_total", &[]), 3.0);
//! ```

/// `GET {base_url}/metrics`, asserting a 200 in the Prometheus text format; the page.
pub async fn scrape(client: &reqwest::Client, base_url: &str) -> String {
    let response = client
        .get(format!("{base_url}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("a text content type")
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        response.headers()
    );
    response.text().await.expect("the metrics page")
}

/// The value of the sample `name` with exactly `labels` (in any order) in a Prometheus text
/// page; 0 when the page has none (a counter not yet incremented is not listed).
pub fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    wanted.sort();
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, labels) = series.split_once('{').unwrap_or((series, "}"));
            let mut found: Vec<(String, String)> = labels
                .strip_suffix('}')?
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').expect("label=value");
                    (key.to_owned(), value.trim_matches('"').to_owned())
                })
                .collect();
            found.sort();
            (metric == name && found == wanted).then(|| value.parse().expect("a number"))
        })
        .unwrap_or(0.0)
}

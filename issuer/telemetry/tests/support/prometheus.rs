//! Reading a Prometheus text page in tests. Shared (`#[path]`-included) by the issuer's API
//! tests and the example services' end-to-end tests.

/// The value of the sample `name` with exactly `labels` in a Prometheus text page; 0 when the
/// page has none (a counter not yet incremented is not listed).
pub(crate) fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
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

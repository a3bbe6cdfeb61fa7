//! A primary outage under load: every request is answered by the fallback or
//! the degraded answer, none hangs, and retries stay inside the retry budget.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Server, client};

#[tokio::test(flavor = "multi_thread")]
async fn primary_outage_under_load_is_contained() {
    let server = Server::with_config(
        r#"
        [retry]
        base_delay_ms = 1
        max_delay_ms = 5
        [[routes]]
        name = "primary"
        provider = "mock"
        model = "m1"
        mock = { directives = true }
        [[routes]]
        name = "secondary"
        provider = "mock"
        model = "m2"
        mock = { answer = "From the secondary." }
        "#,
    );
    let http = client();
    let requests = (0..200).map(|i| {
        let http = http.clone();
        let url = server.url("/chat");
        async move {
            // Every request takes the primary down with the directive; the
            // secondary ignores directives.
            let response = http
                .post(url)
                .json(&json!({"message": format!("mock:status=503 question {i}")}))
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .expect("answered within 30 s");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("JSON body");
            (status, body)
        }
    });
    let answers = futures_util::future::join_all(requests).await;

    let mut from_secondary = 0;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        if body["degraded"] == true {
            assert!(body["incident_id"].as_str().unwrap().starts_with("INC-"));
        } else {
            assert_eq!(body["model_route"], "secondary", "{body}");
            assert_eq!(body["answer"], "From the secondary.");
            from_secondary += 1;
        }
    }
    assert!(
        from_secondary >= 190,
        "only {from_secondary} answers came from the fallback"
    );

    // Each failed primary call is counted once; without a retry budget and
    // circuit breaker there would be up to 600 (three attempts each).
    let metrics = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let primary_failures: u64 = metrics
        .lines()
        .find(|line| {
            line.starts_with(
                r#"hello_ship_upstream_errors_total{route="primary",kind="overloaded"}"#,
            )
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no primary error counter in:\n{metrics}"));
    assert!(primary_failures >= 1, "the outage was seen");
    assert!(
        primary_failures <= 250,
        "{primary_failures} primary calls for 200 requests exceed the 20 % retry budget"
    );
    assert!(
        metrics.contains(r#"hello_ship_breaker_state{route="primary"} 2"#),
        "the primary circuit opened:\n{metrics}"
    );
}

//! Security: the token guard, the public-bind refusal, the dashboard login, CORS.

use serde_json::Value;
use snakepit_server::{PoolDef, Server, ServerConfig, ServerError};

use crate::support::{serve_default, serve_with, showcase, with_token};

#[tokio::test(flavor = "multi_thread")]
async fn a_public_address_without_a_token_is_refused() {
    let mut config = ServerConfig::default();
    config.bind = "0.0.0.0:0".parse().unwrap();
    let refused = Server::start(config, Vec::new()).await.unwrap_err();
    assert!(matches!(refused, ServerError::Refused(_)), "{refused:?}");
    assert!(refused.to_string().contains("without a token"), "{refused}");

    let mut config = with_token("t0ken");
    config.bind = "0.0.0.0:0".parse().unwrap();
    assert!(config.check().is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_but_health_needs_the_token() {
    let server = serve_with(
        with_token("s3cret"),
        vec![PoolDef::new("default", "x", showcase(1))],
    )
    .await;
    let ping = server.url("/v1/pools/default/commands/ping");

    let missing = server.client.post(&ping).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert!(
        missing.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error"]["kind"],
        "unauthorized"
    );

    let wrong = server
        .client
        .post(&ping)
        .bearer_auth("s3cre")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let longer = server
        .client
        .post(&ping)
        .bearer_auth("s3cret!")
        .send()
        .await
        .unwrap();
    assert_eq!(longer.status(), 401);
    let right = server
        .client
        .post(&ping)
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);

    for path in [
        "/v1/pools",
        "/v1/events",
        "/metrics",
        "/v1/pools/default/stats",
    ] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }

    // The dashboard shows the login form; a wrong token gets nothing, the right one a cookie
    // that then opens the API too.
    let page = server.client.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 401);
    assert!(page.text().await.unwrap().contains("name=\"token\""));
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = |token: &'static str| {
        no_redirects
            .post(server.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    assert_eq!(login("nope").await.unwrap().status(), 401);
    let signed_in = login("s3cret").await.unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let page = server
        .client
        .get(server.url("/"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let pools = server
        .client
        .get(server.url("/v1/pools"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(pools.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_headers_only_for_configured_origins() {
    let server = serve_default(1).await;
    let response = server
        .client
        .get(server.url("/v1/pools"))
        .header("origin", "http://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
    server.stop().await;

    let mut config = ServerConfig::default();
    config.cors_origins = vec!["http://app.example".into()];
    let server = serve_with(config, vec![PoolDef::new("default", "x", showcase(1))]).await;
    let allowed = server
        .client
        .get(server.url("/v1/pools"))
        .header("origin", "http://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let other = server
        .client
        .get(server.url("/v1/pools"))
        .header("origin", "http://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    server.stop().await;
}

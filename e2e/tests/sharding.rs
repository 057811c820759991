//! A sharded install (deploy/local/up.sh): two shards and the front-proxy as separate
//! processes, used through the proxy with kubectl exactly as a tenant would.

use std::time::Duration;

use std::process::Command;

use e2e::eventually;
use e2e::sharded::{create_ready, label_shards, presented_certificate, raw_get, workspace, Sharded};

#[test]
fn workspaces_spread_over_shards_behind_the_proxy() {
    let s = Sharded::up("alice-token,alice,1,\"dev,system:masters\"\n");
    let k = &s.kcp;
    label_shards(&s);
    // up.sh waited for /readyz: the proxy is ready only once its index loaded every shard.
    assert_eq!(k.kubectl(&["get", "--raw", "/readyz?verbose"]).ok(), "[+]ping ok\n[+]routing-index ok\nreadyz check passed\n");

    // A parent on the root shard, its child on shard-2, the grandchild anywhere.
    let (org_shard, _) = create_ready(k, "root", "org", Some("us"));
    assert_eq!(org_shard, "root");
    let (team_shard, team_cluster) = create_ready(k, "root:org", "team", Some("eu"));
    assert_eq!(team_shard, "shard-2");
    let url = k.kubectl_in("root:org", &["get", "workspace", "team", "-o", "jsonpath={.spec.URL}"]);
    assert_eq!(url.ok(), format!("{}/clusters/root:org:team", s.proxy_url()));
    // The logical cluster lives on shard-2 and only there.
    let on = |shard: &str| {
        s.kubectl_shard(shard, "shard-admin", "*", &["get", "--raw", "/clusters/*/apis/core.kcp.io/v1alpha1/logicalclusters"]).ok().contains(&team_cluster)
    };
    assert!(on("shard-2"));
    assert!(!on("root"));

    // An initializer holds a workspace on shard-2 until removed there; its phase follows.
    let gated = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: WorkspaceType\nmetadata:\n  name: gated\nspec:\n  initializer: true\n";
    k.kubectl_stdin(&["create", "-f", "-"], Some(gated)).ok();
    let held = workspace("held", Some("eu")).replace("spec:\n", "spec:\n  type:\n    name: gated\n");
    k.kubectl_stdin(&["create", "-f", "-"], Some(&held)).ok();
    eventually("held to be Initializing", Duration::from_secs(20), || {
        (k.kubectl(&["get", "workspace", "held", "-o", "jsonpath={.status.phase}"]).stdout == "Initializing").then_some(())
    });
    k.kubectl_in(
        "root:held",
        &["patch", "logicalcluster", "cluster", "--subresource=status", "--type=json", "-p", r#"[{"op":"remove","path":"/status/initializers/0"}]"#],
    )
    .ok();
    eventually("held to follow its logical cluster to Ready", Duration::from_secs(20), || {
        (k.kubectl(&["get", "workspace", "held", "-o", "jsonpath={.status.phase}"]).stdout == "Ready").then_some(())
    });

    // Used through the proxy like any workspace, children included (admitted on shard-2).
    let watch = k.background("root:org:team", &["get", "configmaps", "--watch", "-o", "name"]);
    k.kubectl_in("root:org:team", &["create", "configmap", "here", "--from-literal=a=b"]).ok();
    assert_eq!(k.kubectl_in("root:org:team", &["get", "configmap", "here", "-o", "jsonpath={.data.a}"]).ok(), "b");
    // Watches stream through the proxy.
    watch.wait_for("the watch event through the proxy", |lines| lines.iter().any(|l| l == "configmap/here"));
    watch.stop();
    create_ready(k, "root:org:team", "sub", None);
    k.kubectl_in("root:org:team:sub", &["get", "namespace", "default"]).ok();

    // Unknown paths reveal nothing; deleted workspaces stop routing.
    assert!(k.kubectl_in("root:org:nope", &["get", "configmaps"]).fails().contains("Forbidden"));
    assert!(k.kubectl(&["get", "--raw", "/clusters/root:Org/api"]).fails().contains("Forbidden"));
    let (_, brief) = create_ready(k, "root:org", "brief", Some("eu"));
    k.kubectl_in("root:org:brief", &["create", "configmap", "doomed"]).ok();
    k.kubectl_in("root:org", &["delete", "workspace", "brief", "--timeout=60s"]).ok();
    eventually("root:org:brief to stop routing", Duration::from_secs(5), || {
        k.kubectl_in("root:org:brief", &["get", "namespaces"]).stderr.contains("Forbidden").then_some(())
    });
    // Its logical cluster and content are gone from shard-2, which hosted them.
    let everything = |resource: &str| s.kubectl_shard("shard-2", "shard-admin", "*", &["get", "--raw", resource]).ok().to_string();
    assert!(!everything("/clusters/*/apis/core.kcp.io/v1alpha1/logicalclusters").contains(&brief));
    assert!(!everything("/clusters/*/api/v1/configmaps").contains(&brief));

    // Static token through the proxy: system:masters is dropped.
    let whoami = k.kubectl_token("alice-token", "root", &["auth", "whoami", "-o", "json"]).json();
    assert_eq!(whoami["status"]["userInfo"]["groups"], serde_json::json!(["dev", "system:authenticated"]), "{whoami}");
    assert!(k.kubectl_token("alice-token", "root", &["get", "namespaces"]).fails().contains("Forbidden"));
    // A client cannot claim groups with headers, through the proxy or straight to a shard.
    let spoof = [("authorization", "Bearer alice-token"), ("x-remote-user", "admin"), ("x-remote-group", "system:masters")];
    let (code, body) = raw_get(&s, &s.proxy_url(), "/clusters/root/api/v1/namespaces", None, &spoof);
    assert_eq!(code, 403, "{body}");
    let spoof = [("x-remote-user", "admin"), ("x-remote-group", "system:masters")];
    let (code, body) = raw_get(&s, &s.shard_url("root"), "/clusters/*/api/v1/configmaps", Some("admin"), &spoof);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("kcp-admin"), "the certificate's identity, not the headers': {body}");
    // A certificate from another CA authenticates nobody.
    let (code, body) = raw_get(&s, &s.proxy_url(), "/clusters/root/api/v1/namespaces", Some("front-proxy-client"), &[]);
    assert_eq!(code, 401, "{body}");

    // A service account of a shard-2 workspace, through the proxy, with and without prefix.
    k.kubectl_in("root:org:team", &["create", "serviceaccount", "robot"]).ok();
    k.kubectl_in("root:org:team", &["create", "rolebinding", "robot-view", "--clusterrole=view", "--serviceaccount=default:robot"]).ok();
    let token = k.kubectl_in("root:org:team", &["create", "token", "robot"]).ok().trim().to_string();
    assert!(k.kubectl_token(&token, "root:org:team", &["get", "configmaps", "-o", "name"]).ok().contains("configmap/here"));
    assert!(k.kubectl_token(&token, "", &["get", "configmaps", "-o", "name"]).ok().contains("configmap/here"));
    assert!(k.kubectl_token(&token, "root:org", &["get", "configmaps"]).fails().contains("Forbidden"));

    // Rotating the proxy's serving certificate takes effect without a restart.
    let before = presented_certificate(&s, &s.proxy_url());
    let rotated = Command::new(e2e::bin_dir().join("kcp"))
        .args(["pki", "rotate", "--dir"])
        .arg(s.pki(""))
        .args(["--cert", "front-proxy"])
        .output()
        .expect("kcp pki rotate");
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    eventually("the rotated certificate to be served", Duration::from_secs(10), || (presented_certificate(&s, &s.proxy_url()) != before).then_some(()));
    k.kubectl(&["get", "namespaces"]).ok();

    // kubectl ws through the proxy.
    assert_eq!(k.kubectl_plugin(&["ws", "use", ":root:org"]).ok().trim(), "Current workspace is \"root:org\".");
    let tree = k.kubectl_plugin(&["ws", "tree"]);
    assert!(tree.ok().contains("team"), "{}", tree.stdout);
}

#[test]
fn a_dead_shard_fails_only_its_own_workspaces() {
    let s = Sharded::up("");
    let k = &s.kcp;
    label_shards(&s);
    create_ready(k, "root", "home-us", Some("us"));
    create_ready(k, "root", "away-eu", Some("eu"));
    k.kubectl_in("root:away-eu", &["create", "configmap", "kept"]).ok();

    s.kill("shard-2");
    let down = k.kubectl_in("root:away-eu", &["get", "configmaps"]);
    assert!(down.fails().contains("ServiceUnavailable") || down.stderr.contains("unavailable"), "{}", down.stderr);
    k.kubectl_in("root:home-us", &["get", "configmaps"]).ok();

    // Restarted, it serves again without restarting the proxy; nothing acknowledged is lost.
    let proxy = s.pid("front-proxy");
    s.up_again();
    assert_eq!(s.pid("front-proxy"), proxy);
    eventually("root:away-eu to route again", Duration::from_secs(10), || {
        (k.kubectl_in("root:away-eu", &["get", "configmap", "kept", "-o", "name"]).code == 0).then_some(())
    });
}

/// A local OIDC issuer: an ES256 key, its JWKS, and tokens it signs.
struct Issuer {
    url: String,
    key: jsonwebtoken::EncodingKey,
    jwks: serde_json::Value,
}

impl Issuer {
    fn new() -> Issuer {
        let pem = apimachinery::auth::TokenSigner::generate_key_pem().expect("key");
        let raw = rcgen::KeyPair::from_pem(&pem).expect("pair").public_key_raw().to_vec();
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "x": b64(&raw[1..33]), "y": b64(&raw[33..])}]});
        Issuer { url: String::new(), key: jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).expect("key"), jwks }
    }

    fn token(&self, email: &str, groups: &[&str]) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        let exp = jiff::Timestamp::now().as_second() + 600;
        let claims = serde_json::json!({"iss": self.url, "aud": "kcp", "exp": exp, "email": email, "email_verified": true, "groups": groups});
        jsonwebtoken::encode(&header, &claims, &self.key).expect("token")
    }
}

/// Serves an issuer's discovery document and keys over HTTPS, as a real identity provider does.
struct IssuerEndpoints {
    url: String,
    jwks: serde_json::Value,
}

impl apiserver::server::Serves for IssuerEndpoints {
    async fn answer(&self, req: apiserver::server::phase::Req) -> apiserver::rest::body::Response {
        match req.uri().path() {
            "/.well-known/openid-configuration" => {
                apiserver::rest::body::json(200, &serde_json::json!({"issuer": self.url, "jwks_uri": format!("{}/keys", self.url)}))
            }
            "/keys" => apiserver::rest::body::json(200, &self.jwks),
            _ => apiserver::rest::body::json(404, &serde_json::json!({})),
        }
    }
}

/// Starts the issuer's HTTPS endpoints on a free port; returns its URL and CA file.
fn serve_issuer(dir: &std::path::Path, jwks: serde_json::Value) -> (String, std::path::PathBuf) {
    let ca = apiserver::pki::new_ca("test issuer CA").expect("CA");
    let serving = apiserver::pki::new_serving_cert(&ca, "issuer", &[], &["127.0.0.1".parse().expect("ip")]).expect("cert");
    let ca_file = dir.join("issuer-ca.crt");
    std::fs::write(&ca_file, &ca.cert_pem).expect("CA file");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://127.0.0.1:{}", listener.local_addr().expect("addr").port());
    let endpoints = IssuerEndpoints { url: url.clone(), jwks };
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let tls = std::sync::Arc::new(apiserver::pki::server_config(&serving, &[]).expect("TLS"));
            let peers = std::sync::Arc::new(apiserver::auth::authn::Peers::clients_only(std::slice::from_ref(&ca.cert_pem)).expect("CA"));
            let (_keep, shutdown) = tokio::sync::watch::channel(false);
            apiserver::server::serve(listener, tls, peers, std::sync::Arc::new(endpoints), Default::default(), shutdown).await;
        });
    });
    (url, ca_file)
}

#[test]
fn oidc_users_through_the_proxy() {
    let issuer = Issuer::new();
    let jwks = issuer.jwks.clone();
    let mut issuer_url = String::new();
    let s = Sharded::up_with("", |dir| {
        // The proxy discovers the keys from the issuer's jwks_uri, over HTTPS.
        let (url, ca) = serve_issuer(dir, jwks);
        issuer_url = url.clone();
        format!(
            "--oidc-issuer-url {url} --oidc-ca-file {} --oidc-client-id kcp --oidc-username-claim email --oidc-username-prefix oidc: --oidc-groups-claim groups --oidc-groups-prefix oidc:",
            ca.display()
        )
    });
    let issuer = Issuer { url: issuer_url, ..issuer };
    let k = &s.kcp;
    let ann = issuer.token("ann@example.com", &["team"]);
    let whoami = k.kubectl_token(&ann, "root", &["auth", "whoami", "-o", "json"]).json();
    assert_eq!(whoami["status"]["userInfo"]["username"], "oidc:ann@example.com", "{whoami}");
    assert_eq!(whoami["status"]["userInfo"]["groups"], serde_json::json!(["oidc:team", "system:authenticated"]));
    // Granted like any user, by name.
    k.kubectl(&["create", "clusterrole", "ns-reader", "--verb=list", "--resource=namespaces"]).ok();
    k.kubectl(&["create", "clusterrolebinding", "ann-ns", "--clusterrole=ns-reader", "--user=oidc:ann@example.com"]).ok();
    k.kubectl_token(&ann, "root", &["get", "namespaces"]).ok();
    // Claiming platform groups gets nothing: prefixed, they are just names.
    let claims_admin = issuer.token("eve@example.com", &["system:masters", "system:kcp:admin"]);
    assert!(k.kubectl_token(&claims_admin, "root", &["get", "namespaces"]).fails().contains("Forbidden"));
    // A token signed by another key is no one.
    let forged = Issuer { url: issuer.url.clone(), ..Issuer::new() }.token("ann@example.com", &["team"]);
    assert!(k.kubectl_token(&forged, "root", &["get", "namespaces"]).fails().contains("Unauthorized"));
}

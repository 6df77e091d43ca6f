//! Signed attestations end to end on the test bed's registry (Debian's distribution 2.8: no
//! referrers API, so the referrers tag schema): `run --attest` pushes one per tested child, skopeo
//! reads the referrers index back, openssl (not archsmoke) verifies a DSSE signature, and
//! `verify --attestations` accepts the set, then refuses a wrong key, an expired attestation and
//! an emulated-only arm64 under `--require-native linux/arm64` (the test bed's engines are
//! amd64, so arm64 is the emulated case).

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use common::{Run, archsmoke, image, registry, spec};

const SPEC: &str = r#"
[[test]]
name = "shell runs"
command = ["sh", "-c", "echo ok"]
stdout = "ok\n"
"#;

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command starts");
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A copy of the six-platform fixture in a repository of this test's own, so that its referrers
/// tags are ours alone.
fn own_copy() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let target = format!("{}/archsmoke/attest-{nanos}:multi", registry());
    sh(Command::new("skopeo").args([
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}", image("multi")),
        &format!("docker://{target}"),
    ]));
    target
}

fn keypair(dir: &Path, name: &str) -> (String, String) {
    let key = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    sh(Command::new("openssl")
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt"])
        .args([
            "ec_paramgen_curve:P-256",
            "-out",
            key.to_str().expect("utf-8"),
        ]));
    sh(Command::new("openssl").args([
        "pkey",
        "-in",
        key.to_str().expect("utf-8"),
        "-pubout",
        "-out",
        public.to_str().expect("utf-8"),
    ]));
    (
        key.to_str().expect("utf-8").to_owned(),
        public.to_str().expect("utf-8").to_owned(),
    )
}

fn go(args: &[&str]) -> Run {
    Run::from(archsmoke().args(args).output().expect("archsmoke starts"))
}

#[test]
fn attested_children_verify_and_wrong_key_expired_and_emulated_only_are_refused() {
    let s = spec("attest", SPEC);
    let dir = s.dir.path();
    let list = own_copy();
    let (key, public) = keypair(dir, "signer");
    let (_, other_public) = keypair(dir, "other");
    let statements = dir.join("statements");
    let json = dir.join("report.json");
    let r = go(&[
        "run",
        s.path(),
        "--image",
        &list,
        "--platform",
        "linux/amd64,linux/arm64",
        "--json",
        json.to_str().expect("utf-8"),
        "--attest",
        "--key",
        &key,
        "--attest-dir",
        statements.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(
        r.stdout.matches("(referrers tag schema)").count(),
        2,
        "{}",
        r.explain()
    );

    // The envelope file of amd64: an independent verifier (openssl) accepts its signature over
    // the PAE, and its statement names exactly the child.
    let doc = common::json_report(&json);
    let amd = common::platform(&doc, "linux/amd64");
    let child = amd["entry"]["digest"].as_str().expect("child digest");
    let hex = child.trim_start_matches("sha256:");
    let envelope_file = statements.join(format!("linux-amd64.{}.dsse.json", &hex[..12]));
    let envelope: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&envelope_file).expect("envelope"))
            .expect("json");
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64
        .decode(envelope["payload"].as_str().expect("payload"))
        .expect("b64");
    let payload_type = envelope["payloadType"].as_str().expect("type");
    assert_eq!(payload_type, "application/vnd.in-toto+json");
    let mut pae = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    pae.extend_from_slice(&payload);
    std::fs::write(dir.join("pae.bin"), &pae).expect("pae");
    let sig = b64
        .decode(envelope["signatures"][0]["sig"].as_str().expect("sig"))
        .expect("b64");
    std::fs::write(dir.join("sig.der"), sig).expect("sig");
    let verified = sh(Command::new("openssl").current_dir(dir).args([
        "dgst",
        "-sha256",
        "-verify",
        &public,
        "-signature",
        "sig.der",
        "pae.bin",
    ]));
    assert!(verified.contains("Verified OK"), "{verified}");
    let statement: serde_json::Value = serde_json::from_slice(&payload).expect("statement");
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        statement["predicateType"],
        "https://archsmoke.dev/smoke-test/v1"
    );
    assert_eq!(statement["subject"][0]["digest"]["sha256"], hex);
    assert_eq!(statement["predicate"]["native"], true);
    assert!(
        statements
            .join(format!("linux-amd64.{}.predicate.json", &hex[..12]))
            .is_file()
    );

    // skopeo reads the referrers index at the tag schema's tag.
    let repo = list.rsplit_once(':').expect("tag").0;
    let index = sh(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{repo}:sha256-{hex}"),
    ]));
    let index: serde_json::Value = serde_json::from_str(&index).expect("index");
    assert_eq!(
        index["manifests"][0]["artifactType"], "application/vnd.in-toto+json",
        "{index}"
    );

    // Both attested children verify; arm64 says it ran emulated.
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            list.as_str(),
            "--attestations",
            "--platform",
            "linux/amd64,linux/arm64",
        ];
        args.extend_from_slice(extra);
        go(&args)
    };
    let v = verify(&["--key", &public]);
    assert_eq!(v.code, 0, "{}", v.explain());
    assert!(
        v.stdout.contains("verified: all 2 child manifest(s)"),
        "{}",
        v.explain()
    );
    let arm_line = v.row("linux/arm64");
    assert!(
        arm_line.contains("emulated (qemu-aarch64)"),
        "{}",
        v.explain()
    );
    assert!(v.row("linux/amd64").contains("native"), "{}", v.explain());

    // The seed's mistake #3 as a rule: arm64 ran only under QEMU.
    let v = verify(&["--key", &public, "--require-native", "linux/arm64"]);
    assert_eq!(v.code, 1, "{}", v.explain());
    assert!(v.stdout.contains("NOT VERIFIED: 1 of 2"), "{}", v.explain());
    assert!(
        v.stdout.contains(
            "linux/arm64 ran emulated (qemu-aarch64), and the policy requires it natively"
        ),
        "{}",
        v.explain()
    );

    let v = verify(&["--key", &other_public]);
    assert_eq!(v.code, 1, "{}", v.explain());
    assert!(
        v.stdout.contains("signature does not verify"),
        "{}",
        v.explain()
    );

    std::thread::sleep(std::time::Duration::from_secs(2));
    let v = verify(&["--key", &public, "--max-age", "1s", "--json"]);
    assert_eq!(v.code, 1, "{}", v.explain());
    let out: serde_json::Value = serde_json::from_str(&v.stdout).expect("--json");
    assert_eq!(out["verified"], false);
    assert!(
        out["children"][0]["refusals"][0]
            .as_str()
            .is_some_and(|r| r.contains("expired")),
        "{out}"
    );

    // What someone with push rights but not the key can attach to amd64: arm64's genuine
    // envelope (a statement for another digest), and amd64's with its payload edited.
    let arm = common::platform(&doc, "linux/arm64");
    let arm_hex = arm["entry"]["digest"]
        .as_str()
        .expect("arm64 digest")
        .trim_start_matches("sha256:")
        .to_owned();
    let arm_envelope =
        std::fs::read(statements.join(format!("linux-arm64.{}.dsse.json", &arm_hex[..12])))
            .expect("arm64 envelope");
    let mut edited = envelope.clone();
    let body = String::from_utf8(payload.clone()).expect("utf-8");
    edited["payload"] = b64
        .encode(body.replace("\"native\":true", "\"native\":false"))
        .into();
    assert_ne!(edited, envelope, "the edit changed the payload");
    for forged in [arm_envelope, serde_json::to_vec(&edited).expect("json")] {
        attach(repo, hex, &forged);
    }
    let v = verify(&["--key", &public, "--platform", "linux/amd64"]);
    // The genuine attestation still vouches; the forged ones are not what it rests on.
    assert_eq!(v.code, 0, "{}", v.explain());
    let only_forged = {
        // Drop the genuine entry from the referrers index: only the two forgeries remain.
        let index = registry_get(&format!("{repo}:sha256-{hex}"));
        let mut index: serde_json::Value = serde_json::from_slice(&index).expect("index");
        index["manifests"]
            .as_array_mut()
            .expect("manifests")
            .remove(0);
        put(
            &format!("{repo}/manifests/sha256-{hex}"),
            "application/vnd.oci.image.index.v1+json",
            &serde_json::to_vec(&index).expect("json"),
        );
        verify(&["--key", &public, "--platform", "linux/amd64"])
    };
    assert_eq!(only_forged.code, 1, "{}", only_forged.explain());
    assert!(
        only_forged.stdout.contains(&format!(
            "the statement is for sha256:{arm_hex}, not for this digest"
        )),
        "{}",
        only_forged.explain()
    );
    assert!(
        only_forged.stdout.contains("signature does not verify"),
        "{}",
        only_forged.explain()
    );

    // A child nobody attested is refused by name.
    let v = go(&[
        "verify",
        list.as_str(),
        "--attestations",
        "--key",
        &public,
        "--platform",
        "linux/s390x",
    ]);
    assert_eq!(v.code, 1, "{}", v.explain());
    assert!(
        v.stdout
            .contains("no archsmoke attestation refers to this digest"),
        "{}",
        v.explain()
    );
}

fn registry_url(path: &str) -> String {
    // `REGISTRY/REPO:TAG` or `REGISTRY/REPO/manifests/...`: the repository's v2 URL.
    let rest = path
        .strip_prefix(&format!("{}/", registry()))
        .expect("a reference on the test registry");
    match rest.split_once(':') {
        Some((repo, tag)) => format!("http://{}/v2/{repo}/manifests/{tag}", registry()),
        None => format!("http://{}/v2/{rest}", registry()),
    }
}

fn registry_get(reference: &str) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-fsS", "-H"])
        .arg(
            "Accept: application/vnd.oci.image.index.v1+json, \
             application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json",
        )
        .arg(registry_url(reference))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "GET {reference}: {out:?}");
    out.stdout
}

fn put(path: &str, kind: &str, body: &[u8]) -> String {
    use std::io::Write;
    let url = if path.starts_with("http") {
        path.to_owned()
    } else {
        registry_url(path)
    };
    let mut child = Command::new("curl")
        .args(["-fsS", "-i", "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {kind}"))
        .args(["--data-binary", "@-"])
        .arg(&url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body)
        .expect("write");
    let out = child.wait_with_output().expect("curl");
    assert!(out.status.success(), "PUT {url}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Attaches `layer` as an attestation artifact to `subject_hex` of `repo`, the way any client
/// with push rights can (blob upload, manifest, referrers tag extended): test scaffolding that
/// plays the forger.
fn attach(repo: &str, subject_hex: &str, layer: &[u8]) {
    let repo_path = repo
        .strip_prefix(&format!("{}/", registry()))
        .expect("test registry");
    let upload = |bytes: &[u8]| -> String {
        let digest = format!("sha256:{}", sha256(bytes));
        let out = Command::new("curl")
            .args(["-fsS", "-i", "-X", "POST"])
            .arg(format!(
                "http://{}/v2/{repo_path}/blobs/uploads/",
                registry()
            ))
            .output()
            .expect("curl runs");
        let head = String::from_utf8_lossy(&out.stdout).into_owned();
        let location = head
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no upload location: {head}"));
        let location = if location.starts_with('/') {
            format!("http://{}{location}", registry())
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        put(
            &format!("{location}{sep}digest={digest}"),
            "application/octet-stream",
            bytes,
        );
        digest
    };
    let empty = upload(b"{}");
    let layer_digest = upload(layer);
    let subject = format!("sha256:{subject_hex}");
    let subject_manifest = registry_get(&format!("{repo}:{subject}"));
    let subject_type = serde_json::from_slice::<serde_json::Value>(&subject_manifest)
        .expect("subject manifest")["mediaType"]
        .as_str()
        .expect("media type")
        .to_owned();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.in-toto+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.dsse.envelope.v1+json",
                    "digest": layer_digest, "size": layer.len()}],
        "subject": {"mediaType": subject_type, "digest": subject,
                    "size": subject_manifest.len()},
    });
    let body = serde_json::to_vec(&manifest).expect("json");
    let digest = format!("sha256:{}", sha256(&body));
    let manifests = format!("http://{}/v2/{repo_path}/manifests", registry());
    put(
        &format!("{manifests}/{digest}"),
        "application/vnd.oci.image.manifest.v1+json",
        &body,
    );
    let tag = format!("{repo}:sha256-{subject_hex}");
    let mut index: serde_json::Value =
        serde_json::from_slice(&registry_get(&tag)).expect("referrers index");
    index["manifests"]
        .as_array_mut()
        .expect("manifests")
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": body.len(),
            "artifactType": "application/vnd.in-toto+json",
        }));
    put(
        &format!("{manifests}/sha256-{subject_hex}"),
        "application/vnd.oci.image.index.v1+json",
        &serde_json::to_vec(&index).expect("json"),
    );
}

/// `openssl genpkey ... -aes-256-cbc -pass env:VAR`: a password-encrypted PKCS#8 key as
/// OpenSSL writes it, and its public half.
fn encrypted_keypair(
    dir: &Path,
    name: &str,
    algorithm: &[&str],
    password: &str,
) -> (String, String) {
    let key = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    sh(Command::new("openssl")
        .env("GENPKEY_PASSWORD", password)
        .arg("genpkey")
        .args(algorithm)
        .args(["-aes-256-cbc", "-pass", "env:GENPKEY_PASSWORD", "-out"])
        .arg(&key));
    sh(Command::new("openssl")
        .env("GENPKEY_PASSWORD", password)
        .args(["pkey", "-passin", "env:GENPKEY_PASSWORD", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public));
    let text = std::fs::read_to_string(&key).expect("key");
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{text}"
    );
    (
        key.to_str().expect("utf-8").to_owned(),
        public.to_str().expect("utf-8").to_owned(),
    )
}

#[test]
fn password_encrypted_keys_sign_with_the_password_from_the_environment() {
    let s = spec("attest-encrypted", SPEC);
    let dir = s.dir.path();
    let list = own_copy();
    let password = "correct horse battery staple";
    let (p256, p256_public) = encrypted_keypair(
        dir,
        "p256",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        password,
    );
    let (ed25519, ed25519_public) =
        encrypted_keypair(dir, "ed25519", &["-algorithm", "ed25519"], password);
    let json = dir.join("report.json");
    let json = json.to_str().expect("utf-8");
    let with_password = |args: &[&str], password: Option<&str>| {
        let mut c = archsmoke();
        c.env_remove("ARCHSMOKE_KEY_PASSWORD").args(args);
        if let Some(p) = password {
            c.env("ARCHSMOKE_KEY_PASSWORD", p);
        }
        Run::from(c.output().expect("archsmoke starts"))
    };

    // run --attest signs with the P-256 key; attest signs the same report with the Ed25519 one.
    let r = with_password(
        &[
            "run",
            s.path(),
            "--image",
            &list,
            "--platform",
            "linux/amd64",
            "--json",
            json,
            "--attest",
            "--key",
            &p256,
        ],
        Some(password),
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(r.stdout.contains("attached as sha256:"), "{}", r.explain());
    let r = with_password(&["attest", json, "--key", &ed25519], Some(password));
    assert_eq!(r.code, 0, "{}", r.explain());
    for public in [&p256_public, &ed25519_public] {
        let v = go(&[
            "verify",
            &list,
            "--attestations",
            "--key",
            public,
            "--platform",
            "linux/amd64",
        ]);
        assert_eq!(v.code, 0, "{public}: {}", v.explain());
        assert!(
            v.stdout.contains("verified: all 1 child manifest(s)"),
            "{}",
            v.explain()
        );
    }

    // No password, an empty one, a wrong one: each says what and where, and exits 2 before
    // anything is signed or pushed.
    let statements = dir.join("refused");
    let attest = |password: Option<&str>| {
        with_password(
            &[
                "attest",
                json,
                "--key",
                &p256,
                "--no-push",
                "--attest-dir",
                statements.to_str().expect("utf-8"),
            ],
            password,
        )
    };
    let r = attest(None);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(
        r.stderr.contains(&format!(
            "{p256}: the key is encrypted (ENCRYPTED PRIVATE KEY) and ARCHSMOKE_KEY_PASSWORD is \
             not set"
        )),
        "{}",
        r.explain()
    );
    let r = attest(Some(""));
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(
        r.stderr.contains("ARCHSMOKE_KEY_PASSWORD is empty"),
        "{}",
        r.explain()
    );
    let r = attest(Some("incorrect horse"));
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(
        r.stderr.contains(&format!(
            "{p256}: ARCHSMOKE_KEY_PASSWORD does not decrypt the key"
        )),
        "{}",
        r.explain()
    );
    assert!(
        r.stderr
            .contains(&format!("openssl pkey -in {p256} -noout")),
        "{}",
        r.explain()
    );
    assert!(!statements.exists(), "a refused key wrote statements");
}

/// The test bed's registry with the OCI 1.1 referrers API (go-containerregistry's, started by
/// tests/testbed/referrers-registry.sh), or a failure that says how to start it.
fn referrers_registry() -> String {
    let host = format!(
        "127.0.0.1:{}",
        common::testbed_port("REFERRERS_REGISTRY_PORT", 5002)
    );
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .arg(format!("http://{host}/v2/"))
        .output()
        .expect("curl runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "no registry with the referrers API answers on {host}: run tests/testbed/up.sh (as root)"
    );
    host
}

#[test]
fn a_registry_with_the_referrers_api_lists_the_attestation_itself() {
    let host = referrers_registry();
    let s = spec("attest-referrers", SPEC);
    let dir = s.dir.path();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let repo = format!("archsmoke/referrers-{nanos}");
    let list = format!("{host}/{repo}:multi");
    sh(Command::new("skopeo").args([
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}", image("multi")),
        &format!("docker://{list}"),
    ]));
    let (key, public) = keypair(dir, "signer");
    let (_, other_public) = keypair(dir, "other");
    let json = dir.join("report.json");
    let r = go(&[
        "run",
        s.path(),
        "--image",
        &list,
        "--platform",
        "linux/amd64,linux/arm64",
        "--json",
        json.to_str().expect("utf-8"),
        "--attest",
        "--key",
        &key,
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(
        r.stdout.matches("(referrers API)").count(),
        2,
        "{}",
        r.explain()
    );

    // The registry's own referrers endpoint lists the artifact (read with curl, not archsmoke),
    // and no referrers tag was written: the tag schema is for registries without the API.
    let doc = common::json_report(&json);
    let child = common::platform(&doc, "linux/amd64")["entry"]["digest"]
        .as_str()
        .expect("child digest")
        .to_owned();
    let out = Command::new("curl")
        .arg("-fsS")
        .arg(format!("http://{host}/v2/{repo}/referrers/{child}"))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "{out:?}");
    let index: serde_json::Value = serde_json::from_slice(&out.stdout).expect("an index");
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index}"
    );
    let listed = index["manifests"].as_array().expect("manifests");
    assert_eq!(listed.len(), 1, "{index}");
    let artifact = listed[0]["digest"].as_str().expect("artifact digest");
    assert!(
        r.stdout
            .contains(&format!("attached as {artifact} (referrers API)")),
        "{}",
        r.explain()
    );
    let tags = sh(Command::new("skopeo").args([
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{host}/{repo}"),
    ]));
    assert!(
        !tags.contains("sha256-"),
        "a referrers tag on a registry with the API: {tags}"
    );

    // verify reads them back through the API: both verify, arm64 as emulated; the policy and a
    // wrong key refuse as on any registry.
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            list.as_str(),
            "--attestations",
            "--platform",
            "linux/amd64,linux/arm64",
        ];
        args.extend_from_slice(extra);
        go(&args)
    };
    let v = verify(&["--key", &public]);
    assert_eq!(v.code, 0, "{}", v.explain());
    assert!(
        v.stdout.contains("verified: all 2 child manifest(s)"),
        "{}",
        v.explain()
    );
    assert!(v.row("linux/amd64").contains(artifact), "{}", v.explain());
    let v = verify(&["--key", &public, "--require-native", "linux/arm64"]);
    assert_eq!(v.code, 1, "{}", v.explain());
    assert!(
        v.stdout.contains(
            "linux/arm64 ran emulated (qemu-aarch64), and the policy requires it natively"
        ),
        "{}",
        v.explain()
    );
    let v = verify(&["--key", &other_public]);
    assert_eq!(v.code, 1, "{}", v.explain());
    assert!(
        v.stdout.contains("signature does not verify"),
        "{}",
        v.explain()
    );
}

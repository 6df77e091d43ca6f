//! The reference parser: oci-spec's own test table, Docker's corrections, and a differential
//! check against oci-spec's parser over every combination of tricky pieces.

use super::*;

/// Text, registry, repository, tag, digest.
type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);

const F64: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

#[test]
fn good_references_mean_what_docker_says() {
    let sha256 = format!("sha256:{F64}");
    let sha512 = format!("sha512:{F64}{F64}");
    let cases: &[Case] = &[
        (
            "busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            None,
        ),
        (
            "test.com:tag",
            "docker.io",
            "library/test.com",
            Some("tag"),
            None,
        ),
        (
            "test.com:5000",
            "docker.io",
            "library/test.com",
            Some("5000"),
            None,
        ),
        ("test.com/repo:tag", "test.com", "repo", Some("tag"), None),
        ("test:5000/repo", "test:5000", "repo", Some("latest"), None),
        ("test:5000/repo:tag", "test:5000", "repo", Some("tag"), None),
        (
            "lowercase:Uppercase",
            "docker.io",
            "library/lowercase",
            Some("Uppercase"),
            None,
        ),
        (
            "sub-dom1.foo.com/bar/baz/quux",
            "sub-dom1.foo.com",
            "bar/baz/quux",
            Some("latest"),
            None,
        ),
        (
            "b.gcr.io/test.example.com/my-app:test.example.com",
            "b.gcr.io",
            "test.example.com/my-app",
            Some("test.example.com"),
            None,
        ),
        (
            "xn--n3h.com/myimage:xn--n3h.com",
            "xn--n3h.com",
            "myimage",
            Some("xn--n3h.com"),
            None,
        ),
        (
            "foo_bar.com:8080",
            "docker.io",
            "library/foo_bar.com",
            Some("8080"),
            None,
        ),
        (
            "foo/foo_bar.com:8080",
            "docker.io",
            "foo/foo_bar.com",
            Some("8080"),
            None,
        ),
        (
            "index.docker.io/library/busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            None,
        ),
        (
            "localhost/busybox",
            "localhost",
            "busybox",
            Some("latest"),
            None,
        ),
        (
            "127.0.0.1:5000/archsmoke/busybox:multi",
            "127.0.0.1:5000",
            "archsmoke/busybox",
            Some("multi"),
            None,
        ),
        (
            // Splitting is textual, as in Docker: a `.` makes a host, underscores or not.
            "a--b__c.d/e",
            "a--b__c.d",
            "e",
            Some("latest"),
            None,
        ),
    ];
    for (text, registry, repository, tag, digest) in cases {
        let r = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            (r.registry(), r.repository(), r.tag(), r.digest()),
            (*registry, *repository, *tag, *digest),
            "{text}"
        );
    }
    let r = parse(&format!("test:5000/repo@{sha256}")).expect("digest");
    assert_eq!((r.tag(), r.digest()), (None, Some(sha256.as_str())));
    let r = parse(&format!("test:5000/repo:tag@{sha256}")).expect("tag and digest");
    assert_eq!((r.tag(), r.digest()), (Some("tag"), Some(sha256.as_str())));
    let r = parse(&format!("xn--7o8h.com/myimage:xn--7o8h.com@{sha512}")).expect("sha512");
    assert_eq!(r.digest(), Some(sha512.as_str()));
}

#[test]
fn bad_references_say_what_is_wrong() {
    let long = "a".repeat(256);
    let cases: &[(&str, ParseError)] = &[
        ("", ParseError::NameEmpty),
        (":justtag", ParseError::ReferenceInvalidFormat),
        (
            "repo@sha256:ffffffffffffffffffffffffffffffffff",
            ParseError::DigestInvalidLength,
        ),
        ("aa/asdf$$^/aa", ParseError::ReferenceInvalidFormat),
        ("Uppercase:tag", ParseError::NameContainsUppercase),
        (
            "test:5000/Uppercase/lowercase:tag",
            ParseError::NameContainsUppercase,
        ),
        // oci-spec accepts this one as docker.io/Uppercase/lowercase; Docker does not.
        ("Uppercase/lowercase:tag", ParseError::NameContainsUppercase),
        ("busybox:über", ParseError::TagInvalidFormat),
        ("busybox:-tag", ParseError::TagInvalidFormat),
        ("host:port/repo", ParseError::ReferenceInvalidFormat),
        ("-host.com/repo", ParseError::ReferenceInvalidFormat),
        ("repo//double", ParseError::ReferenceInvalidFormat),
        ("repo___three", ParseError::ReferenceInvalidFormat),
        (&long, ParseError::NameTooLong),
    ];
    for (text, err) in cases {
        assert_eq!(
            parse(text).map(|r| r.whole()).expect_err(text),
            *err,
            "{text}"
        );
    }
    assert_eq!(
        parse(&format!("validname@invaliddigest:{F64}")).expect_err("md5"),
        ParseError::DigestUnsupported
    );
    assert_eq!(
        parse(&format!("repo:{}", "t".repeat(129))).expect_err("129"),
        ParseError::TagInvalidFormat
    );
    assert!(parse(&format!("repo:{}", "t".repeat(128))).is_ok());
}

#[test]
fn every_combination_of_tricky_pieces_agrees_with_oci_spec() {
    let registries = [
        "",
        "localhost/",
        "localhost:5000/",
        "127.0.0.1:5000/",
        "test.com/",
        "Test.COM/",
        "sub-dom1.foo.com/",
        "-bad.com/",
        "bad-.com/",
        "a_b.com/",
        "index.docker.io/",
        "docker.io/",
        "host:/",
        "host:50a0/",
        "xn--n3h.com/",
        "Foo/",
        "foo/",
        "a..b/",
        ":5000/",
    ];
    let repos = [
        "busybox",
        "library/busybox",
        "a/b/c",
        "foo_bar",
        "foo__bar",
        "foo___bar",
        "foo-bar",
        "foo---bar",
        "foo.bar",
        "foo..bar",
        "foo._bar",
        "-foo",
        "foo-",
        "Foo",
        "a",
        "",
        "foo/",
        "/foo",
        "foo//bar",
        "über",
        "x:1/y",
        "a@b",
    ];
    let long_tag = format!(":{}", "a".repeat(128));
    let too_long_tag = format!(":{}", "a".repeat(129));
    let tags = [
        "",
        ":latest",
        ":1.0",
        ":_x",
        ":.x",
        ":-x",
        ":UPPER",
        ":a:b",
        ":",
        ":über",
        ":a/b",
        long_tag.as_str(),
        too_long_tag.as_str(),
    ];
    let d256 = format!("@sha256:{F64}");
    let d255 = format!("@sha256:{}", &F64[1..]);
    let d512 = format!("@sha512:{F64}{F64}");
    let dmd5 = format!("@md5:{}", &F64[..32]);
    let dplus = format!("@sha256+b64:{F64}");
    let dbadhex = format!("@sha256:{}", "g".repeat(64));
    let digests = [
        "",
        d256.as_str(),
        d255.as_str(),
        d512.as_str(),
        dmd5.as_str(),
        dplus.as_str(),
        dbadhex.as_str(),
        "@sha256",
        "@",
        "@a@b",
    ];
    let mut checked = 0;
    let mut disagreements = Vec::new();
    for r in registries {
        for n in repos {
            for t in tags {
                for d in digests {
                    let text = format!("{r}{n}{t}{d}");
                    if let Err(e) = compare_with_oci_spec(&text) {
                        disagreements.push(e);
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50_000, "{checked}");
    assert!(
        disagreements.is_empty(),
        "{} of {checked} disagree:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(20)].join("\n")
    );
}

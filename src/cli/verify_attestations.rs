//! `archsmoke verify LIST --attestations --key pub.pem`: no report file; each child's signed
//! attestations are read from the registry and judged by [`crate::attest::policy`].

use std::time::SystemTime;

use serde::Serialize;

use super::VerifyArgs;
use crate::attest::keys::PublicKey;
use crate::attest::policy::{self, Policy};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::image::{ImageSource, IndexEntryKind};
use crate::platform::Platform;

#[derive(Serialize)]
struct ChildJson {
    platform: Option<String>,
    digest: String,
    verified: bool,
    native: Option<bool>,
    emulator: Option<String>,
    attestation: Option<String>,
    key_id: Option<String>,
    refusals: Vec<String>,
}

pub async fn verify(args: &VerifyArgs) -> Result<i32, Diagnostic> {
    let Some(key_path) = &args.key else {
        return Err(Diagnostic::usage("--attestations needs --key PUB.pem"));
    };
    let key = PublicKey::from_pem(&super::attest::read_key(key_path)?).map_err(|e| {
        Diagnostic::usage(format!("{}: {e}", key_path.display()))
            .with_hint("give the public key (`openssl pkey -in key.pem -pubout`)")
    })?;
    let all_native = args.require_native.iter().any(|p| p == "all");
    let native_platforms: Vec<Platform> = args
        .require_native
        .iter()
        .filter(|p| *p != "all")
        .map(|p| {
            Platform::parse(p).map_err(|e| {
                Diagnostic::usage(format!("--require-native {p}: {e}"))
                    .with_hint("name platforms as os/arch[/variant], or say `all`")
            })
        })
        .collect::<Result<_, _>>()?;
    let (source, list) = super::verify::open_list(&args.list).await?;
    let ImageSource::Registry(image) = &source else {
        return Err(Diagnostic::usage(format!(
            "{} is not a registry image: attestations are read from a registry",
            args.list
        )));
    };
    let now = SystemTime::now();
    let mut out = Vec::new();
    for entry in list
        .entries
        .iter()
        .filter(|e| e.kind == IndexEntryKind::Image)
    {
        if !args.platforms.is_empty()
            && !entry
                .platform
                .as_ref()
                .is_some_and(|p| args.platforms.contains(p))
        {
            continue;
        }
        let require_native = all_native
            || entry
                .platform
                .as_ref()
                .is_some_and(|p| native_platforms.contains(p));
        let rules = Policy {
            min_tests: args.min_tests,
            require_native,
            max_age: args.max_age,
        };
        let found = crate::attest::fetch(image, &entry.digest)
            .await
            .map_err(super::verify::image_error)?;
        let mut unreadable = Vec::new();
        let envelopes: Vec<_> = found
            .into_iter()
            .filter_map(|(source, e)| match e {
                Ok(e) => Some((source, e)),
                Err(why) => {
                    unreadable.push(format!("attestation {source}: {why}"));
                    None
                }
            })
            .collect();
        let child = match policy::judge(&entry.digest, &envelopes, &key, &rules, now) {
            Ok(a) => ChildJson {
                platform: entry.platform.as_ref().map(ToString::to_string),
                digest: entry.digest.clone(),
                verified: true,
                native: Some(a.native),
                emulator: a.emulator,
                attestation: Some(a.source),
                key_id: Some(a.key_id),
                refusals: Vec::new(),
            },
            Err(mut why) => {
                if envelopes.is_empty() && !unreadable.is_empty() {
                    why = unreadable;
                }
                ChildJson {
                    platform: entry.platform.as_ref().map(ToString::to_string),
                    digest: entry.digest.clone(),
                    verified: false,
                    native: None,
                    emulator: None,
                    attestation: None,
                    key_id: None,
                    refusals: why,
                }
            }
        };
        out.push(child);
    }
    if out.is_empty() {
        return Err(Diagnostic::usage(format!(
            "no child of {} matches --platform {}",
            args.list,
            args.platforms
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )));
    }
    let bad = out.iter().filter(|c| !c.verified).count();
    if args.json {
        let doc = serde_json::json!({
            "list": args.list,
            "digest": list.digest,
            "verified": bad == 0,
            "children": out,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        if bad == 0 {
            println!(
                "verified: all {} child manifest(s) of {} ({}) have a signed passing attestation",
                out.len(),
                args.list,
                list.digest
            );
        } else {
            println!(
                "NOT VERIFIED: {bad} of {} child manifest(s) of {} ({}) have no acceptable \
                 attestation:",
                out.len(),
                args.list,
                list.digest
            );
        }
        for c in &out {
            let platform = c.platform.as_deref().unwrap_or("(no platform)");
            if c.verified {
                let how = match (c.native, &c.emulator) {
                    (Some(true), _) => "native".to_owned(),
                    (_, Some(e)) => format!("emulated ({e})"),
                    _ => "emulated".to_owned(),
                };
                println!(
                    "  {platform:<14} {}  verified  {how}  attestation {}  key {}",
                    c.digest,
                    c.attestation.as_deref().unwrap_or("-"),
                    c.key_id.as_deref().unwrap_or("-")
                );
            } else {
                println!("  {platform:<14} {}  REFUSED", c.digest);
                for why in &c.refusals {
                    println!("      refused {platform} {}: {why}", c.digest);
                }
            }
        }
    }
    Ok(if bad == 0 {
        exit::SUCCESS
    } else {
        exit::TEST_FAILED
    })
}

//! `archsmoke attest REPORT.json --key key.pem` and `run --attest`: sign an in-toto statement
//! per tested child digest of a report, write the statements to `--attest-dir`, and attach the
//! signed envelopes to the children in the registry. The work is in [`crate::attest`].

use std::path::{Path, PathBuf};

use clap::Args;

use super::GlobalArgs;
use crate::attest::{self, keys};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::image::{ImageSource, parse_reference};
use crate::report::json::wire;

#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The JSON report of a run or of `archsmoke merge`.
    #[arg(value_name = "REPORT.json")]
    report: PathBuf,
    #[command(flatten)]
    signing: Signing,
}

/// The flags `attest` and `run --attest` share.
#[derive(Debug, Args)]
pub struct Signing {
    /// The private key, PEM: ECDSA P-256 or Ed25519 (PKCS#8). Encrypted (`ENCRYPTED PRIVATE
    /// KEY`): its password in the environment variable ARCHSMOKE_KEY_PASSWORD.
    #[arg(long, value_name = "KEY.pem")]
    pub key: Option<PathBuf>,
    /// Also write each statement, its predicate and the signed envelope into this directory
    /// (for cosign `attest --predicate` or GitHub's artifact attestations).
    #[arg(long, value_name = "DIR")]
    pub attest_dir: Option<PathBuf>,
    /// Write the files only; attach nothing in the registry.
    #[arg(long)]
    pub no_push: bool,
}

pub async fn attest(args: &AttestArgs, _global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let report = crate::report::read::read_wire(&args.report).map_err(|e| {
        Diagnostic::usage(e.to_string()).with_hint("give the file `archsmoke run --json` wrote")
    })?;
    sign_and_push(&report, &args.signing).await
}

/// Reads a key file: small, and a regular file.
pub fn read_key(path: &Path) -> Result<String, Diagnostic> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Diagnostic::usage(format!("{}: cannot read the key: {e}", path.display())))?;
    if !meta.is_file() || meta.len() > 64 * 1024 {
        return Err(Diagnostic::usage(format!(
            "{}: not a PEM key file (not a regular file, or over 64 KiB)",
            path.display()
        )));
    }
    std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::usage(format!("{}: cannot read the key: {e}", path.display())))
}

/// The private key at `path`, decrypted with [`keys::PASSWORD_ENV`] when it is encrypted.
pub fn load_signing_key(path: &Path) -> Result<keys::SigningKey, Diagnostic> {
    use std::os::unix::ffi::OsStrExt as _;
    let password = std::env::var_os(keys::PASSWORD_ENV);
    keys::SigningKey::from_pem(&read_key(path)?, password.as_deref().map(|p| p.as_bytes())).map_err(
        |e| {
            Diagnostic::usage(format!("{}: {e}", path.display()))
                .with_hint(e.hint.replace("KEY.pem", &path.display().to_string()))
        },
    )
}

/// Signs a statement per tested child of `report`, writes them to `--attest-dir`, and attaches
/// them in the registry; prints one line per statement. Exit 3 when the registry refuses one.
pub async fn sign_and_push(report: &wire::Report, signing: &Signing) -> Result<i32, Diagnostic> {
    let Some(key_path) = &signing.key else {
        return Err(Diagnostic::usage("attesting needs --key KEY.pem")
            .with_hint("generate one: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem"));
    };
    let key = load_signing_key(key_path)?;
    let repository = parse_reference(&report.image.reference).map_err(|e| {
        Diagnostic::usage(format!(
            "the report's image {} is not one registry reference: {e}",
            report.image.reference
        ))
        .with_hint("attest a run of one registry image (an index), or use --no-push --attest-dir")
    });
    let name = match &repository {
        Ok(r) => format!("{}/{}", r.resolve_registry(), r.repository()),
        Err(_) => report.image.reference.clone(),
    };
    let signed = attest::sign(report, &name, &key).map_err(Diagnostic::infrastructure)?;
    if signed.is_empty() {
        return Err(Diagnostic::usage(
            "the report has no tested child manifest to attest (no platform ran a test on an \
             index entry)",
        ));
    }
    if let Some(dir) = &signing.attest_dir {
        let files = attest::write_files(dir, &signed)
            .map_err(|e| Diagnostic::infrastructure(format!("cannot write the statements: {e}")))?;
        println!(
            "attest: wrote {} statement(s) and envelope(s) to {}",
            files.len(),
            dir.display()
        );
    }
    if signing.no_push {
        return Ok(exit::SUCCESS);
    }
    let reference = repository?;
    let ImageSource::Registry(image) = ImageSource::open(&reference.whole())
        .map_err(|e| Diagnostic::usage(e.to_string()).with_hint(e.hint()))?
    else {
        return Err(Diagnostic::usage(format!(
            "{} is not a registry image: attestations attach in a registry",
            report.image.reference
        )));
    };
    let mut failed = 0;
    for (s, result) in signed.iter().zip(attest::push(&image, &signed).await) {
        match result {
            Ok((digest, listing)) => println!(
                "attest: {:<14} {}  {}  attached as {digest} ({})",
                s.platform,
                s.digest,
                if s.native { "native" } else { "emulated" },
                match listing {
                    crate::image::registry::referrers::Listing::ReferrersApi => "referrers API",
                    crate::image::registry::referrers::Listing::TagSchema => "referrers tag schema",
                }
            ),
            Err(e) => {
                failed += 1;
                eprintln!("attest: {} {}: {e}", s.platform, s.digest);
            }
        }
    }
    if failed > 0 {
        return Err(Diagnostic::infrastructure(format!(
            "{failed} attestation(s) could not be attached in the registry"
        ))
        .with_hint("the statements are signed: retry `archsmoke attest REPORT.json --key ...`"));
    }
    Ok(exit::SUCCESS)
}

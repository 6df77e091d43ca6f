//! What a container's failed start says about the image: runc's message for a command the image
//! does not have, so that the runner can blame the image (a failed test) and not the engine.

/// The program a container runtime could not find, from its start error: runc says
/// `exec: "/usr/bin/x": stat /usr/bin/x: no such file or directory` for a path and
/// `exec: "x": executable file not found in $PATH` for a name.
pub fn missing_program(detail: &str) -> Option<String> {
    let rest = &detail[detail.find("exec: \"")? + "exec: \"".len()..];
    let (program, after) = rest.split_once("\": ")?;
    let missing = after.starts_with("executable file not found in $PATH")
        || (after.starts_with("stat ") && after.contains("no such file or directory"));
    missing.then(|| program.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_path_or_name_is_recognized_and_other_start_errors_are_not() {
        let path = "Docker responded with status code 400: failed to create shim task: OCI \
                    runtime create failed: runc create failed: unable to start container \
                    process: exec: \"/usr/bin/httpd-not-here\": stat /usr/bin/httpd-not-here: \
                    no such file or directory: unknown";
        assert_eq!(
            missing_program(path).as_deref(),
            Some("/usr/bin/httpd-not-here")
        );
        let name = "unable to start container process: exec: \"httpd\": executable file not \
                    found in $PATH: unknown";
        assert_eq!(missing_program(name).as_deref(), Some("httpd"));
        let format = "unable to start container process: exec: \"/bin/sh\": exec format error";
        assert_eq!(missing_program(format), None);
        assert_eq!(missing_program("no such container"), None);
    }
}

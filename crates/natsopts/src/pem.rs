//! The PEM check of the TLS files.

use std::path::Path;

use crate::NatsOptionsError;

/// Fails, naming the setting and the file, unless `path` is readable text holding a
/// `-----BEGIN …{label}-----` line.
pub(crate) fn check(
    path: &Path,
    setting: &'static str,
    label: &str,
) -> Result<(), NatsOptionsError> {
    let failed = |message: String| NatsOptionsError::TlsFile {
        setting,
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let end = format!("{label}-----");
    let found = text
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&end));
    if !found {
        return Err(failed(format!("no PEM {label} in it")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_the_block_is_refused_and_one_with_it_passes() {
        let dir = std::env::temp_dir().join(format!("natsopts-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("key.pem");
        std::fs::write(
            &key,
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(check(&key, "NATS_TLS_KEY_FILE", "PRIVATE KEY").is_ok());
        let err = check(&key, "NATS_TLS_CERT_FILE", "CERTIFICATE").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot use NATS_TLS_CERT_FILE {}: no PEM CERTIFICATE in it",
                key.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! `cargo xtask image`: the container image, built with Podman from a binary built here.
//!
//! 1. `cargo build --release` of `federation` (or `--binary PATH`), stripped into a small
//!    staging directory under cargo's target directory (`image/context/`);
//! 2. the base image: `--base IMAGE` when given (a registry's `debian:bookworm-slim`),
//!    else the local [`LOCAL_BASE`], made once without a registry by `debootstrap`
//!    (its root filesystem kept as `image/debian-bookworm-slim.tar` under the target
//!    directory, so a new Podman store imports it again in seconds);
//! 3. `podman build` of `deploy/Dockerfile` with `BINARY=prebuilt`: the runtime stage
//!    takes the staged binary (build context `host`); the Rust build stage is skipped.
//!
//! [`ensure_podman`] and [`ensure_base`] are also what `cargo xtask test` runs before the
//! container tests (`crates/server/tests/container.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// The base image made here without a registry (`debootstrap`, then `podman import`).
pub const LOCAL_BASE: &str = "localhost/debian:bookworm-slim";
/// Debian release and mirror of [`LOCAL_BASE`].
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
/// What `debootstrap --variant=minbase` leaves that an image does not need (package
/// lists and downloaded packages, documentation, translations).
const TRIM: &[&str] = &[
    "var/cache/apt/archives",
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/log",
];
/// Podman's settings on a machine that has none: rlimits may not be set here, and crun
/// fails ("cgroups in hybrid mode not supported") where runc works.
const CONTAINERS_CONF: &str = "/etc/containers/containers.conf";
const CONTAINERS_CONF_TEXT: &str = "# Written by cargo xtask (xtask/src/image.rs).\n\
[containers]\n\
# setting rlimits is not permitted in this kind of sandbox\n\
default_ulimits = []\n\
\n\
[engine]\n\
# crun fails here: \"cgroups in hybrid mode not supported\"\n\
runtime = \"runc\"\n";

/// `cargo xtask image`'s options.
#[derive(Debug, clap::Args)]
pub(crate) struct ImageArgs {
    /// Name of the image to build.
    #[arg(long, default_value = "localhost/federation:dev")]
    tag: String,
    /// Base image of the runtime stage; default: the local one, made with debootstrap when
    /// missing (give `debian:bookworm-slim` to take it from a registry).
    #[arg(long)]
    base: Option<String>,
    /// Put this `federation` binary in the image instead of building the release binary.
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// Only make (or reuse) the local base image.
    #[arg(long)]
    base_only: bool,
}

/// `cargo xtask image [ARGS]`, in the workspace root; `target` is cargo's target directory.
pub(crate) fn run(target: &Path, args: ImageArgs) -> anyhow::Result<()> {
    ensure_podman()?;
    let base = match &args.base {
        Some(base) => base.clone(),
        None => ensure_base(target)?,
    };
    if args.base_only {
        println!("base image: {base}");
        return Ok(());
    }
    let started = std::time::Instant::now();
    let binary = match args.binary {
        Some(path) => path,
        None => build_release(target)?,
    };
    let built = started.elapsed();
    let started = std::time::Instant::now();
    build_image(target, &binary, &base, &args.tag)?;
    let size = image_size(&args.tag)?;
    println!(
        "{}: {:.1} MB (base {base}; binary built in {:.0?}, image in {:.0?})",
        args.tag,
        size as f64 / 1e6,
        built,
        started.elapsed()
    );
    Ok(())
}

/// Installs podman, runc, debootstrap and catatonit with apt when missing (as root) and writes
/// [`CONTAINERS_CONF`] when there is none; then checks that `podman info` answers.
pub fn ensure_podman() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    // catatonit: the pause process of a pod (`podman kube play`), built into a local
    // pause image without a registry.
    for (binary, package) in [
        ("podman", "podman"),
        ("runc", "runc"),
        ("debootstrap", "debootstrap"),
        ("catatonit", "catatonit"),
    ] {
        let elsewhere = ["/usr/sbin", "/usr/libexec/podman"]
            .iter()
            .any(|dir| Path::new(dir).join(binary).is_file());
        if !super::on_path(binary) && !elsewhere {
            missing.push(package);
        }
    }
    if !missing.is_empty() {
        super::apt_install(&missing)?;
    }
    if super::is_root() && !Path::new(CONTAINERS_CONF).exists() {
        std::fs::create_dir_all("/etc/containers").context("creating /etc/containers")?;
        std::fs::write(CONTAINERS_CONF, CONTAINERS_CONF_TEXT)
            .with_context(|| format!("writing {CONTAINERS_CONF}"))?;
        eprintln!("xtask: wrote {CONTAINERS_CONF} (no rlimits, runtime runc)");
    }
    let out = Command::new("podman")
        .args(["info", "--format", "{{.Host.OCIRuntime.Name}}"])
        .output()
        .context("running podman info")?;
    if !out.status.success() {
        bail!(
            "podman cannot run here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Makes [`LOCAL_BASE`] unless Podman has it: imports the cached root filesystem
/// (`image/debian-bookworm-slim.tar` under `target`), made first with debootstrap when
/// missing. Returns the image's name.
pub fn ensure_base(target: &Path) -> anyhow::Result<String> {
    if image_exists(LOCAL_BASE)? {
        return Ok(LOCAL_BASE.to_owned());
    }
    let dir = target.join("image");
    let tarball = dir.join(format!("debian-{SUITE}-slim.tar"));
    if !tarball.is_file() {
        debootstrap(&dir, &tarball)?;
    }
    eprintln!("xtask: importing {} as {LOCAL_BASE}", tarball.display());
    let status = Command::new("podman")
        .args(["import", "--quiet"])
        .arg(&tarball)
        .arg(LOCAL_BASE)
        .stdout(Stdio::null())
        .status()
        .context("running podman import")?;
    if !status.success() {
        bail!(
            "podman import of {} failed with {status}",
            tarball.display()
        );
    }
    Ok(LOCAL_BASE.to_owned())
}

/// `debootstrap --variant=minbase` (with ca-certificates), trimmed, packed into `tarball`.
fn debootstrap(dir: &Path, tarball: &Path) -> anyhow::Result<()> {
    if !super::is_root() {
        bail!(
            "no base image {LOCAL_BASE}: making it takes debootstrap as root \
             (or pass --base debian:bookworm-slim where a registry is reachable)"
        );
    }
    let rootfs = dir.join("rootfs");
    if rootfs.exists() {
        // What an interrupted run left.
        std::fs::remove_dir_all(&rootfs)
            .with_context(|| format!("removing {}", rootfs.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    eprintln!(
        "xtask: debootstrap {SUITE} (minbase) into {} (a minute or two)",
        rootfs.display()
    );
    let started = std::time::Instant::now();
    let status = Command::new("debootstrap")
        .args(["--variant=minbase", "--include=ca-certificates", SUITE])
        .arg(&rootfs)
        .arg(MIRROR)
        .stdout(Stdio::null())
        .status()
        .context("running debootstrap")?;
    if !status.success() {
        bail!("debootstrap failed with {status}");
    }
    for path in TRIM {
        let path = rootfs.join(path);
        if path.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                let entry = entry?.path();
                let removed = if entry.is_dir() && !entry.is_symlink() {
                    std::fs::remove_dir_all(&entry)
                } else {
                    std::fs::remove_file(&entry)
                };
                removed.with_context(|| format!("removing {}", entry.display()))?;
            }
        } else if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let partial = tarball.with_extension("tar.partial");
    let status = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&partial)
        .arg(".")
        .status()
        .context("running tar")?;
    if !status.success() {
        bail!("packing {} failed with {status}", rootfs.display());
    }
    std::fs::rename(&partial, tarball)
        .with_context(|| format!("renaming {}", partial.display()))?;
    std::fs::remove_dir_all(&rootfs).with_context(|| format!("removing {}", rootfs.display()))?;
    eprintln!(
        "xtask: base root filesystem made in {:.0?}: {}",
        started.elapsed(),
        tarball.display()
    );
    Ok(())
}

/// `cargo build --release` of the `federation` binary; returns its path.
fn build_release(target: &Path) -> anyhow::Result<PathBuf> {
    let status = super::cargo()
        .args([
            "build",
            "--release",
            "--locked",
            "--package",
            "federation-server",
            "--bin",
            "federation",
        ])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release failed with {status}");
    }
    Ok(target.join("release/federation"))
}

/// `podman build` of `deploy/Dockerfile` (from the workspace root, the current
/// directory) with `binary`, stripped, as the runtime's binary.
fn build_image(target: &Path, binary: &Path, base: &str, tag: &str) -> anyhow::Result<()> {
    let context = target.join("image/context");
    std::fs::create_dir_all(&context).with_context(|| format!("creating {}", context.display()))?;
    let staged = context.join("federation");
    let status = Command::new("strip")
        .arg("-o")
        .arg(&staged)
        .arg(binary)
        .status()
        .context("running strip (binutils)")?;
    if !status.success() {
        bail!("strip {} failed with {status}", binary.display());
    }
    let revision = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let status = Command::new("podman")
        .args([
            "build",
            "--quiet",
            "--format",
            "docker",
            "-f",
            "deploy/Dockerfile",
        ])
        .args(["--build-arg", "BINARY=prebuilt"])
        .arg("--build-context")
        .arg(format!("host={}", context.display()))
        .arg("--build-arg")
        .arg(format!("BASE_IMAGE={base}"))
        .arg("--build-arg")
        .arg(format!("VERSION={}", env!("CARGO_PKG_VERSION")))
        .arg("--build-arg")
        .arg(format!("REVISION={revision}"))
        .args(["--tag", tag, "."])
        .stdout(Stdio::null())
        .status()
        .context("running podman build")?;
    if !status.success() {
        bail!("podman build failed with {status}");
    }
    Ok(())
}

fn image_exists(name: &str) -> anyhow::Result<bool> {
    Ok(Command::new("podman")
        .args(["image", "exists", name])
        .status()
        .context("running podman image exists")?
        .success())
}

/// The image's size in bytes, as `podman images` reports it.
fn image_size(name: &str) -> anyhow::Result<u64> {
    let out = Command::new("podman")
        .args(["image", "inspect", "--format", "{{.Size}}", name])
        .output()
        .context("running podman image inspect")?;
    if !out.status.success() {
        bail!("podman image inspect {name} failed with {}", out.status);
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .with_context(|| format!("reading the size of {name}"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Xtask};

    #[test]
    fn the_arguments_have_defaults_and_a_bad_one_is_an_error() {
        let Some(Xtask::Image(args)) = Cli::try_parse_from(["xtask", "image"]).unwrap().command
        else {
            panic!("not the image command");
        };
        assert_eq!(args.tag, "localhost/federation:dev");
        assert!(args.base.is_none() && args.binary.is_none() && !args.base_only);
        let err = Cli::try_parse_from(["xtask", "image", "--no-such-flag"]).unwrap_err();
        assert!(err.to_string().contains("--no-such-flag"), "{err}");
    }
}

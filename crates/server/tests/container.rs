//! The container image (`deploy/Dockerfile`), built and run with Podman.
//!
//! The image is built once per run from the `federation` binary cargo built for these
//! tests (stripped; the Dockerfile's `BINARY=prebuilt` path that `cargo xtask image`
//! takes with the release binary), on the base image `FED_TEST_BASE_IMAGE` (`cargo xtask
//! test` makes the local `localhost/debian:bookworm-slim` and names it). `FED_TEST_IMAGE`
//! tests an image built before instead (`cargo xtask image`, then
//! `FED_TEST_IMAGE=localhost/federation:dev cargo test -p federation-server --test container`).
//!
//! Where Podman cannot run, every test passes after saying so on stderr; in CI
//! (`CI=true`) that is a failure instead.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The local base `cargo xtask image` and `cargo xtask test` make with debootstrap.
const LOCAL_BASE: &str = "localhost/debian:bookworm-slim";
/// The tag of the image these tests build.
const TEST_TAG: &str = "localhost/federation:container-test";
/// The API key the serving container is configured with.
const API_KEY: &str = "container-test-key";
/// The Deployment's terminationGracePeriodSeconds (deploy/k8s/deployment.yaml).
const GRACE: Duration = Duration::from_secs(20);
/// Seconds a container that should end by itself may run before Podman kills it (so a
/// container that serves instead of failing fails the test rather than hanging it).
const RUN_TIMEOUT: &str = "60";

// ---- the image, once per run --------------------------------------------------------

/// The image under test, built on first use; `None` where Podman cannot run (not in CI).
fn image() -> Option<&'static str> {
    static IMAGE: OnceLock<Result<Option<String>, String>> = OnceLock::new();
    match IMAGE.get_or_init(prepare) {
        Ok(image) => image.as_deref(),
        Err(e) => panic!("{e}"),
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says why the container tests are skipped, past libtest's capture (once per run).
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "container tests: {message}");
}

fn prepare() -> Result<Option<String>, String> {
    let info = Command::new("podman")
        .args(["info", "--format", "{{.Host.OCIRuntime.Name}}"])
        .output();
    let why = match info {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(e) => Some(format!("podman: {e}")),
    };
    if let Some(why) = why {
        if in_ci() {
            return Err(format!("podman cannot run, and CI=true: {why}"));
        }
        say(&format!(
            "SKIPPED: podman cannot run here ({why}); `cargo xtask test` installs it as root"
        ));
        return Ok(None);
    }
    if let Ok(image) = std::env::var("FED_TEST_IMAGE") {
        if !podman(&["image", "exists", &image]).status.success() {
            return Err(format!("FED_TEST_IMAGE={image}: no such image"));
        }
        return Ok(Some(image));
    }
    let base = match std::env::var("FED_TEST_BASE_IMAGE") {
        Ok(base) => base,
        Err(_) if podman(&["image", "exists", LOCAL_BASE]).status.success() => {
            LOCAL_BASE.to_owned()
        }
        Err(_) => {
            return Err(format!(
                "no base image: run `cargo xtask image --base-only` (makes {LOCAL_BASE}), or set \
                 FED_TEST_BASE_IMAGE=debian:bookworm-slim where a registry is reachable"
            ))
        }
    };
    build(&base).map(Some)
}

/// `podman build` of deploy/Dockerfile with this test binary's `federation`, stripped.
fn build(base: &str) -> Result<String, String> {
    let started = Instant::now();
    let staging = tempfile::tempdir().map_err(|e| e.to_string())?;
    let staged = staging.path().join("federation");
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&staged)
        .arg(env!("CARGO_BIN_EXE_federation"))
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(env!("CARGO_BIN_EXE_federation"), &staged).map_err(|e| e.to_string())?;
    }
    // The previous run's image would stay behind untagged (the new one takes the tag).
    let _ = podman(&["rmi", "--force", TEST_TAG]);
    let out = Command::new("podman")
        .current_dir(repo_dir())
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
        .arg(format!("host={}", staging.path().display()))
        .arg("--build-arg")
        .arg(format!("BASE_IMAGE={base}"))
        .arg("--build-arg")
        .arg(format!("VERSION={}", env!("CARGO_PKG_VERSION")))
        .args(["--build-arg", "REVISION=container-test"])
        .args(["--tag", TEST_TAG, "."])
        .output()
        .map_err(|e| format!("podman build: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "podman build failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    say(&format!(
        "built {TEST_TAG} on {base} in {:.1?}",
        started.elapsed()
    ));
    Ok(TEST_TAG.to_owned())
}

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---- podman -------------------------------------------------------------------------

fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(args)
        .output()
        .expect("running podman")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_owned()
}

fn unique(what: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("fedtest-{what}-{}-{n}", std::process::id())
}

/// A named volume, removed on drop.
struct Volume(String);

impl Volume {
    fn create() -> Self {
        let name = unique("data");
        let out = podman(&["volume", "create", &name]);
        assert!(out.status.success(), "{}", stderr(&out));
        Self(name)
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = podman(&["volume", "rm", "--force", &self.0]);
    }
}

/// A detached container, removed (killed first if running) on drop.
struct Container {
    name: String,
    port: u16,
}

impl Container {
    /// `podman run --detach` of `image` with `args` (before the image) and `command`
    /// (after it), publishing `container_port` on a free loopback port; waits until
    /// `/health` answers 200 there.
    fn start(image: &str, args: &[&str], container_port: u16, command: &[&str]) -> Self {
        let name = unique("serve");
        let publish = format!("127.0.0.1::{container_port}");
        let mut all = vec!["run", "--detach", "--name", &name, "--publish", &publish];
        all.extend_from_slice(args);
        all.push(image);
        all.extend_from_slice(command);
        let out = podman(&all);
        assert!(out.status.success(), "podman run: {}", stderr(&out));
        let ports = stdout(&podman(&["port", &name, &format!("{container_port}/tcp")]));
        let port = ports
            .lines()
            .find_map(|l| l.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
            .unwrap_or_else(|| panic!("no published port in {ports:?}"));
        let container = Self { name, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if get(port, "/health", None).is_some_and(|(status, _)| status == 200) {
                return container;
            }
            assert!(
                container.running(),
                "the container ended before /health answered: {}",
                container.logs()
            );
            assert!(
                Instant::now() < deadline,
                "no /health within 60 s: {}",
                container.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn running(&self) -> bool {
        stdout(&podman(&[
            "inspect",
            "--format",
            "{{.State.Running}}",
            &self.name,
        ])) == "true"
    }

    fn exit_code(&self) -> String {
        stdout(&podman(&[
            "inspect",
            "--format",
            "{{.State.ExitCode}}",
            &self.name,
        ]))
    }

    /// Both of the container's streams (the service logs JSON on stdout, errors on stderr).
    fn logs(&self) -> String {
        let out = podman(&["logs", &self.name]);
        format!("{}\n{}", stdout(&out), stderr(&out))
    }

    fn exec(&self, args: &[&str]) -> Output {
        let mut all = vec!["exec", &self.name];
        all.extend_from_slice(args);
        podman(&all)
    }

    /// `podman stop` with the Deployment's grace period; how long it took.
    fn stop(&self) -> Duration {
        let started = Instant::now();
        let grace = GRACE.as_secs().to_string();
        let out = podman(&["stop", "--time", &grace, &self.name]);
        assert!(out.status.success(), "podman stop: {}", stderr(&out));
        started.elapsed()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--time", "0", &self.name]);
    }
}

// ---- HTTP from the host ---------------------------------------------------------------

/// One HTTP/1.0 request to 127.0.0.1:`port` (so the answer ends with the connection);
/// the status and body, or `None` when nothing answered.
fn request(
    port: u16,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    if let Some(key) = key {
        head.push_str(&format!("X-API-Key: {key}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Some((status, body))
}

fn get(port: u16, path: &str, key: Option<&str>) -> Option<(u16, String)> {
    request(port, "GET", path, key, None)
}

// ---- the tests ------------------------------------------------------------------------

/// `/proc/PID/status` of a process that holds no capability, not even in its bounding set.
fn no_capabilities(status: &str) -> bool {
    ["CapEff:", "CapPrm:", "CapBnd:"].iter().all(|cap| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(cap))
            .is_some_and(|v| v.trim().chars().all(|c| c == '0'))
    })
}

/// A catalog file (`projects.yaml`) with permissions `mode`, in a directory of its own.
fn projects_file(mode: u32) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("projects.yaml");
    std::fs::write(
        &path,
        "projects:\n  - slug: from-file\n    name: From the mounted file\n    \
         hub_url: http://from-file.example.com:8000\n    tags: [mounted]\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The Deployment's way to run it (read-only root, no capabilities, the catalog mounted
/// where the ConfigMap goes, settings from the environment) on the embedded SQLite
/// default with a volume; then a stop, and a second start on the same volume.
#[test]
fn the_image_serves_as_the_deployment_runs_it_and_stops_on_sigterm() {
    let Some(image) = image() else { return };
    let volume = Volume::create();
    let catalog = projects_file(0o644);
    let data = format!("{}:/app/data", volume.0);
    let mounted = format!(
        "{}:/etc/federation/projects.yaml:ro",
        catalog.path().join("projects.yaml").display()
    );
    let hardened = [
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
    ];
    let mut args = hardened.to_vec();
    args.extend([
        "--volume",
        &data,
        "--volume",
        &mounted,
        "--env",
        "FEDERATION_PROJECTS_FILE=/etc/federation/projects.yaml",
        "--env",
        "FEDERATION_API_KEYS=container-test-key",
    ]);
    let serving = Container::start(image, &args, 8001, &[]);
    let port = serving.port;

    // /health and /ready from the host; the embedded SQLite default answers.
    let (status, body) = get(port, "/ready", None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""database":"ok""#), "{body}");
    // Settings from the environment: keys are required; the mounted catalog applied.
    assert_eq!(get(port, "/api/fed/projects", None).unwrap().0, 401);
    let (status, body) = get(port, "/api/fed/projects?limit=10", Some(API_KEY)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""slug":"from-file""#) && body.contains(r#""mounted""#),
        "{body}"
    );
    let beat = r#"{"project_slug":"from-file","version":"9.9.9"}"#;
    let (status, body) = request(
        port,
        "POST",
        "/api/fed/projects/from-file/heartbeat",
        Some(API_KEY),
        Some(beat),
    )
    .unwrap();
    assert_eq!(status, 202, "{body}");

    // The non-root user, on a read-only root with the volume writable.
    let status = stdout(&serving.exec(&["cat", "/proc/1/status"]));
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["10001"; 4],
        "{uid}"
    );
    assert!(no_capabilities(&status), "{status}");
    let out = serving.exec(&["touch", "/app/written"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Read-only file system"), "{out:?}");
    let out = serving.exec(&["ls", "/app/data"]);
    assert!(stdout(&out).contains("federation.db"), "{out:?}");

    // The image's health check is `federation healthcheck`, and it can fail.
    let out = podman(&["healthcheck", "run", &serving.name]);
    assert!(out.status.success(), "healthcheck: {out:?}");
    let out = serving.exec(&["federation", "healthcheck", "--path", "/no-such-route"]);
    assert!(!out.status.success(), "{out:?}");
    assert!(stderr(&out).contains("404"), "{out:?}");

    // SIGTERM: readiness goes first (no new connection is accepted), then the last flush
    // (it writes the heartbeat) and the lease handed back, and the process ends by itself
    // well inside the grace period.
    let took = serving.stop();
    assert!(took < GRACE, "podman stop took {took:?}");
    assert_eq!(
        serving.exit_code(),
        "0",
        "killed, not stopped: {}",
        serving.logs()
    );
    let logs = serving.logs();
    let at = |what: &str| {
        logs.find(what)
            .unwrap_or_else(|| panic!("no {what:?} in the logs: {logs}"))
    };
    assert!(at("SIGTERM received") < at("accept thread stopped"));
    assert!(at("accept thread stopped") < at("no longer leads the sweep"));
    assert!(at("no longer leads the sweep") < at("federation service stopped"));
    drop(serving);

    // Again on the same volume, on another port, anonymous reads allowed: the heartbeat
    // flushed at the stop is there.
    let mut args = hardened.to_vec();
    args.extend([
        "--volume",
        &data,
        "--env",
        "SERVICE_PORT=9001",
        "--env",
        "FEDERATION_ALLOW_ANONYMOUS=true",
    ]);
    let again = Container::start(image, &args, 9001, &[]);
    let (status, body) = get(again.port, "/api/fed/projects/from-file", None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""version":"9.9.9""#), "{body}");
    assert!(!body.contains(r#""last_heartbeat_at":null"#), "{body}");
    again.stop();
}

/// `migrate` as the Kubernetes Job runs it (deploy/k8s/migrate-job.yaml): user 10001,
/// read-only root, no capabilities, DATABASE_URL from the environment (the Secret), against
/// PostgreSQL; a second run applies nothing. The password is never printed.
#[test]
fn the_migrate_job_migrates_postgres_once() {
    let Some(image) = image() else { return };
    let cluster = federation_testkit::PostgresCluster::start().unwrap();
    let url = cluster.create_database("federation").unwrap();
    // postgres://USER[:PASSWORD]@HOST…
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(user, _)| user.split_once(':'))
        .map(|(_, password)| password.to_owned());
    let env = format!("DATABASE_URL={url}");
    let migrate = || {
        podman(&[
            "run",
            "--rm",
            "--no-healthcheck",
            "--timeout",
            RUN_TIMEOUT,
            "--network",
            "host",
            "--user",
            "10001:10001",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--env",
            &env,
            image,
            "migrate",
        ])
    };
    let first = migrate();
    assert!(first.status.success(), "{first:?}");
    assert!(stdout(&first).contains("migration(s) applied"), "{first:?}");
    let second = migrate();
    assert!(second.status.success(), "{second:?}");
    assert!(
        stdout(&second).contains("schema is up to date; nothing applied"),
        "{second:?}"
    );
    if let Some(password) = password.filter(|p| !p.is_empty()) {
        for out in [&first, &second] {
            assert!(!stdout(out).contains(&password) && !stderr(out).contains(&password));
        }
    }
}

/// Bad input ends the container at once with one line on stderr and status 1.
#[test]
fn bad_input_ends_the_container_with_one_clear_line() {
    use std::os::unix::fs::PermissionsExt;
    let Some(image) = image() else { return };
    let volume = Volume::create();
    let data = format!("{}:/app/data", volume.0);
    let unwritable = tempfile::tempdir().unwrap();
    std::fs::set_permissions(unwritable.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let unwritable = format!("{}:/app/data", unwritable.path().display());
    let secret = projects_file(0o600);
    let unreadable = format!(
        "{}:/etc/federation/projects.yaml:ro",
        secret.path().join("projects.yaml").display()
    );
    let cases: [(&str, Vec<&str>, &str); 4] = [
        (
            "no volume on a read-only root",
            vec![],
            "connecting to the database sqlite://data/federation.db",
        ),
        (
            "a volume the user cannot write",
            vec!["--volume", &unwritable],
            "connecting to the database sqlite://data/federation.db",
        ),
        (
            "a DATABASE_URL of no known scheme",
            vec![
                "--volume",
                &data,
                "--env",
                "DATABASE_URL=mysql://db/federation",
            ],
            "invalid DATABASE_URL",
        ),
        (
            "a projects.yaml the user cannot read",
            vec![
                "--volume",
                &data,
                "--volume",
                &unreadable,
                "--env",
                "FEDERATION_PROJECTS_FILE=/etc/federation/projects.yaml",
            ],
            "reading /etc/federation/projects.yaml: Permission denied",
        ),
    ];
    for (case, extra, expected) in cases {
        let mut args = vec![
            "run",
            "--rm",
            "--no-healthcheck",
            "--timeout",
            RUN_TIMEOUT,
            "--read-only",
            "--env",
            "FEDERATION_API_KEYS=container-test-key",
        ];
        args.extend(extra);
        args.push(image);
        let out = podman(&args);
        assert_eq!(out.status.code(), Some(1), "{case}: {out:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{case}: not one line: {err}");
        assert!(
            err.starts_with("federation: ") && err.contains(expected),
            "{case}: {err}"
        );
    }
}

/// OCI labels name the version the binary reports and the source; the image holds no
/// compiler, no package lists and no shell history of the build.
#[test]
fn the_image_is_labelled_and_lean() {
    let Some(image) = image() else { return };
    let labels = stdout(&podman(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        image,
    ]));
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    let label = |key: &str| {
        labels[format!("org.opencontainers.image.{key}")]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} label in {labels}"))
            .to_owned()
    };
    assert_eq!(label("version"), env!("CARGO_PKG_VERSION"), "{labels}");
    assert!(label("source").starts_with("https://"), "{labels}");
    assert!(!label("revision").is_empty(), "{labels}");
    let out = podman(&[
        "run",
        "--rm",
        "--no-healthcheck",
        "--timeout",
        RUN_TIMEOUT,
        "--entrypoint",
        "sh",
        image,
        "-c",
        "federation --version; for c in cc gcc rustc cargo; do command -v $c; done; \
         find /var/lib/apt/lists -type f ! -name lock",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!("federation {}", label("version")),
        "the binary's version is the label's, and nothing else is there"
    );
}

/// `deploy/k8s/deployment.yaml` in a Podman pod (`podman kube play`), as close to the file
/// as one machine allows: one replica of the image under test, the embedded SQLite on an
/// `emptyDir` at /app/data instead of PostgreSQL (the Secret's `DATABASE_URL` left out, its
/// API keys moved into the environment ConfigMap: Podman has no Kubernetes Secrets), no
/// `NATS_URL`, and the http port published on a loopback `hostPort`. The rest is the file's:
/// the ConfigMaps as environment and as the mounted `projects.yaml`, the pod's user, the
/// read-only root, no capabilities.
#[test]
fn the_deployment_plays_in_a_podman_pod() {
    use yaml_serde::Value;
    let Some(image) = image() else { return };
    let k8s = repo_dir().join("deploy/k8s");
    let read = |file: &str| -> Vec<Value> {
        let text = std::fs::read_to_string(k8s.join(file)).unwrap();
        yaml_serde::Deserializer::from_str(&text)
            .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
            .collect()
    };
    let mut configmaps = read("configmap.yaml");
    let secret = read("secret.yaml").remove(0);
    let mut deployment = read("deployment.yaml").remove(0);

    let env = configmaps
        .iter_mut()
        .find(|c| c["metadata"]["name"] == "federation-env")
        .unwrap()["data"]
        .as_mapping_mut()
        .unwrap();
    env.remove("NATS_URL");
    for (key, value) in secret["stringData"].as_mapping().unwrap() {
        if key != "DATABASE_URL" {
            env.insert(key.clone(), value.clone());
        }
    }
    let read_key = secret["stringData"]["FEDERATION_READ_API_KEYS"]
        .as_str()
        .unwrap()
        .to_owned();

    let name = unique("pod");
    let port = federation_testkit::free_port();
    // Podman keeps a ConfigMap mounted as a volume in a volume of its name, also after
    // `kube down`: a name of this run's own, removed at the end.
    let projects = format!("{name}-projects");
    configmaps
        .iter_mut()
        .find(|c| c["metadata"]["name"] == "federation-projects")
        .unwrap()["metadata"]["name"] = projects.clone().into();
    deployment["metadata"]["name"] = name.clone().into();
    deployment["spec"]["replicas"] = 1.into();
    let pod = &mut deployment["spec"]["template"]["spec"];
    for volume in pod["volumes"].as_sequence_mut().unwrap() {
        if volume["configMap"]["name"] == "federation-projects" {
            volume["configMap"]["name"] = projects.clone().into();
        }
    }
    pod["volumes"]
        .as_sequence_mut()
        .unwrap()
        .push(yaml_serde::from_str("{name: data, emptyDir: {}}").unwrap());
    let container = &mut pod["containers"][0];
    container["image"] = image.into();
    container["envFrom"]
        .as_sequence_mut()
        .unwrap()
        .retain(|from| from.get("secretRef").is_none());
    container["ports"][0]["hostPort"] = port.into();
    container["ports"][0]["hostIP"] = "127.0.0.1".into();
    container["volumeMounts"]
        .as_sequence_mut()
        .unwrap()
        .push(yaml_serde::from_str("{name: data, mountPath: /app/data}").unwrap());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("play.yaml");
    let docs: Vec<String> = configmaps
        .iter()
        .chain([&deployment])
        .map(|doc| yaml_serde::to_string(doc).unwrap())
        .collect();
    std::fs::write(&file, docs.join("---\n")).unwrap();
    let file = file.to_str().unwrap();

    /// `podman kube down` of the played file, then removing the ConfigMap's volume, on drop.
    struct Played<'a>(&'a str, &'a str);
    impl Drop for Played<'_> {
        fn drop(&mut self) {
            let _ = podman(&["kube", "down", self.0]);
            let _ = podman(&["volume", "rm", "--force", self.1]);
        }
    }
    let played = Played(file, &projects);
    let out = podman(&["kube", "play", "--quiet", file]);
    assert!(out.status.success(), "podman kube play: {}", stderr(&out));
    let container = format!("{name}-pod-0-federation");

    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        match get(port, "/ready", None) {
            Some((200, body)) => break body,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => panic!(
                "no ready pod within 60 s: {other:?}; {}",
                stderr(&podman(&["logs", &container]))
            ),
        }
    };
    assert!(ready.contains(r#""database":"ok""#), "{ready}");
    // The API keys from the environment, the catalog from the mounted ConfigMap.
    assert_eq!(get(port, "/api/fed/projects", None).unwrap().0, 401);
    let (status, body) = get(port, "/api/fed/projects?limit=10", Some(&read_key)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""slug":"commandcenter""#), "{body}");
    // The pod's security context, as Podman applied it.
    let applied = stdout(&podman(&[
        "inspect",
        "--format",
        "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}",
        &container,
    ]));
    assert_eq!(applied, "10001:10001 true");
    let status = stdout(&podman(&["exec", &container, "cat", "/proc/1/status"]));
    assert!(no_capabilities(&status), "{status}");
    drop(played);
    assert!(
        !podman(&["volume", "exists", &projects]).status.success(),
        "{projects} left behind"
    );
}

//! The container's runtime contract, checked without a container engine. The
//! binary runs as the image's numeric user 65532, with no capabilities and
//! no-new-privs, from a working directory it cannot write. In demo mode it
//! serves `/health`, `/ready` and `/chat`, and it exits 0 on SIGTERM.
//!
//! The binary is the one `cargo test` builds, copied into a root-owned
//! directory the way the Dockerfile installs it. Dropping to another user
//! needs root; as another user the tests fail, unless
//! `HELLO_SHIP_SKIP_ROOT_TESTS=1` says to skip them.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The image's `USER`; deploy/kubernetes/deployment.yaml runs as the same ids.
const IMAGE_UID: u32 = 65532;
const IMAGE_GID: u32 = 65532;

/// Shared libraries the distroless cc runtime image provides.
const RUNTIME_LIBRARIES: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libgcc_s.so.1",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
];

/// Whether the caller may run these tests: true as root, false when the
/// caller opted out, and a failure otherwise, so that nothing is skipped
/// without a word.
#[expect(
    clippy::print_stderr,
    reason = "a skipped test says so in the test output"
)]
fn root_or_opted_out() -> bool {
    if effective_uid(std::process::id()) == 0 {
        return true;
    }
    let opted_out = std::env::var("HELLO_SHIP_SKIP_ROOT_TESTS").is_ok_and(|value| value == "1");
    assert!(
        opted_out,
        "the runtime contract tests start hello-ship as uid {IMAGE_UID} and need root; \
         run them as root, or set HELLO_SHIP_SKIP_ROOT_TESTS=1 to skip them"
    );
    eprintln!("skipped: not root and HELLO_SHIP_SKIP_ROOT_TESTS=1");
    false
}

/// Reads the effective uid of process `pid` from `/proc`.
fn effective_uid(pid: u32) -> u32 {
    process_ids(pid, "Uid:")[1]
}

/// Returns the real, effective, saved and filesystem ids on the `field` line
/// (`Uid:` or `Gid:`) of `/proc/PID/status`.
fn process_ids(pid: u32, field: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|error| panic!("cannot read /proc/{pid}/status: {error}"));
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} line in /proc/{pid}/status"));
    line[field.len()..]
        .split_whitespace()
        .map(|id| id.parse().expect("numeric id"))
        .collect()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|error| panic!("chmod {mode:o} {}: {error}", path.display()));
}

/// A root-owned layout like the image's: `bin/hello-ship` (0555) and an empty
/// working directory `work` (0555), neither writable by the image's user.
struct ImageLayout {
    root: tempfile::TempDir,
}

impl ImageLayout {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("create temp dir");
        // tempdir() creates 0700; the unprivileged user must reach bin/ and work/.
        chmod(root.path(), 0o755);
        let bin = root.path().join("bin");
        std::fs::create_dir(&bin).expect("create bin dir");
        std::fs::copy(env!("CARGO_BIN_EXE_hello-ship"), bin.join("hello-ship"))
            .expect("copy hello-ship into the layout");
        chmod(&bin.join("hello-ship"), 0o555);
        chmod(&bin, 0o555);
        let work = root.path().join("work");
        std::fs::create_dir(&work).expect("create work dir");
        chmod(&work, 0o555);
        Self { root }
    }

    fn binary(&self) -> PathBuf {
        self.root.path().join("bin/hello-ship")
    }

    fn work_dir(&self) -> PathBuf {
        self.root.path().join("work")
    }

    /// Builds a command that runs `program` as the image's user, with no
    /// supplementary groups, an empty capability bounding set and
    /// no-new-privs, like the Kubernetes securityContext in deploy/.
    fn unprivileged(&self, program: &Path) -> Command {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={IMAGE_UID}"))
            .arg(format!("--regid={IMAGE_GID}"))
            .args([
                "--clear-groups",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ])
            .arg(program)
            .current_dir(self.work_dir())
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin");
        command
    }
}

impl Drop for ImageLayout {
    fn drop(&mut self) {
        // TempDir cannot remove files from a 0555 directory.
        chmod(&self.root.path().join("bin"), 0o755);
        chmod(&self.work_dir(), 0o755);
    }
}

/// hello-ship started by `ImageLayout::unprivileged`, with its stdout lines.
struct Process {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Process {
    /// Starts the server as the image does, listening on a free 127.0.0.1 port
    /// through `HELLO_SHIP_LISTEN`, and returns it with its base URL.
    fn start(layout: &ImageLayout) -> (Self, String) {
        let mut child = layout
            .unprivileged(&layout.binary())
            .arg("--demo")
            .env("HELLO_SHIP_LISTEN", "127.0.0.1:0")
            .env("HELLO_SHIP_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start setpriv; it comes with util-linux");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (started, reader) = collect_stdout(&mut child, lines.clone());
        let process = Self {
            child,
            lines,
            reader: Some(reader),
        };
        let listen = match started.recv_timeout(Duration::from_secs(30)) {
            Ok(listen) => listen,
            Err(_) => panic!(
                "hello-ship logged no server_started within 30 s; stdout: {:?}",
                process.lines()
            ),
        };
        (process, format!("http://{listen}"))
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("log lock").clone()
    }

    /// Returns every stdout line, once the process has exited and its
    /// stdout is read to the end.
    fn all_lines_after_exit(&mut self) -> Vec<String> {
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stdout reader thread");
        }
        self.lines()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.child.id());
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait for hello-ship") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Collects the child's stdout lines into `lines` on a thread, and sends the
/// address of the first `server_started` line.
fn collect_stdout(
    child: &mut Child,
    lines: Arc<Mutex<Vec<String>>>,
) -> (Receiver<String>, JoinHandle<()>) {
    let (sender, receiver) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                if value["message"] == "server_started" {
                    let listen = value["listen"].as_str().unwrap_or_default().to_owned();
                    let _ = sender.send(listen);
                }
            }
            lines.lock().expect("log lock").push(line);
        }
    });
    (receiver, reader)
}

#[test]
fn layout_denies_writes_to_image_user() {
    if !root_or_opted_out() {
        return;
    }
    let layout = ImageLayout::new();
    let output = layout
        .unprivileged(Path::new("/usr/bin/touch"))
        .arg("probe")
        .output()
        .expect("run touch through setpriv");
    assert!(
        !output.status.success(),
        "uid {IMAGE_UID} could write to the working directory, so the read-only checks prove nothing"
    );
    let output = layout
        .unprivileged(Path::new("/usr/bin/id"))
        .arg("-u")
        .output()
        .expect("run id through setpriv");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        IMAGE_UID.to_string()
    );
}

#[tokio::test]
async fn demo_serves_and_drains_as_image_user() {
    if !root_or_opted_out() {
        return;
    }
    let layout = ImageLayout::new();
    let (mut server, base_url) = Process::start(&layout);
    let pid = server.child.id();
    assert_eq!(
        process_ids(pid, "Uid:"),
        [IMAGE_UID; 4],
        "uids of hello-ship"
    );
    assert_eq!(
        process_ids(pid, "Gid:"),
        [IMAGE_GID; 4],
        "gids of hello-ship"
    );

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build HTTP client");

    let health = http.get(format!("{base_url}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "/health");

    let ready = http.get(format!("{base_url}/ready")).send().await.unwrap();
    let ready_status = ready.status();
    let ready_body = ready.text().await.unwrap();
    assert_eq!(ready_status, 200, "/ready: {ready_body}");

    let chat = http
        .post(format!("{base_url}/chat"))
        .json(&json!({"message": "Is the image contract kept?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 200, "/chat");
    let answer: Value = chat.json().await.unwrap();
    let text = answer["answer"].as_str().unwrap_or_default();
    assert!(!text.trim().is_empty(), "/chat answer is empty: {answer}");
    assert_eq!(answer["degraded"], false, "/chat answer: {answer}");
    assert!(answer["request_id"].is_string(), "/chat answer: {answer}");

    server.signal("TERM");
    let status = server
        .wait_exit(Duration::from_secs(40))
        .expect("hello-ship exited within 40 s of SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");

    let mut stderr = String::new();
    if let Some(mut pipe) = server.child.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("read stderr");
    }
    let lines = server.all_lines_after_exit();
    for line in &lines {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "stdout line is not JSON: {line}"
        );
    }
    assert!(
        lines.iter().any(|line| line.contains("\"drain_finished\"")),
        "no drain_finished line; stdout: {lines:?}; stderr: {stderr}"
    );
    let left_behind: Vec<_> = std::fs::read_dir(layout.work_dir())
        .expect("list work dir")
        .collect();
    assert!(left_behind.is_empty(), "files in the working directory");
}

#[test]
fn binary_links_only_runtime_image_libraries() {
    let output = Command::new("readelf")
        .args(["--dynamic", env!("CARGO_BIN_EXE_hello-ship")])
        .output()
        .expect("run readelf; it comes with binutils");
    assert!(output.status.success(), "readelf failed: {output:?}");
    let dynamic = String::from_utf8_lossy(&output.stdout);
    let needed: Vec<&str> = dynamic
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .filter_map(|line| line.split('[').nth(1)?.split(']').next())
        .collect();
    assert!(
        !needed.is_empty(),
        "readelf listed no NEEDED entries: {dynamic}"
    );
    for library in needed {
        assert!(
            RUNTIME_LIBRARIES.contains(&library),
            "hello-ship links {library}, which the distroless cc runtime image lacks; \
             link it statically or change the Dockerfile's runtime stage"
        );
    }
}

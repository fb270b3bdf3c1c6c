//! A fresh Azurite per test (from `AZURITE_BIN`, `./node_modules/.bin/azurite` or `PATH`),
//! on free loopback ports, with its data in a temporary folder; killed when dropped.
//! Shared by the tests that hold spmt to real Azure storage behaviour.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development account key (public, documented by Microsoft).
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub struct Azurite {
    child: Child,
    pub blob: String,
    pub queue: String,
    _dir: tempfile::TempDir,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn azurite_bin() -> String {
    if let Ok(b) = std::env::var("AZURITE_BIN") {
        return b;
    }
    let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/azurite");
    if local.exists() {
        return local.display().to_string();
    }
    "azurite".into()
}

/// Starts Azurite on free loopback ports. Ports are picked before Azurite binds them, so another
/// process may take one meanwhile: an Azurite that exits is started again on new ports. A slow,
/// loaded machine gets a minute to bring it up.
pub fn start_azurite() -> Azurite {
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let (bp, qp, tp) = (free_port(), free_port(), free_port());
        let mut child = Command::new(azurite_bin())
            .args(["--silent", "--skipApiVersionCheck", "--disableProductStyleUrl", "--location"])
            .arg(dir.path())
            .args(["--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1"])
            .args(["--blobPort", &bp.to_string(), "--queuePort", &qp.to_string(), "--tablePort", &tp.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Azurite ({e}); install it with `npm install azurite` or set AZURITE_BIN"));
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", bp)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", qp)).is_ok()
            {
                return Azurite {
                    child,
                    blob: format!("http://127.0.0.1:{bp}/{ACCOUNT}"),
                    queue: format!("http://127.0.0.1:{qp}/{ACCOUNT}"),
                    _dir: dir,
                };
            }
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("Azurite did not start listening (three tries)");
}

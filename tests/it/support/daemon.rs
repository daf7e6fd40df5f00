//! A running `buildmail serve` for the tests: started as a real process
//! with a farm's configuration, ready once its control socket answers
//! `hello`, stopped with SIGTERM.

use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use buildmail::serve::client::{self, Connect};

use super::farm::Farm;

/// A daemon of a farm.
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// Its control socket.
    pub control: PathBuf,
}

impl Daemon {
    /// Starts `buildmail serve <args>` with the farm's configuration and
    /// waits until it answers on its control socket.
    pub fn start(farm: &Farm, args: &[&str]) -> Daemon {
        Daemon::start_with(farm, args, &[])
    }

    /// [`Daemon::start`] with `env` added to its environment.
    pub fn start_with(farm: &Farm, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        let mut cmd = farm.cli(&all);
        for (k, v) in env {
            cmd.env(k, v);
        }
        // BUILDMAIL_TEST_DAEMON_LOG=1 shows what the daemon logs.
        let log = if std::env::var_os("BUILDMAIL_TEST_DAEMON_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let child = cmd.stdout(Stdio::null()).stderr(log).spawn().unwrap();
        let control = farm.cfg.serve.control.clone();
        let start = Instant::now();
        loop {
            if let Connect::Daemon(_) = client::connect(&control, Duration::from_secs(5)) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "serve did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child, control }
    }

    /// Its process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` to it.
    pub fn signal(&self, signal: i32) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.pid(), signal);
        }
    }

    /// SIGTERM, and the exit status.
    pub fn stop(mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.child.wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A test that failed midway leaves no daemon behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

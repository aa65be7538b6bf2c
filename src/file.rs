//! `file:///PATH` with `--max-age`: a heartbeat file that a worker or a
//! scheduler touches from its own loop. Healthy while the file exists, is a
//! regular file, and was modified at most `max_age` ago. One `stat`; the
//! file is never opened, so the probe needs no read permission on it, only
//! on the directories above it.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The default `--max-age`: a heartbeat written every few seconds is
/// fresh, a stopped writer is found within a minute.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

/// How far in the future a modification time may be before it reads as
/// clock trouble rather than a write just now (file systems round times,
/// and a writer on another host's clock is that far off at most).
pub const FUTURE_TOLERANCE: Duration = Duration::from_secs(2);

/// Why a heartbeat file is not fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// Nothing there (or a directory on the way is missing).
    Missing,
    /// Something that is not a regular file: "a directory", "a socket", ….
    NotRegular(&'static str),
    /// The path cannot be looked at: permission, or another error.
    Unreadable(io::ErrorKind, Option<i32>),
    /// Modified longer ago than the limit.
    TooOld { age: Duration, max_age: Duration },
    /// Modified in the future beyond the tolerance: a clock is wrong.
    InTheFuture { ahead: Duration },
}

/// Looks at `path` once, at `now`: its age when fresh.
pub fn check(path: &Path, max_age: Duration, now: SystemTime) -> Result<Duration, Stale> {
    judge(std::fs::metadata(path).map(|m| (kind(&m), m.modified())), max_age, now)
}

/// What the metadata says: the decision without the I/O, for the tests.
pub fn judge(
    looked: io::Result<(Option<&'static str>, io::Result<SystemTime>)>,
    max_age: Duration,
    now: SystemTime,
) -> Result<Duration, Stale> {
    let (not_regular, modified) = match looked {
        Ok(found) => found,
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
            return Err(Stale::Missing)
        }
        Err(e) => return Err(Stale::Unreadable(e.kind(), e.raw_os_error())),
    };
    if let Some(what) = not_regular {
        return Err(Stale::NotRegular(what));
    }
    let modified = modified.map_err(|e| Stale::Unreadable(e.kind(), e.raw_os_error()))?;
    match now.duration_since(modified) {
        Ok(age) if age <= max_age => Ok(age),
        Ok(age) => Err(Stale::TooOld { age, max_age }),
        Err(e) if e.duration() <= FUTURE_TOLERANCE => Ok(Duration::ZERO),
        Err(e) => Err(Stale::InTheFuture { ahead: e.duration() }),
    }
}

/// None for a regular file, else what it is.
fn kind(m: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    match () {
        _ if t.is_file() => None,
        _ if t.is_dir() => Some("a directory"),
        _ if t.is_fifo() => Some("a FIFO"),
        _ if t.is_socket() => Some("a socket"),
        _ if t.is_block_device() || t.is_char_device() => Some("a device"),
        _ => Some("not a regular file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn at(modified: SystemTime, now: SystemTime) -> Result<Duration, Stale> {
        judge(Ok((None, Ok(modified))), MINUTE, now)
    }

    #[test]
    fn fresh_old_and_future() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(at(now, now), Ok(Duration::ZERO));
        assert_eq!(at(now - MINUTE, now), Ok(MINUTE));
        let age = MINUTE + Duration::from_millis(1);
        assert_eq!(at(now - age, now), Err(Stale::TooOld { age, max_age: MINUTE }));
        assert_eq!(at(now + FUTURE_TOLERANCE, now), Ok(Duration::ZERO));
        let ahead = FUTURE_TOLERANCE + Duration::from_millis(1);
        assert_eq!(at(now + ahead, now), Err(Stale::InTheFuture { ahead }));
    }

    #[test]
    fn what_is_there() {
        let now = SystemTime::now();
        assert_eq!(judge(Ok((Some("a directory"), Ok(now))), MINUTE, now), Err(Stale::NotRegular("a directory")));
        let gone = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(judge(Err(gone), MINUTE, now), Err(Stale::Missing));
        let denied = io::Error::from_raw_os_error(13);
        assert_eq!(judge(Err(denied), MINUTE, now), Err(Stale::Unreadable(io::ErrorKind::PermissionDenied, Some(13))));
    }

    #[test]
    fn real_files() {
        let dir = std::env::temp_dir().join(format!("healthprobe-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let beat = dir.join("beat");
        std::fs::write(&beat, b"").unwrap();
        let now = SystemTime::now();
        assert!(check(&beat, MINUTE, now).is_ok_and(|age| age < MINUTE));
        assert!(matches!(check(&beat, MINUTE, now + 2 * MINUTE), Err(Stale::TooOld { .. })));
        assert_eq!(check(&dir, MINUTE, now), Err(Stale::NotRegular("a directory")));
        assert_eq!(check(&dir.join("none"), MINUTE, now), Err(Stale::Missing));
        assert_eq!(check(&beat.join("below-a-file"), MINUTE, now), Err(Stale::Missing));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

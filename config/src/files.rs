//! Reading the files a configuration or a command line names — the
//! configuration itself, definitions, contexts, mock files — at most a
//! bound's worth: `/dev/zero` or a runaway file is refused at the bound
//! instead of read into memory whole (`--config /dev/zero` had grown to
//! 9.4 GB before the size check that follows reading).

use std::io::Read;
use std::path::Path;

/// Definitions: AWS's 1,048,576 characters, at four bytes each at most.
pub const MAX_DEFINITION_FILE_BYTES: usize = 4 << 20;
/// Contexts, MockConfigFiles and other JSON a command reads beside its
/// definition: far beyond any real one.
pub const MAX_SIDE_FILE_BYTES: usize = 64 << 20;

/// The text of `path` (`-`: standard input), refused past `max` bytes
/// without reading further. The error does not name the path: callers do.
pub fn read_text_at_most(path: &Path, max: usize) -> Result<String, String> {
    let mut bytes = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let read = if path.as_os_str() == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    read.map_err(|e| e.to_string())?;
    if bytes.len() > max {
        return Err(format!("larger than {max} bytes"));
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_is_refused_at_the_bound() {
        let refused = read_text_at_most(Path::new("/dev/zero"), 1 << 20).expect_err("endless");
        assert_eq!(refused, "larger than 1048576 bytes");
        let dir = std::env::temp_dir().join(format!("expressway-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("small.json");
        std::fs::write(&file, "{}").expect("write");
        assert_eq!(read_text_at_most(&file, 2).expect("at the bound"), "{}");
        assert!(read_text_at_most(&file, 1).is_err(), "one byte past it");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

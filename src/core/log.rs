//! The worker's own log lines (mediasoup's `logLevel` / `logTags`): the engine decides what to
//! log, the facade prints it through `debug` under `mediasoup:worker[…]`.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    None = 0,
    Error = 1,
    Warn = 2,
    Debug = 3,
}

impl LogLevel {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "error" => Self::Error,
            "warn" => Self::Warn,
            "debug" => Self::Debug,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Debug => "debug",
        }
    }
}

/// Which lines pass: errors always (unless `none`), warnings and debug lines by level, and
/// debug lines only for the enabled tags (as mediasoup's worker).
#[derive(Debug, Clone)]
pub struct LogFilter {
    pub level: LogLevel,
    pub tags: Vec<String>,
}

impl Default for LogFilter {
    fn default() -> Self {
        Self {
            level: LogLevel::Error,
            tags: Vec::new(),
        }
    }
}

impl LogFilter {
    pub fn enabled(&self, level: LogLevel, tag: &str) -> bool {
        match level {
            LogLevel::None => false,
            LogLevel::Error | LogLevel::Warn => level <= self.level,
            LogLevel::Debug => self.level >= LogLevel::Debug && self.tags.iter().any(|t| t == tag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_by_level_and_tag() {
        let f = LogFilter {
            level: LogLevel::Debug,
            tags: vec!["ice".into()],
        };
        assert!(f.enabled(LogLevel::Debug, "ice"));
        assert!(!f.enabled(LogLevel::Debug, "dtls"));
        assert!(f.enabled(LogLevel::Warn, "dtls"));
        let f = LogFilter {
            level: LogLevel::Error,
            tags: vec!["ice".into()],
        };
        assert!(!f.enabled(LogLevel::Warn, "ice"));
        assert!(f.enabled(LogLevel::Error, "ice"));
        let f = LogFilter {
            level: LogLevel::None,
            tags: vec![],
        };
        assert!(!f.enabled(LogLevel::Error, "x"));
    }
}

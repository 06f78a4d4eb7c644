//! Environment overrides of the common pool keys (`SNAKEPIT_POOL_<NAME>_<KEY>`): they win
//! over the file, and a bad value fails naming the variable.

use std::path::Path;
use std::time::Duration;

use snakepit::Affinity;

use super::parse_with;

#[test]
fn environment_overrides_win_over_the_file() {
    let text = "[pools.web-api]\nsize = 2\ncall_timeout = \"30s\"\n[pools.web-api.adapter]\npython = \"/usr/bin/python3\"\n";
    let config = parse_with(
        text,
        &[
            ("SNAKEPIT_POOL_WEB_API_SIZE", "5"),
            ("SNAKEPIT_POOL_WEB_API_CALL_TIMEOUT", "2s"),
            ("SNAKEPIT_POOL_WEB_API_QUEUE_TIMEOUT", "100ms"),
            ("SNAKEPIT_POOL_WEB_API_STARTUP_TIMEOUT", "9s"),
            ("SNAKEPIT_POOL_WEB_API_MAX_QUEUE", "7"),
            ("SNAKEPIT_POOL_WEB_API_AFFINITY", "strict_fail_fast"),
            ("SNAKEPIT_POOL_WEB_API_PROFILE", "concurrent"),
            ("SNAKEPIT_POOL_WEB_API_CAPACITY", "4"),
            ("SNAKEPIT_POOL_WEB_API_MAX_RETRIES", "0"),
            ("SNAKEPIT_POOL_WEB_API_PYTHON", "/opt/py/bin/python"),
            ("SNAKEPIT_POOL_OTHER_SIZE", "9"),
        ],
    )
    .unwrap();
    let (_, table) = config.pool(None).unwrap();
    let pool = table.pool_config();
    assert_eq!(pool.size, 5);
    assert_eq!(pool.call_timeout, Duration::from_secs(2));
    assert_eq!(pool.queue_timeout, Duration::from_millis(100));
    assert_eq!(pool.startup_timeout, Duration::from_secs(9));
    assert_eq!(pool.max_queue, 7);
    assert_eq!(pool.affinity, Affinity::StrictFailFast);
    assert_eq!(pool.profile, snakepit::Profile::concurrent(4));
    assert_eq!(pool.retry.max_retries, 0);
    assert_eq!(
        table.adapter.python.as_ref().unwrap().get_ref(),
        Path::new("/opt/py/bin/python")
    );
    assert_eq!(config.overrides.len(), 10);
    assert!(
        config
            .overrides
            .contains(&"SNAKEPIT_POOL_WEB_API_SIZE=5".to_owned())
    );

    for (variable, value) in [
        ("SNAKEPIT_POOL_WEB_API_SIZE", "0"),
        ("SNAKEPIT_POOL_WEB_API_CALL_TIMEOUT", "soon"),
        ("SNAKEPIT_POOL_WEB_API_AFFINITY", "sticky"),
        ("SNAKEPIT_POOL_WEB_API_PROFILE", "threads"),
        ("SNAKEPIT_POOL_WEB_API_CAPACITY", "0"),
    ] {
        let err = parse_with(text, &[(variable, value)]).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("${variable}: pools.web-api.")),
            "{message}"
        );
        assert_eq!(err.line(), None);
    }
    // A capacity from the environment beside the file's process profile is refused.
    let err = parse_with(text, &[("SNAKEPIT_POOL_WEB_API_CAPACITY", "4")]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("$SNAKEPIT_POOL_WEB_API_CAPACITY: pools.web-api.profile")
            && message.contains("concurrent"),
        "{message}"
    );
}

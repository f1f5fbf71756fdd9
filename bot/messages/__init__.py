"""Pure Block Kit builders, `(data) -> {"text": fallback, "blocks": [...]}`: `common` (help,
errors, snapshot tables, maintenance and cluster status), `jobs`, `restore`, `daily`."""

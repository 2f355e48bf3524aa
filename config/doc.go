// Package config holds every setting of a Herald node and the rules for
// where each value comes from.
//
// Invariants:
//
//   - Precedence is fixed: built-in defaults < config file < environment
//     (HERALD_ADMIN_TOKEN only) < command-line flags. A flag or variable that
//     is not given never overrides anything.
//   - Unknown keys in the file are refused, because a misspelt key that is
//     silently ignored leaves a production node running on a default the
//     operator believes they changed.
//   - config.example.toml at the repository root lists every key at its
//     default; a test loads it and compares it with Default, so the two cannot
//     drift apart.
//   - The admin token is a secret: no error or usage text produced here ever
//     contains it, including TOML syntax errors on the admin_token line.
//   - The package only reads: it never writes files, generates node ids or
//     tokens, or touches the data directory. The caller does that.
package config

// Package config loads keepalived.conf, the configuration format of ulvs.
//
// The grammar, keywords, aliases and defaults are keepalived's
// (keepalived.conf(5), lib/parser.c, check_parser.c, global_parser.c), so
// an existing keepalived.conf runs unchanged. Loading has three stages,
// each reusable by later keywords:
//
//   - a lexer (lex) that applies keepalived's lexical rules: '#' and '!'
//     comments, double-quoted strings, trailing-backslash continuation,
//     and '{' '}' as tokens wherever they appear outside quotes;
//   - a reader that splices include files (glob and csh brace patterns,
//     relative to the including file, with loop, depth and size limits)
//     and handles "@id" conditional lines;
//   - a tree builder (buildTree) that folds lines into Nodes, accepting
//     '{' at the end of the keyword line or alone on the next line;
//   - per-block keyword tables (table) that decode Nodes into typed
//     values, with aliases (lb_algo = lvs_sched, lb_kind = lvs_method).
//
// Unknown keywords are warnings, and the statement is skipped together
// with its whole block (keepalived would parse the block's lines at the
// current level). Blocks keepalived knows but ulvs does not interpret yet
// (vrrp_instance, vrrp_script, checkers such as TCP_CHECK, ...) are kept
// as Nodes on the Config without warnings. Options.Strict makes every
// warning an error.
//
// # Preprocessor features
//
// "@id line" and "@^id line" conditionals are supported (Options.ConfigID,
// default the host name up to its first dot). Parameter definitions
// ($NAME=VALUE) and ~SEQ line replication are rejected with an error
// that says so; without definitions keepalived substitutes nothing, so a
// '$' elsewhere is literal, as it is for ulvs.
//
// # The ulvs block
//
// ulvs-only settings live in a top-level "ulvs { ... }" block (see ULVS),
// which keepalived reports as unknown and otherwise ignores. docs/config.md
// lists every supported keyword and default.
package config

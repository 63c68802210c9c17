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
//     relative to the including file, with loop, depth and size limits;
//     includer/includem/includew/includeb/includea check what keepalived's
//     do) and runs keepalived's line preprocessor (define.go);
//   - a tree builder (buildTree) that folds lines into Nodes, accepting
//     '{' at the end of the keyword line or alone on the next line;
//   - per-block keyword tables (table) that decode Nodes into typed
//     values, with aliases (lb_algo = lvs_sched, lb_kind = lvs_method).
//
// Unknown keywords are warnings, and the statement is skipped together
// with its whole block (keepalived would parse the block's lines at the
// current level). Keywords keepalived knows but ulvs does not act on are
// accepted with an "accepted but ignored" warning and kept as Nodes
// (Extra, Blocks) for the stages that may give them behaviour; checker
// blocks ulvs does not run are listed in RealHealth.Unsupported.
// Options.Strict makes every warning an error.
//
// # Preprocessor features
//
// "@id line" and "@^id line" conditionals (Options.ConfigID, default the
// host name up to its first dot), "$NAME=VALUE" definitions used as
// $NAME or ${NAME} (multi-line values with trailing backslashes), the
// predefined _PWD, _HASH and _BANG, and ~SEQ / ~SEQx line replication
// behave as in keepalived's lib/parser.c, with bounds on what they can
// expand to. ~LST is refused with an error that says so.
//
// # The ulvs block
//
// ulvs-only settings live in a top-level "ulvs { ... }" block (see ULVS),
// which keepalived reports as unknown and otherwise ignores. docs/config.md
// lists every supported keyword and default.
package config
